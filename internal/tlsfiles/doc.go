// Package tlsfiles loads TLS material from PEM files, a certificate and
// its key and CA bundles, and keeps it fresh: a certificate rotated on
// disk (cert-manager, a Kubernetes secret's symlink swap, an operator's
// cp) is served from the next handshake on, without a restart.
//
// Freshness is checked on use, not by a watcher: a handshake that needs
// the material looks at the files' size, modification time and identity
// (device and inode, so a rename over the file counts) at most once per
// CheckInterval, and re-reads them when any changed. A reload that fails
// (a key that does not match the certificate, as when a rotation wrote
// one file and not yet the other; a file missing; garbage) keeps the
// last good material and logs a warning once per state of the files;
// the next change is tried again. The stamp is taken before the read, so
// a file changed while it is read is read again at the next check.
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
