package broker

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-broker/runnel/internal/golden"
)

func mustReadFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenDataDirMarkers has a broker decide to rejoin (Config.Rejoin)
// and checks the files it writes in its data directory before it opens
// anything: cluster.id, the id of the cluster joined, and rejoining, an
// empty marker. A data directory holding the golden files belongs to that
// cluster and rejoins.
func TestGoldenDataDirMarkers(t *testing.T) {
	dir := t.TempDir()
	b := &Broker{cfg: Config{DataDir: dir, Rejoin: true, JoinedClusterID: "4f1c-cluster"},
		logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
	if err := b.markRejoining(context.Background()); err != nil {
		t.Fatal(err)
	}
	id := golden.Check(t, "cluster_id.golden", mustReadFile(t, filepath.Join(dir, clusterIDFile)))
	rejoin := golden.Check(t, "rejoining.golden", mustReadFile(t, filepath.Join(dir, rejoiningFile)))

	rdir := t.TempDir()
	for name, data := range map[string][]byte{clusterIDFile: id, rejoiningFile: rejoin} {
		if err := os.WriteFile(filepath.Join(rdir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := StoredClusterID(rdir); err != nil || got != "4f1c-cluster" {
		t.Fatalf("StoredClusterID = %q, %v; want 4f1c-cluster", got, err)
	}
	r := &Broker{cfg: Config{DataDir: rdir}}
	if err := r.markRejoining(context.Background()); err != nil || !r.rejoining {
		t.Fatalf("a data directory with the golden rejoining marker: rejoining %v, %v", r.rejoining, err)
	}
}
