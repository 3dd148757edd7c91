package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/runnel-broker/runnel/client"
	runnelv1 "github.com/runnel-broker/runnel/gen/runnel/v1"
)

// maxLineBytes is the longest stdin line produce accepts.
const maxLineBytes = 32 << 20

func newProduceCommand() *cobra.Command {
	var (
		key, keySeparator string
		partition         int32
		batchRecords      int
		batchBytes        int
		linger            time.Duration
		acks              acksFlag
	)
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Produce one record per line of standard input",
		Long: `Produce one record per line of standard input, with the Go SDK's producer:
records are batched per partition (--linger, --batch-bytes) and sent to each
partition's leader, retried on a leader's move or a broker's loss. Keyed
records go to the partition of their key (murmur2, as Kafka's), keyless ones
to one partition per batch. The first record that fails stops it: it reads
no more input, waits for what it sent, and exits non-zero.`,
		Example: `  echo hello | runnel produce orders
  printf 'user-1:signed up\nuser-2:paid\n' | runnel produce orders --key-separator :`,
		Args: cobra.ExactArgs(1),
	}
	dial := brokerFlag(cmd)
	f := cmd.Flags()
	f.StringVar(&key, "key", "", "key of every record")
	f.Var(&acks, "acks", acksUsage)
	f.StringVar(&keySeparator, "key-separator", "", "split each line at the first SEP into key and value")
	f.Int32Var(&partition, "partition", -1, "partition to write to (default: by key, keyless records spread)")
	f.DurationVar(&linger, "linger", 5*time.Millisecond, "how long a partition's batch waits for more lines before it is sent")
	f.IntVar(&batchBytes, "batch-bytes", 1<<20, "most bytes of a partition's batch")
	f.IntVar(&batchRecords, "batch-records", 500, "ignored: batches are bounded by --batch-bytes and --linger")
	_ = f.MarkDeprecated("batch-records", "batches are bounded by --batch-bytes and --linger")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if key != "" && keySeparator != "" {
			return errors.New("use --key or --key-separator, not both")
		}
		if batchBytes <= 0 || linger < 0 {
			return errors.New("want --batch-bytes > 0 and --linger >= 0")
		}
		c, err := dial(cmd.Context())
		if err != nil {
			return err
		}
		defer c.Close()
		p := c.Producer(client.WithAcks(runnelv1.Acks(acks)), client.WithLinger(linger), client.WithMaxBatchBytes(batchBytes))
		toRecord := func(line string) *client.Record {
			r := &client.Record{Topic: args[0], Value: []byte(line)}
			if key != "" {
				r.Key = []byte(key)
			} else if keySeparator != "" {
				if k, v, ok := strings.Cut(line, keySeparator); ok {
					r.Key, r.Value = []byte(k), []byte(v)
				}
			}
			if partition >= 0 {
				r.Partition = &partition
			}
			return r
		}
		// NB: the first failure stops the reading; later records, in
		// flight already, are counted as they end.
		var t produceTally
		failed := make(chan struct{})
		done := func(_ client.Ack, err error) {
			t.mu.Lock()
			defer t.mu.Unlock()
			if err == nil {
				t.acked++
				return
			}
			t.failed++
			if t.err == nil {
				t.err = err
				close(failed)
			}
		}
		stop := make(chan struct{})
		defer close(stop)
		lines := readLines(cmd.InOrStdin(), stop)
	read:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break read
				}
				p.Produce(cmd.Context(), toRecord(line), done)
			case <-failed:
				break read
			case <-cmd.Context().Done():
				break read
			}
		}
		closeErr := p.Close()
		t.mu.Lock()
		defer t.mu.Unlock()
		msg := fmt.Sprintf("produced %d record(s) to %s", t.acked, args[0])
		if t.failed > 0 {
			msg += fmt.Sprintf("; %d failed", t.failed)
		}
		fmt.Fprintln(cmd.ErrOrStderr(), msg)
		if t.err != nil {
			return t.err
		}
		if closeErr != nil {
			return fmt.Errorf("waiting for the records' acks: %w", closeErr)
		}
		if err := cmd.Context().Err(); err != nil {
			return fmt.Errorf("interrupted: %w", err)
		}
		return nil
	}
	return cmd
}

// readLines streams the lines of r; the channel closes at EOF. It stops
// reading when stop closes.
func readLines(r io.Reader, stop <-chan struct{}) <-chan string {
	out := make(chan string, 1024)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), maxLineBytes)
		for sc.Scan() {
			select {
			case out <- sc.Text():
			case <-stop:
				return
			}
		}
		if err := sc.Err(); err != nil {
			fmt.Fprintln(os.Stderr, "Error: reading input:", err)
		}
	}()
	return out
}

// produceTally counts what became of the records produced; err is the
// first failure.
type produceTally struct {
	mu            sync.Mutex
	acked, failed int64
	err           error
}
