package e2e

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// frameStarts walks a segment file's frames (length u32, CRC u32, then the
// length's bytes: raftstore/internal/segment/doc.go) and returns where
// each starts.
func frameStarts(t *testing.T, b []byte) []int {
	t.Helper()
	var starts []int
	for pos := 0; pos+8 <= len(b); {
		l := int(binary.BigEndian.Uint32(b[pos:]))
		if l == 0 {
			break
		}
		starts = append(starts, pos)
		pos += 8 + l
	}
	return starts
}

// damagedPartition produces records into a fresh topic in batches, stops
// the broker, flips a byte in the middle of frame pick(frames) of the
// partition's log, and returns the data dir, the file and its damaged bytes.
func damagedPartition(t *testing.T, records, batch int, pick func(frames []int) int) (string, string, []byte) {
	t.Helper()
	dir := t.TempDir()
	b := startBroker(t, dir)
	env := append(os.Environ(), "RUNNEL_BROKER="+b.addr)
	// NB: the SDK's producer counts a record of value v as len(v)+24
	// bytes: batches of batch records (lines of up to 4 digits) close
	// full, never by time.
	cmd := bins.runnel + " topic create c && seq 1 " + strconv.Itoa(records) + " | " + bins.runnel + " produce c --linger 1h --batch-bytes " + strconv.Itoa(batch*28)
	if out, err := runShell(t, env, cmd); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	b.stop()
	logs, err := filepath.Glob(filepath.Join(dir, "c-0", "*.log"))
	if err != nil || len(logs) != 1 {
		t.Fatalf("segments of c-0: %v %v", logs, err)
	}
	data, err := os.ReadFile(logs[0])
	if err != nil {
		t.Fatal(err)
	}
	frames := frameStarts(t, data)
	i := pick(frames)
	end := len(data)
	if i+1 < len(frames) {
		end = frames[i+1]
	}
	data[(frames[i]+end)/2] ^= 0xff
	if err := os.WriteFile(logs[0], data, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, logs[0], data
}

// TestCorruptionInTheTailIsRefused damages a record followed by valid ones
// in the part of the log that recovery reads on start: the broker refuses
// to start, names the file, and changes nothing on disk (a torn write,
// with nothing valid after it, would be truncated instead).
func TestCorruptionInTheTailIsRefused(t *testing.T) {
	// Four small frames: the whole segment is the tail recovery scans.
	dir, file, damaged := damagedPartition(t, 20, 5, func(frames []int) int { return len(frames) / 2 })
	cmd := exec.Command(bins.runnel, "serve", "--data-dir", dir, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0")
	done := make(chan struct{})
	var (
		out []byte
		err error
	)
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal("broker did not refuse to start within 60s")
	}
	if err == nil {
		t.Fatalf("broker started on a corrupt log:\n%s", out)
	}
	if !strings.Contains(string(out), "corrupt") || !strings.Contains(string(out), filepath.Base(file)) {
		t.Fatalf("the error does not name the corruption and the file:\n%s", out)
	}
	if after, _ := os.ReadFile(file); !bytes.Equal(after, damaged) {
		t.Fatal("the refused log file was changed")
	}
}

// TestCorruptionBeforeTheTailIsDataLoss damages an early record, outside
// the tail that recovery reads (startup cost must not grow with the log):
// the broker starts, a read over the damage fails with DataLoss, and
// records after it are still served.
func TestCorruptionBeforeTheTailIsDataLoss(t *testing.T) {
	// Many frames: the index has entries past the first one, so recovery
	// starts after it.
	dir, _, _ := damagedPartition(t, 3000, 10, func([]int) int { return 2 })
	b := startBroker(t, dir)
	env := append(os.Environ(), "RUNNEL_BROKER="+b.addr)
	out, err := runShell(t, env, bins.runnel+" consume c --from earliest")
	if err == nil || !strings.Contains(out, "Error: DATA_LOSS: ") {
		t.Fatalf("reading over the damage: err=%v\n%s", err, out)
	}
	out, err = runShell(t, env, bins.runnel+" consume c --from 2990")
	if err != nil || strings.Fields(out)[0] != "2991" {
		t.Fatalf("reading after the damage: err=%v\n%s", err, out)
	}
}
