// Package tokens is the broker's static bearer tokens: a file that maps
// each token's SHA-256 hash to the principal it authenticates, so that the
// file holds no token itself. One line per token:
//
//	# comments and blank lines are ignored
//	User:alice sha256:2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
//
// A client sends the token itself, as gRPC metadata
// "authorization: Bearer TOKEN". The file is read again when it changes,
// so that tokens are added and revoked without a restart.
package tokens
