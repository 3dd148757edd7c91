package segment

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/raft/v3/raftpb"
)

// benchEntry is a 1 KiB batch of 16 records.
func benchEntry(i uint64) raftpb.Entry {
	payload := bytes.Repeat([]byte{'x'}, 1024)
	return raftpb.Entry{Index: i, Term: 1, Data: EncodeBatch(BatchHeader{RecordCount: 16, FirstTimestamp: int64(i), MaxTimestamp: int64(i)}, payload)}
}

func BenchmarkAppend(b *testing.B) {
	for _, syncEvery := range []int{0, 1, 16} {
		name := "nosync"
		if syncEvery > 0 {
			name = fmt.Sprintf("sync-every-%d", syncEvery)
		}
		b.Run(name, func(b *testing.B) {
			l := openTest(b, b.TempDir(), testOptions(64<<20, 0))
			defer l.Close()
			e := []raftpb.Entry{benchEntry(1)}
			b.SetBytes(int64(len(e[0].Data)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				e[0].Index = uint64(i) + 1
				if err := l.Append(e); err != nil {
					b.Fatal(err)
				}
				if syncEvery > 0 && (i+1)%syncEvery == 0 {
					if err := l.Sync(); err != nil {
						b.Fatal(err)
					}
				}
				if i%(128<<10) == 0 && i > 0 {
					// Keep the disk footprint bounded on long runs.
					if _, _, err := l.DeleteBefore(uint64(i)); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func BenchmarkRead(b *testing.B) {
	for _, maxBytes := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("max-%dKiB", maxBytes>>10), func(b *testing.B) {
			l := openTest(b, b.TempDir(), testOptions(16<<20, 0))
			defer l.Close()
			const n = 16 << 10 // 16 MiB of batches
			es := make([]raftpb.Entry, 0, 256)
			for i := uint64(1); i <= n; i++ {
				es = append(es, benchEntry(i))
				if len(es) == cap(es) {
					if err := l.Append(es); err != nil {
						b.Fatal(err)
					}
					es = es[:0]
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			var total int64
			for i := range b.N {
				off := int64(i*7919%n) * 16
				bs, err := l.Read(off, n, maxBytes)
				if err != nil || len(bs) == 0 {
					b.Fatal(len(bs), err)
				}
				for _, x := range bs {
					total += int64(len(x.Payload))
				}
			}
			b.SetBytes(total / int64(b.N))
		})
	}
}

// BenchmarkAppendBesideSlowReader appends while another goroutine reads the
// same log in a loop with a callback that takes 200µs (a large response
// encoded from cold pages): the append latency a slow subscriber costs.
func BenchmarkAppendBesideSlowReader(b *testing.B) {
	l := openTest(b, b.TempDir(), testOptions(64<<20, 0))
	defer l.Close()
	e := []raftpb.Entry{benchEntry(1)}
	if err := l.Append(e); err != nil {
		b.Fatal(err)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := l.ReadFunc(0, 1, 1<<20, func([]Batch) error {
				time.Sleep(200 * time.Microsecond)
				return nil
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		e[0].Index = uint64(i) + 2
		if err := l.Append(e); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	close(stop)
	<-done
}
