package client

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// link is a producer's one Produce stream to one broker. Requests of
// every partition that broker leads share it, pipelined: the broker
// answers them in order, matched by correlation id. A stream that breaks
// fails what it had in flight (UNAVAILABLE, retriable) and the next
// request opens another.
type link struct {
	addr string
	conn *grpc.ClientConn

	mu     sync.Mutex
	nextID uint64
	cur    *linkStream
}

type linkStream struct {
	stream  runnelv1.ProduceService_ProduceClient
	cancel  context.CancelFunc
	pending map[uint64]chan linkResult // under link.mu
}

type linkResult struct {
	resp *runnelv1.ProduceResponse
	err  error
}

// send sends req and returns where its response will come. Sending holds
// the link's lock, so requests leave in the order send is called.
func (l *link) send(req *runnelv1.ProduceRequest) (<-chan linkResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur == nil {
		// NB: the stream outlives any one request's context: it is the
		// link's, cancelled when it breaks or the producer closes.
		ctx, cancel := context.WithCancel(context.Background())
		s, err := runnelv1.NewProduceServiceClient(l.conn).Produce(ctx)
		if err != nil {
			cancel()
			return nil, err
		}
		l.cur = &linkStream{stream: s, cancel: cancel, pending: map[uint64]chan linkResult{}}
		go l.receive(l.cur)
	}
	ls := l.cur
	l.nextID++
	req.CorrelationId = l.nextID
	ch := make(chan linkResult, 1)
	ls.pending[req.CorrelationId] = ch
	if err := ls.stream.Send(req); errors.Is(err, io.EOF) {
		// NB: the stream ended (the broker refused it, a limit or a
		// credential, or the connection broke): its status comes from
		// Recv, which receive reports to every request in flight, this
		// one included. Later requests open another stream.
		l.cur = nil
	} else if err != nil {
		// NB: this request's own fault (grpc-go ends the stream with it).
		delete(ls.pending, req.CorrelationId)
		l.breakLocked(ls, status.Errorf(codes.Unavailable, "produce stream to %s broke", l.addr))
		return nil, err
	}
	return ch, nil
}

// forget drops a request whose caller stopped waiting (its timeout): its
// response, if any comes, is discarded.
func (l *link) forget(id uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil {
		delete(l.cur.pending, id)
	}
}

func (l *link) receive(ls *linkStream) {
	for {
		resp, err := ls.stream.Recv()
		if err != nil {
			if status.Code(err) == codes.Unknown || status.Code(err) == codes.Canceled {
				err = status.Errorf(codes.Unavailable, "produce stream to %s: %v", l.addr, err)
			}
			l.mu.Lock()
			l.breakLocked(ls, err)
			l.mu.Unlock()
			return
		}
		l.mu.Lock()
		ch, ok := ls.pending[resp.CorrelationId]
		delete(ls.pending, resp.CorrelationId)
		l.mu.Unlock()
		if ok {
			ch <- linkResult{resp: resp}
		}
	}
}

// breakLocked ends ls and fails its requests in flight with err; their
// outcome is unknown, so a retry may send them again (an idempotent
// producer's broker drops such copies).
func (l *link) breakLocked(ls *linkStream, err error) {
	if l.cur == ls {
		l.cur = nil
	}
	ls.cancel()
	for id, ch := range ls.pending {
		delete(ls.pending, id)
		ch <- linkResult{err: err}
	}
}

func (l *link) close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil {
		l.breakLocked(l.cur, ErrClosed)
	}
}
