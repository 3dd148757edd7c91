// Package jwks verifies JSON Web Tokens against a JWKS file, for brokers
// in OIDC setups: an identity provider signs tokens, its published key set
// is saved as a file beside the broker (and rotated there), and a client
// presents a token as a bearer token. A token is taken when its signature
// verifies with a key of the set (by its kid), it has not expired nor is
// it used before its nbf, and its issuer and audience are the ones
// configured; its principal is "User:" and the configured claim (sub by
// default). The file is looked at again at most once a second, and
// re-read when it changed, keeping the last good set if it does not
// parse. go-jose does the JOSE.
package jwks
