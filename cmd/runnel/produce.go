package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/status"

	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// maxLineBytes is the longest stdin line produce accepts.
const maxLineBytes = 32 << 20

func newProduceCommand() *cobra.Command {
	var (
		key, keySeparator string
		partition         int32
		batchRecords      int
		acks              acksFlag
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce one record per line of standard input",
		Example: `  echo hello | runnel produce orders
  printf 'user-1:signed up\nuser-2:paid\n' | runnel produce orders --key-separator :`,
		Args: cobra.ExactArgs(1),
	}
	dial := brokerFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&key, "key", "", "key of every record")
	f.Var(&acks, "acks", "when requests are acknowledged: all (a quorum has them on disk) or leader")
	f.StringVar(&keySeparator, "key-separator", "", "split each line at the first SEP into key and value")
	f.Int32Var(&partition, "partition", -1, "partition to write to (default: by key, keyless records spread)")
	f.IntVar(&batchRecords, "batch-records", 500, "most lines per request when input is available at once")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if key != "" && keySeparator != "" {
			return errors.New("use --key or --key-separator, not both")
		}
		c, err := dial()
		if err != nil {
			return err
		}
		defer c.Close()
		stream, err := c.Produce.Produce(cmd.Context())
		if err != nil {
			return err
		}
		toRecord := func(line string) *runnelv1.Record {
			r := &runnelv1.Record{Value: []byte(line)}
			if key != "" {
				r.Key = []byte(key)
			} else if keySeparator != "" {
				if k, v, ok := strings.Cut(line, keySeparator); ok {
					r.Key, r.Value = []byte(k), []byte(v)
				}
			}
			return r
		}
		lines := readLines(cmd.InOrStdin())
		acked := make(chan produceTally, 1)
		go func() { acked <- receiveAcks(stream) }()
		var sent uint64
		for line := range lines {
			req := &runnelv1.ProduceRequest{Topic: args[0], Records: []*runnelv1.Record{toRecord(line)}, Acks: runnelv1.Acks(acks)}
			if partition >= 0 {
				req.Partition = &partition
			}
		more:
			for len(req.Records) < batchRecords {
				select {
				case l, ok := <-lines:
					if !ok {
						break more
					}
					req.Records = append(req.Records, toRecord(l))
				default:
					break more
				}
			}
			sent++
			req.CorrelationId = sent
			if err := stream.Send(req); err != nil {
				break // the receiver reports why
			}
		}
		if err := stream.CloseSend(); err != nil {
			return err
		}
		t := <-acked
		fmt.Fprintf(cmd.ErrOrStderr(), "produced %d record(s) to %s\n", t.records, args[0])
		return t.err
	}
	return cmd
}

// readLines streams the lines of r; the channel closes at EOF.
func readLines(r io.Reader) <-chan string {
	out := make(chan string, 1024)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxLineBytes)
		for sc.Scan() {
			out <- sc.Text()
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintln(os.Stderr, "Error: reading input:", err)
		}
	}()
	return out
}

type produceTally struct {
	records int64
	err     error
}

// receiveAcks counts acknowledged records until the stream ends; the first
// error response or stream error is kept.
func receiveAcks(stream runnelv1.ProduceService_ProduceClient) produceTally {
	var t produceTally
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return t
		}
		if err != nil {
			if t.err == nil {
				t.err = err
			}
			return t
		}
		for _, a := range resp.Acks {
			t.records += int64(a.RecordCount)
		}
		if resp.Error != nil && t.err == nil {
			t.err = status.ErrorProto(resp.Error)
		}
	}
}
