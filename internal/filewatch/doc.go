// Package filewatch keeps material read from files fresh without a
// restart: TLS certificates and CA bundles, the token file, a JWKS. An
// operator rotates a file (cert-manager, a Kubernetes secret's symlink
// swap, a cp or a rename over it) and the process uses the new content
// from the next use on.
//
// Freshness is checked on use, not by a watcher: Get looks at the files'
// size, modification time and identity (device and inode, so a rename
// over a file counts) at most once per Interval, and reads them again
// when any changed. A reload that fails (a key that does not match its
// certificate, as when a rotation wrote one file and not yet the other;
// a file missing; garbage) keeps the last good content and logs a
// warning once per state of the files; the next change is tried again.
// The stamp is taken before the read, so a file changed while it is read
// is read again at the next check.
package filewatch
