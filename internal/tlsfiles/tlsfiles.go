package tlsfiles

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/runnel-broker/runnel/internal/filewatch"
)

// KeyPair is a certificate (chain) and its private key in two PEM files,
// re-read when either changes.
type KeyPair struct {
	w *filewatch.File[*tls.Certificate]
}

// LoadKeyPair reads the certificate and key files. Its error names the
// file at fault; a certificate that has expired or is not valid yet is
// an error too (every handshake would fail).
func LoadKeyPair(certFile, keyFile string, logger *slog.Logger) (*KeyPair, error) {
	w, err := filewatch.Watch("tls", []string{certFile, keyFile}, func() (*tls.Certificate, error) {
		return readKeyPair(certFile, keyFile)
	}, logger)
	if err != nil {
		return nil, err
	}
	return &KeyPair{w: w}, nil
}

// Certificate returns the pair last read well, reading the files again
// first if they changed (at most once per filewatch.Interval).
func (k *KeyPair) Certificate() *tls.Certificate { return k.w.Get() }

// Check says whether the pair in use is the files' (nil), or why they
// do not load (filewatch.File.Check).
func (k *KeyPair) Check() error { return k.w.Check() }

func readKeyPair(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("key file: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certificate file %s with key file %s: %w", certFile, keyFile, err)
	}
	// NB: X509KeyPair fills Leaf (Go 1.23 on).
	if now := time.Now(); now.After(cert.Leaf.NotAfter) {
		return nil, fmt.Errorf("certificate file %s: the certificate expired at %s", certFile, cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
	} else if now.Before(cert.Leaf.NotBefore) {
		return nil, fmt.Errorf("certificate file %s: the certificate is not valid before %s", certFile, cert.Leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

// CAs is a bundle of CA certificates in a PEM file, re-read when it
// changes.
type CAs struct {
	w *filewatch.File[*x509.CertPool]
}

// LoadCAs reads a PEM file of one or more CA certificates.
func LoadCAs(file string, logger *slog.Logger) (*CAs, error) {
	w, err := filewatch.Watch("tls", []string{file}, func() (*x509.CertPool, error) { return readCAs(file) }, logger)
	if err != nil {
		return nil, err
	}
	return &CAs{w: w}, nil
}

// Pool returns the bundle last read well, reading the file again first
// if it changed (at most once per filewatch.Interval).
func (c *CAs) Pool() *x509.CertPool { return c.w.Get() }

// Check says whether the bundle in use is the file's (nil), or why it
// does not load (filewatch.File.Check).
func (c *CAs) Check() error { return c.w.Check() }

func readCAs(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("CA file %s: certificate %d: %w", file, n+1, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// ServerConfig returns a server's config: TLS 1.2 at least, the pair's
// current certificate on every handshake, and, with clientCAs, client
// certificates required and verified against its current bundle (mTLS).
// nextProtos are the ALPN protocols offered (gRPC's credentials add h2
// themselves; an HTTP server wants "h2", "http/1.1").
func ServerConfig(pair *KeyPair, clientCAs *CAs, nextProtos ...string) *tls.Config {
	// NB: a config per handshake rather than GetCertificate alone, so
	// that the client CAs are fresh too; the outer config's session
	// ticket keys carry over to it (crypto/tls).
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: nextProtos,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := &tls.Config{
				MinVersion:   tls.VersionTLS12,
				NextProtos:   nextProtos,
				Certificates: []tls.Certificate{*pair.Certificate()},
			}
			if clientCAs != nil {
				c.ClientAuth = tls.RequireAndVerifyClientCert
				c.ClientCAs = clientCAs.Pool()
			}
			return c, nil
		},
	}
}

// ClientConfig returns a client's config: TLS 1.2 at least, trusting
// roots (nil: the system's), presenting pair's current certificate when
// the server asks for one (nil: none), and verifying the server's
// certificate for serverName ("": the host dialled).
func ClientConfig(roots *CAs, pair *KeyPair, serverName string) *tls.Config {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if roots != nil {
		c.RootCAs = roots.Pool()
	}
	if pair != nil {
		// NB: always the pair, even when the server's acceptable CAs do
		// not name its issuer (where Certificates would send nothing):
		// the server's refusal then says why.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return pair.Certificate(), nil
		}
	}
	return c
}
