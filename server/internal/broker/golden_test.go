package broker

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
)

// update rewrites testdata/*.golden from the code instead of checking the
// code against them: go test -run Golden -update ./server/internal/broker/
// A diff in a golden file is a change of what a data directory holds (see
// raftstore/internal/segment/doc.go, Golden files).
var update = flag.Bool("update", false, "rewrite testdata/*.golden instead of comparing with them")

// checkGolden compares got with testdata/name, or writes it there with -update.
func checkGolden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: the format changed: wrote %q, the golden file holds %q\n"+
			"(if the change is deliberate, run go test -update and review the diff)", path, got, want)
	}
	return want
}

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
	id := checkGolden(t, "cluster_id.golden", mustReadFile(t, filepath.Join(dir, clusterIDFile)))
	rejoin := checkGolden(t, "rejoining.golden", mustReadFile(t, filepath.Join(dir, rejoiningFile)))

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
