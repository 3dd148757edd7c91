// Package testcerts is for tests only: it makes real X.509 material at
// test time, so that TLS is tested over real handshakes rather than
// mocked. A test makes a CA (NewCA) and has it issue a broker's
// certificate (SANs 127.0.0.1, ::1 and localhost, usable as server and
// as client, as a broker dialling another presents its own), a client's,
// an expired one; another CA's certificates are the ones a verifier
// must refuse. Keys are ECDSA P-256, made in microseconds; files are
// written as PEM (keys as PKCS #8), as operators' tools write them.
package testcerts
