package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"

	"google.golang.org/grpc/credentials"

	"github.com/runnel-broker/runnel/internal/tlsfiles"
)

// brokerTLS is the broker's TLS material (Config's TLS files), read
// again when the files change; nil when TLS is off.
type brokerTLS struct {
	pair *tlsfiles.KeyPair
	// clientCAs verify client certificates on the client gRPC and HTTP
	// listeners; nil: none asked for.
	clientCAs *tlsfiles.CAs
	// peerCAs verify the brokers' certificates, on the peer listener and
	// when dialling one; nil: none asked for, the system's roots trusted.
	peerCAs *tlsfiles.CAs
}

// loadTLS reads the files cfg names; its errors name the flag at fault.
func loadTLS(cfg Config, logger *slog.Logger) (*brokerTLS, error) {
	if cfg.TLSCertFile == "" {
		return nil, nil
	}
	t := &brokerTLS{}
	var err error
	if t.pair, err = tlsfiles.LoadKeyPair(cfg.TLSCertFile, cfg.TLSKeyFile, logger); err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	if cfg.TLSClientCAFile != "" {
		if t.clientCAs, err = tlsfiles.LoadCAs(cfg.TLSClientCAFile, logger); err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
	}
	peerFlag := "--tls-peer-ca"
	switch {
	case cfg.TLSPeerCAFile != "":
		if t.peerCAs, err = tlsfiles.LoadCAs(cfg.TLSPeerCAFile, logger); err != nil {
			return nil, fmt.Errorf("--tls-peer-ca: %w", err)
		}
	case t.clientCAs != nil:
		t.peerCAs, peerFlag = t.clientCAs, "--tls-client-ca (no --tls-peer-ca)"
	}
	if t.peerCAs != nil {
		// NB: the other brokers verify this one's certificate against the
		// same bundle: better refused here, with the reason, than by each
		// of them in a log line of theirs.
		cert := t.pair.Certificate()
		inter := x509.NewCertPool()
		for _, der := range cert.Certificate[1:] {
			if c, err := x509.ParseCertificate(der); err == nil {
				inter.AddCert(c)
			}
		}
		if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: t.peerCAs.Pool(), Intermediates: inter,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
			return nil, fmt.Errorf("--tls-cert %s does not verify against %s, which the brokers verify each other's with: %w",
				cfg.TLSCertFile, peerFlag, err)
		}
		for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth} {
			if _, err := cert.Leaf.Verify(x509.VerifyOptions{Roots: t.peerCAs.Pool(), Intermediates: inter,
				KeyUsages: []x509.ExtKeyUsage{u}}); err != nil {
				return nil, fmt.Errorf("--tls-cert %s: a broker's certificate must allow both server and client authentication (it is presented to the brokers it dials): %w",
					cfg.TLSCertFile, err)
			}
		}
	}
	return t, nil
}

// clientCreds are the client gRPC listener's: the broker's certificate,
// client certificates verified against the client CAs if any.
func (t *brokerTLS) clientCreds() credentials.TransportCredentials {
	if t == nil {
		return nil
	}
	return credentials.NewTLS(tlsfiles.ServerConfig(t.pair, t.clientCAs))
}

// peerCreds are the peer listener's: the broker's certificate, the
// dialling broker's verified against the peer CAs if any.
func (t *brokerTLS) peerCreds() credentials.TransportCredentials {
	if t == nil {
		return nil
	}
	return credentials.NewTLS(tlsfiles.ServerConfig(t.pair, t.peerCAs))
}

// dialCreds are what the broker dials the others' peer listeners with:
// their certificates verified against the peer CAs, its own presented.
func (t *brokerTLS) dialCreds() credentials.TransportCredentials {
	if t == nil {
		return nil
	}
	return credentials.NewTLS(tlsfiles.ClientConfig(t.peerCAs, t.pair, ""))
}

// httpConfig is the HTTP listener's config (nil: plaintext), as the
// client gRPC listener's.
func (t *brokerTLS) httpConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return tlsfiles.ServerConfig(t.pair, t.clientCAs, "h2", "http/1.1")
}

// tlsMode says how the listeners are secured, for the serving log line.
func (s *Server) tlsMode() string {
	switch {
	case s.tls == nil:
		return "off"
	case s.tls.clientCAs != nil:
		return "mtls"
	}
	return "on"
}
