package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/runnel-broker/runnel/internal/buildinfo"
)

// ReadyInfo is the ready file's content (Config.ReadyFile), one JSON
// object:
//
//	{"grpc":"127.0.0.1:41351","peer":"127.0.0.1:36915","http":"127.0.0.1:43583",
//	 "node_id":1,"cluster_id":"5f0c…","version":"v0.4.0","pid":4242}
//
// The names are the "runnel serving" log line's (and the listen flags':
// --listen is grpc, --peer-listen peer, --http-listen http); the addresses
// are the bound ones, ports chosen for 127.0.0.1:0 included.
type ReadyInfo struct {
	GRPC      string `json:"grpc"`
	Peer      string `json:"peer"`
	HTTP      string `json:"http"`
	NodeID    int32  `json:"node_id"`
	ClusterID string `json:"cluster_id"`
	Version   string `json:"version"`
	// PID is the broker's process id: a file left behind by a killed
	// broker names a process that is gone.
	PID int `json:"pid"`
}

func (s *Server) readyInfo() ReadyInfo {
	return ReadyInfo{
		GRPC:      s.Addr().String(),
		Peer:      s.PeerAddr().String(),
		HTTP:      s.HTTPAddr().String(),
		NodeID:    s.cfg.NodeID,
		ClusterID: s.broker.ClusterID(),
		Version:   buildinfo.Read().String(),
		PID:       os.Getpid(),
	}
}

// writeReadyFile writes info to path atomically: into a temporary file
// beside it, then renamed over it, so that a reader sees no file or the
// whole of it, never a part. An empty path writes nothing.
func writeReadyFile(path string, info ReadyInfo) error {
	if path == "" {
		return nil
	}
	data, err := json.Marshal(info)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write ready file: %w", err)
	}
	_, err = tmp.Write(append(data, '\n'))
	// NB: 0644 rather than CreateTemp's 0600: a probe may run as another
	// user; the file holds nothing secret.
	err = errors.Join(err, tmp.Chmod(0o644), tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write ready file %s: %w", path, err)
	}
	return nil
}

// removeReadyFile removes the ready file, if there is one.
func removeReadyFile(path string) error {
	if path == "" {
		return nil
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove ready file: %w", err)
	}
	return nil
}
