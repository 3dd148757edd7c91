// Command barebench calibrates docs/benchmarks.md: the bare gRPC server
// issue 2 compares Runnel with. A bidi stream carries raw 64 KiB batches;
// the server appends each with write() to one preallocated file and acks a
// group of them after one fdatasync. No records, raft, indexes or CRCs:
// the ceiling this machine puts on an fsync'd gRPC produce path.
//
//	go run ./docs/barebench -duration 20s -batch 65536 -inflight 16
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
)

// rawCodec moves *[]byte messages as they are.
type rawCodec struct{}

func (rawCodec) Name() string { return "raw" }
func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	return mem.BufferSlice{mem.SliceBuffer(*v.(*[]byte))}, nil
}
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

var desc = grpc.ServiceDesc{
	ServiceName: "barebench.Append",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName: "Append", ServerStreams: true, ClientStreams: true,
		Handler: func(srv any, stream grpc.ServerStream) error { return srv.(*server).append(stream) },
	}},
}

type server struct {
	mu      sync.Mutex // guards f's end, pending
	f       *os.File
	size    int64
	pending []chan struct{}
	kick    chan struct{}
}

// append writes each batch and acks it once a group fsync covered it.
func (s *server) append(stream grpc.ServerStream) error {
	acks := make(chan chan struct{}, 1024)
	go func() {
		ack := []byte{1}
		for done := range acks {
			<-done
			if stream.SendMsg(&ack) != nil {
				return
			}
		}
	}()
	defer close(acks)
	for {
		var b []byte
		if err := stream.RecvMsg(&b); err != nil {
			return nil
		}
		done := make(chan struct{})
		s.mu.Lock()
		if _, err := s.f.WriteAt(b, s.size); err != nil {
			s.mu.Unlock()
			return err
		}
		s.size += int64(len(b))
		s.pending = append(s.pending, done)
		s.mu.Unlock()
		select {
		case s.kick <- struct{}{}:
		default:
		}
		acks <- done
	}
}

// flusher: one fdatasync for every batch written since the last one.
func (s *server) flusher() {
	for range s.kick {
		s.mu.Lock()
		group := s.pending
		s.pending = nil
		s.mu.Unlock()
		if len(group) == 0 {
			continue
		}
		if err := unix.Fdatasync(int(s.f.Fd())); err != nil {
			log.Fatal(err)
		}
		for _, d := range group {
			close(d)
		}
	}
}

func main() {
	duration := flag.Duration("duration", 20*time.Second, "how long to produce")
	batch := flag.Int("batch", 64<<10, "bytes per request")
	inflight := flag.Int("inflight", 16, "requests in flight")
	dir := flag.String("dir", os.TempDir(), "directory for the data file")
	flag.Parse()

	encoding.RegisterCodecV2(rawCodec{})
	path := filepath.Join(*dir, "barebench.data")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o644)
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(path)
	_ = unix.Fallocate(int(f.Fd()), 0, 0, 16<<30) // as Runnel's segments, ahead of the writes
	s := &server{f: f, kick: make(chan struct{}, 1)}
	go s.flusher()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	gs := grpc.NewServer(grpc.ForceServerCodecV2(rawCodec{}))
	gs.RegisterService(&desc, s)
	go gs.Serve(lis)

	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{})))
	if err != nil {
		log.Fatal(err)
	}
	stream, err := conn.NewStream(context.Background(), &desc.Streams[0], "/barebench.Append/Append")
	if err != nil {
		log.Fatal(err)
	}
	payload := make([]byte, *batch)
	sent := make(chan time.Time, *inflight)
	var lat []time.Duration
	done := make(chan struct{})
	go func() {
		defer close(done)
		for t := range sent {
			var ack []byte
			if err := stream.RecvMsg(&ack); err != nil {
				log.Fatal(err)
			}
			lat = append(lat, time.Since(t))
		}
	}()
	start := time.Now()
	n := 0
	for time.Since(start) < *duration {
		sent <- time.Now()
		if err := stream.SendMsg(&payload); err != nil {
			log.Fatal(err)
		}
		n++
	}
	close(sent)
	<-done
	el := time.Since(start).Seconds()
	slices.Sort(lat)
	fmt.Printf("bare: %d x %d B in %.1fs: %.1f MB/s, ack p50 %v p99 %v\n", n, *batch, el,
		float64(n)*float64(*batch)/1e6/el, lat[len(lat)/2].Round(time.Microsecond), lat[len(lat)*99/100].Round(time.Microsecond))
}
