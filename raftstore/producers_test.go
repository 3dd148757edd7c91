package raftstore

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// produce submits a batch of an idempotent producer and waits for it.
func produce(p *Partition, id int64, epoch int32, seq int64, payload string, records uint32) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	now := time.Now().UnixMilli()
	h := BatchHeader{RecordCount: records, FirstTimestamp: now, MaxTimestamp: now, ProducerID: id, ProducerEpoch: epoch, BaseSequence: seq}
	pr, err := p.Submit(ctx, h, append(NewBatch(len(payload)), payload...), SubmitOptions{})
	if err != nil {
		return 0, err
	}
	return pr.Wait(ctx)
}

func mustProduce(t *testing.T, p *Partition, id int64, epoch int32, seq int64, payload string, records uint32) int64 {
	t.Helper()
	off, err := produce(p, id, epoch, seq, payload, records)
	if err != nil {
		t.Fatalf("produce %q (producer %d, epoch %d, sequence %d): %v", payload, id, epoch, seq, err)
	}
	return off
}

// TestIdempotentProducer: a retry of a batch the partition holds is
// acknowledged with its offsets and not appended again, a gap and an old
// epoch are refused, and the partition remembers across a clean restart
// (the saved state) and one that lost the saved state (the log replayed).
func TestIdempotentProducer(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	p, err := s.OpenPartition("orders-0", PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	path := filepath.Join(dir, "orders-0", producersFileName)
	atCreation := mustRead(t, path)

	a := mustProduce(t, p, 7, 0, 0, "a", 2)
	b := mustProduce(t, p, 7, 0, 2, "b", 1)
	other := mustProduce(t, p, 8, 0, 0, "other", 1)
	if again := mustProduce(t, p, 7, 0, 0, "a", 2); again != a {
		t.Fatalf("a retry of the first batch got offset %d, want its own %d", again, a)
	}
	if again := mustProduce(t, p, 7, 0, 2, "b", 1); again != b {
		t.Fatalf("a retry of the last batch got offset %d, want %d", again, b)
	}
	if _, err := produce(p, 7, 0, 9, "gap", 1); !errors.Is(err, ErrOutOfOrderSequence) {
		t.Fatalf("a sequence gap: %v, want ErrOutOfOrderSequence", err)
	}
	mustProduce(t, p, 7, 1, 0, "epoch 1", 1)
	if _, err := produce(p, 7, 0, 3, "zombie", 1); !errors.Is(err, ErrProducerFenced) {
		t.Fatalf("an older epoch: %v, want ErrProducerFenced", err)
	}
	// Without a producer id, nothing is checked: the same payload twice is
	// two batches.
	propose(t, p, "plain", 1)
	propose(t, p, "plain", 1)
	want := []string{"a", "b", "other", "epoch 1", "plain", "plain"}
	if got := readPayloads(t, p, 0); !slices.Equal(got, want) {
		t.Fatalf("log %q, want %q", got, want)
	}

	retries := func(t *testing.T, p *Partition) {
		t.Helper()
		if again := mustProduce(t, p, 8, 0, 0, "other", 1); again != other {
			t.Fatalf("after the restart a retry got offset %d, want %d", again, other)
		}
		if again := mustProduce(t, p, 7, 1, 0, "epoch 1", 1); again != other+1 {
			t.Fatalf("after the restart a retry got offset %d, want %d", again, other+1)
		}
		if _, err := produce(p, 7, 0, 3, "zombie", 1); !errors.Is(err, ErrProducerFenced) {
			t.Fatalf("after the restart an older epoch: %v, want ErrProducerFenced", err)
		}
		if got := readPayloads(t, p, 0); !slices.Equal(got, want) {
			t.Fatalf("after the restart the log is %q, want %q", got, want)
		}
	}

	// A clean close saves the producers.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	saved := mustRead(t, path)
	s = openStore(t, dir)
	p, err = s.OpenPartition("orders-0", PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	retries(t, p)
	next := mustProduce(t, p, 9, 0, 0, "after the save", 1)
	want = append(want, "after the save")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// A crash keeps the last save, older than the log: what came after it
	// is replayed from the log; after the first save, at the partition's
	// creation, all of it.
	for name, file := range map[string][]byte{"stale save": saved, "the save at creation": atCreation} {
		t.Run(name, func(t *testing.T) {
			mustWrite(t, path, file)
			s := openStore(t, dir)
			defer s.Close()
			p, err := s.OpenPartition("orders-0", PartitionConfig{})
			if err != nil {
				t.Fatal(err)
			}
			waitReady(t, p)
			retries(t, p)
			if again := mustProduce(t, p, 9, 0, 0, "after the save", 1); again != next {
				t.Fatalf("a retry of the batch after the save got offset %d, want %d", again, next)
			}
		})
	}
}

// TestIdempotentRetryWhilePending: retries of a batch still on its way
// through raft wait for it and get its offset, and the batch is appended
// once.
func TestIdempotentRetryWhilePending(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Close()
	p, err := s.OpenPartition("orders-0", PartitionConfig{})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, p)
	ctx := context.Background()
	h := BatchHeader{RecordCount: 1, ProducerID: 3, BaseSequence: 0}
	var props []*Proposal
	for range 5 {
		pr, err := p.Submit(ctx, h, append(NewBatch(4), "once"...), SubmitOptions{})
		if err != nil {
			t.Fatal(err)
		}
		props = append(props, pr)
	}
	for i, pr := range props {
		off, err := pr.Wait(ctx)
		if err != nil || off != 0 {
			t.Fatalf("submission %d: offset %d, %v; want 0", i, off, err)
		}
	}
	if got := readPayloads(t, p, 0); !slices.Equal(got, []string{"once"}) {
		t.Fatalf("log %q, want the batch once", got)
	}
}
