package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReadyFile hands the server bound listeners and checks that it
// serves on them, that the ready file names them once it serves, that
// one left by an earlier run is gone as soon as it starts, and that
// shutdown removes it.
func TestReadyFile(t *testing.T) {
	var given [3]net.Listener // client, peer, HTTP
	for i := range given {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		given[i] = lis
	}
	readyFile := filepath.Join(t.TempDir(), "ready.json")
	if err := os.WriteFile(readyFile, []byte(`{"grpc":"stale"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	b := startBrokerWith(t, "", func(c *Config) {
		c.Listener, c.PeerListener, c.HTTPListener = given[0], given[1], given[2]
		c.ReadyFile = readyFile
	})
	var data []byte
	waitFor(t, 10*time.Second, "the ready file", func() error {
		var err error
		data, err = os.ReadFile(readyFile)
		return err
	})
	var got ReadyInfo
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("ready file %q: %v", data, err)
	}
	want := ReadyInfo{GRPC: given[0].Addr().String(), Peer: given[1].Addr().String(), HTTP: given[2].Addr().String(),
		NodeID: 1, ClusterID: b.srv.broker.ClusterID(), Version: got.Version, PID: os.Getpid()}
	if got != want || got.Version == "" || got.ClusterID == "" {
		t.Fatalf("ready file %+v, want %+v", got, want)
	}
	if b.srv.Addr().String() != want.GRPC || b.srv.PeerAddr().String() != want.Peer || b.srv.HTTPAddr().String() != want.HTTP {
		t.Fatalf("serving on %s, %s, %s; want the listeners given", b.srv.Addr(), b.srv.PeerAddr(), b.srv.HTTPAddr())
	}
	b.stop()
	if _, err := os.Stat(readyFile); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ready file after shutdown: %v", err)
	}
}

// TestNewClosesGivenListeners: a configuration New refuses still closes
// the listeners handed to it, as it would have on shutdown.
func TestNewClosesGivenListeners(t *testing.T) {
	var given [3]net.Listener
	for i := range given {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		given[i] = lis
	}
	_, err := New(t.Context(), Config{DataDir: t.TempDir(), NodeID: -1,
		Listener: given[0], PeerListener: given[1], HTTPListener: given[2]})
	if err == nil {
		t.Fatal("New with node id -1 succeeded")
	}
	for i, lis := range given {
		if _, err := lis.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("listener %d: Accept = %v, want it closed", i, err)
		}
	}
}

// TestReadyFileUnwritable: a broker that cannot write its ready file
// stops, and Serve says why, rather than serve where nobody waiting for
// the file would know.
func TestReadyFileUnwritable(t *testing.T) {
	srv, err := New(t.Context(), Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", PeerListen: "127.0.0.1:0",
		HTTPListen: "127.0.0.1:0", ReadyFile: filepath.Join(t.TempDir(), "missing", "ready.json"),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	select {
	case err := <-served:
		if err == nil || !strings.Contains(err.Error(), "write ready file") {
			t.Fatalf("Serve: %v, want it to fail writing the ready file", err)
		}
	case <-time.After(30 * time.Second):
		srv.Shutdown(context.Background())
		t.Fatal("Serve still serving 30s after failing to write its ready file")
	}
}

// TestNoReadyFileAfterShutdown: a broker shut down before it served (a
// SIGTERM just after start) never writes its ready file, so none names a
// broker that is gone.
func TestNoReadyFileAfterShutdown(t *testing.T) {
	readyFile := filepath.Join(t.TempDir(), "ready.json")
	srv, err := New(t.Context(), Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", PeerListen: "127.0.0.1:0",
		HTTPListen: "127.0.0.1:0", ReadyFile: readyFile, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
	if _, err := os.Stat(readyFile); !os.IsNotExist(err) {
		t.Fatalf("ready file after shutdown: %v, want none", err)
	}
}
