// Package tlsfiles loads TLS material from PEM files, a certificate and
// its key and CA bundles, and keeps it fresh (package filewatch): a
// certificate rotated on disk (cert-manager, a Kubernetes secret's
// symlink swap, an operator's cp) is served from the next handshake on,
// without a restart, and a rotation half done keeps the last good pair.
//
// NB: what the server verifies its peers with (ServerConfig's client
// CAs) is reloaded too, on every handshake's config; what a client
// trusts (ClientConfig's roots) is read once, when the config is made:
// crypto/tls takes RootCAs as a value, and a client restarts more
// readily than a broker. A client's own certificate is reloaded.
//
// Configs are TLS 1.2 at least, Go's defaults otherwise (cipher suites,
// curves, session tickets).
package tlsfiles
