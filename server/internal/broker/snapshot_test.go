package broker

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"
)

func startTestBroker(t *testing.T, dir string) *Broker {
	t.Helper()
	br, err := New(Config{DataDir: dir, RetentionCheckInterval: time.Minute, InternalSnapshotEntries: 5,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := br.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return br
}

// TestLiveMetadataRestoreActs restores metadata snapshots into a running
// broker, as a follower installs its leader's: the partitions of a topic
// the snapshot lacks are deleted, those of a topic it has are opened, and
// the catalog is the snapshot's.
func TestLiveMetadataRestoreActs(t *testing.T) {
	br := startTestBroker(t, t.TempDir())
	defer br.Close()
	ctx := context.Background()
	if _, err := br.CreateTopic(ctx, "x", 1, 1, nil); err != nil {
		t.Fatal(err)
	}
	withX, err := br.catalog.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := br.CreateTopic(ctx, "y", 2, 1, nil); err != nil {
		t.Fatal(err)
	}
	withXY, err := br.catalog.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if br.store.Partition("y-1") == nil {
		t.Fatal("y-1 is not open")
	}

	if err := br.restoreMetadata(withX); err != nil {
		t.Fatal(err)
	}
	if _, err := br.catalog.Topic("y"); err == nil {
		t.Fatal("y is in the catalog after restoring a snapshot without it")
	}
	if br.store.Partition("y-0") != nil || br.store.Partition("y-1") != nil || br.store.Partition("x-0") == nil {
		t.Fatalf("after restoring a snapshot without y: y-0 %v, y-1 %v, x-0 %v",
			br.store.Partition("y-0"), br.store.Partition("y-1"), br.store.Partition("x-0"))
	}
	if names, _ := br.store.PartitionNames(); len(names) != 6 { // x-0, the metadata and 4 offsets partitions
		t.Fatalf("partitions on disk %v", names)
	}

	if err := br.restoreMetadata(withXY); err != nil {
		t.Fatal(err)
	}
	if br.store.Partition("y-0") == nil || br.store.Partition("y-1") == nil {
		t.Fatal("y's partitions are not open after restoring a snapshot with it")
	}
}
