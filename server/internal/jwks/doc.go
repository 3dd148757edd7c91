// Package jwks verifies JSON Web Tokens against an identity provider's
// key set (JWKS), for brokers in OIDC setups: the provider signs tokens,
// and a client presents one as a bearer token. A token is taken when its
// signature verifies with a key of the set (by its kid, asymmetric
// algorithms only), it has not expired nor is it used before its nbf,
// and its issuer and audience are the ones configured; its principal is
// "User:" and the configured claim (sub by default). go-jose does the
// JOSE.
//
// The set comes from a file saved beside the broker, read again when it
// changes (package filewatch), or from the provider's jwks_uri over
// https: fetched at start, again every Refresh in the background (the
// last set serves meanwhile), and at once for a token whose kid the set
// lacks, at most once per 10 s. A fetch that fails keeps the last good
// set; a provider down at start leaves JWTs refused until a fetch works.
package jwks
