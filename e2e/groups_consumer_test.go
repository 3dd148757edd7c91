package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// groupConsumerEnv makes the e2e test binary a group consumer process
// (TestMain runs runGroupConsumer instead of the tests): its value is the
// consumer's groupConsumerConfig as JSON.
const groupConsumerEnv = "RUNNEL_E2E_GROUP_CONSUMER"

// groupConsumerConfig is what a consumer process reads and where.
type groupConsumerConfig struct {
	Addrs []string `json:"addrs"` // the brokers, tried in turn from First
	First int      `json:"first"`
	Group string   `json:"group"`
	Topic string   `json:"topic"`
}

// groupEvent is one line a consumer process writes on stdout: what it
// saw or did, at T (time.Now().UnixNano(), comparable across the
// processes of one machine): a message is stamped when the consumer
// takes it to process, after it committed the one before.
type groupEvent struct {
	T  int64  `json:"t"`
	Ev string `json:"ev"` // start, assign, batch, commit, stream_end, exit
	// Stream numbers the member's streams (a new one after each failure);
	// Broker is the index of the broker it went through.
	Stream int `json:"stream,omitempty"`
	Broker int `json:"broker"`
	// assign: the member, its epochs, every partition it owns now, those
	// just revoked.
	Member      string  `json:"member,omitempty"`
	GroupEpoch  int32   `json:"group_epoch,omitempty"`
	MemberEpoch int32   `json:"member_epoch,omitempty"`
	Owned       []int32 `json:"owned,omitempty"`
	Revoked     []int32 `json:"revoked,omitempty"`
	// batch: its partition, offsets and values; commit: the partition and
	// the next offset committed.
	P       int32    `json:"p"`
	Offsets []int64  `json:"offsets,omitempty"`
	Values  []string `json:"values,omitempty"`
	Offset  int64    `json:"offset,omitempty"`
	// commit: whether it succeeded; stream_end, commit: the error.
	OK  bool   `json:"ok,omitempty"`
	Err string `json:"err,omitempty"`
}

func emit(e groupEvent) {
	if e.T == 0 {
		e.T = time.Now().UnixNano()
	}
	line, err := json.Marshal(e)
	if err != nil {
		panic(err)
	}
	// NB: one write per line, unbuffered: after a SIGKILL the last line
	// is the last thing the process did.
	if _, err := os.Stdout.Write(append(line, '\n')); err != nil {
		os.Exit(3)
	}
}

// runGroupConsumer is a group member driven by the generated stubs alone
// (runnelv1 and a grpc connection, no SDK code): it subscribes as a
// member of its group, writes every assignment event and batch it
// receives, commits after each batch with its member id and epoch, and
// on a stream error subscribes again through the next broker with its
// member id. On SIGTERM it commits what it processed, ends its stream,
// commits again and exits 0.
func runGroupConsumer(raw string) int {
	var cfg groupConsumerConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	var subs []runnelv1.SubscribeServiceClient
	var commits []runnelv1.CommitServiceClient
	for _, addr := range cfg.Addrs {
		conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		subs = append(subs, runnelv1.NewSubscribeServiceClient(conn))
		commits = append(commits, runnelv1.NewCommitServiceClient(conn))
	}
	emit(groupEvent{Ev: "start"})
	var (
		memberID  string
		epoch     int32
		owned     = map[int32]bool{}
		processed = map[int32]int64{} // the next offset to process
	)
	commit := func(b, stream int, p int32) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := commits[b].Commit(ctx, &runnelv1.CommitRequest{Group: cfg.Group, Topic: cfg.Topic,
			Offsets:  []*runnelv1.PartitionOffset{{Partition: p, Offset: processed[p]}},
			MemberId: memberID, MemberEpoch: epoch})
		e := groupEvent{Ev: "commit", Stream: stream, Broker: b, Member: memberID, MemberEpoch: epoch, P: p, Offset: processed[p], OK: err == nil}
		if err != nil {
			e.Err = status.Convert(err).Code().String() + ": " + status.Convert(err).Message()
		}
		emit(e)
	}
	type received struct {
		resp *runnelv1.SubscribeResponse
		err  error
	}
	for stream, b := 1, cfg.First%len(cfg.Addrs); ; stream, b = stream+1, (b+1)%len(cfg.Addrs) {
		ctx, cancel := context.WithCancel(context.Background())
		msgs := make(chan received)
		go func() {
			st, err := subs[b].Subscribe(ctx, &runnelv1.SubscribeRequest{Topic: cfg.Topic, Group: cfg.Group, Follow: true, MemberId: memberID})
			for {
				var resp *runnelv1.SubscribeResponse
				if err == nil {
					resp, err = st.Recv()
				}
				select {
				case msgs <- received{resp, err}:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
			}
		}()
	recv:
		for {
			select {
			case <-sigs:
				// A clean stop: commit what was processed, end the stream,
				// and commit it again: the final commit of a member that
				// left hands over at once the partitions it was delivered
				// more of than it processed (batches on their way),
				// rather than after the rebalance timeout (when it
				// reaches the coordinator after the stream's end, else it
				// changes nothing).
				var last []int32
				for p := range owned {
					if processed[p] > 0 {
						commit(b, stream, p)
						last = append(last, p)
					}
				}
				cancel()
				for _, p := range last {
					commit(b, stream, p)
				}
				emit(groupEvent{Ev: "exit", Stream: stream, Broker: b})
				return 0
			case m := <-msgs:
				switch {
				case m.err != nil:
					emit(groupEvent{Ev: "stream_end", Stream: stream, Broker: b, Err: status.Convert(m.err).Code().String() + ": " + status.Convert(m.err).Message()})
					clear(owned)
					break recv
				case m.resp.Assignment != nil:
					a := m.resp.Assignment
					memberID, epoch = a.MemberId, a.MemberEpoch
					e := groupEvent{Ev: "assign", Stream: stream, Broker: b, Member: memberID, GroupEpoch: a.GroupEpoch, MemberEpoch: epoch}
					clear(owned)
					for _, tp := range a.Partitions {
						if tp.Topic == cfg.Topic {
							e.Owned = append(e.Owned, tp.Partitions...)
							for _, p := range tp.Partitions {
								owned[p] = true
							}
						}
					}
					for _, tp := range a.Revoked {
						if tp.Topic == cfg.Topic {
							e.Revoked = append(e.Revoked, tp.Partitions...)
						}
					}
					emit(e)
				case m.resp.Batch != nil && len(m.resp.Batch.Records) > 0:
					batch := m.resp.Batch
					e := groupEvent{Ev: "batch", Stream: stream, Broker: b, P: batch.Partition}
					for _, r := range batch.Records {
						e.Offsets = append(e.Offsets, r.Offset)
						e.Values = append(e.Values, string(r.Value))
					}
					emit(e)
					processed[batch.Partition] = e.Offsets[len(e.Offsets)-1] + 1
					commit(b, stream, batch.Partition)
				}
			}
		}
		cancel()
		// NB: pacing, not synchronisation: a retry backoff before the
		// next broker.
		time.Sleep(100 * time.Millisecond)
	}
}
