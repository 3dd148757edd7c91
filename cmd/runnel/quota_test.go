package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/runnel-broker/runnel/server"
)

// TestQuotaCommands, as a user would: a broker process with a token
// file; runnel quota sets, lists and deletes quotas, and bad flags are
// refused saying what to fix.
func TestQuotaCommands(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokens, []byte(server.TokenLine("User:admin", "admin-token")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	broker, _ := serveProcess(t, "--token-file", tokens)
	ctx := context.Background()
	quota := func(args ...string) (string, error) {
		t.Helper()
		out, _, err := run(ctx, "", append(append([]string{"quota"}, args...), "--broker", broker, "--token", "admin-token")...)
		return out, err
	}
	must := func(out string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return out
	}

	if out := must(quota("set", "--principal", "User:alice", "--produce-bytes-per-sec", "10e6")); out != "set the quota of User:alice\n" {
		t.Fatalf("quota set: %q", out)
	}
	must(quota("set", "--default", "--consume-bytes-per-sec", "5000000", "--requests-per-sec", "100"))
	list := must(quota("list"))
	want := "PRINCIPAL   PRODUCE_BYTES/S  CONSUME_BYTES/S  REQUESTS/S\n" +
		"<default>   -                5000000          100\n" +
		"User:alice  10000000         -                -\n"
	if list != want {
		t.Fatalf("quota list:\n%s\nwant:\n%s", list, want)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"set", "--produce-bytes-per-sec", "1"}, "name whose quota: --principal User:NAME, or --default"},
		{[]string{"set", "--principal", "User:a", "--default", "--requests-per-sec", "1"}, "--principal and --default: name one"},
		{[]string{"set", "--principal", "User:a"}, "give a rate"},
		{[]string{"set", "--principal", "User:a", "--produce-bytes-per-sec", "-5"}, "--produce-bytes-per-sec -5: give a positive rate"},
		{[]string{"set", "--principal", "alice", "--requests-per-sec", "1"}, `principal "alice" is not TYPE:NAME`},
		{[]string{"delete"}, "name whose quota"},
	} {
		if _, err := quota(c.args...); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("quota %v: %v, want an error saying %q", c.args, err, c.want)
		}
	}
	if out := must(quota("delete", "--principal", "User:alice")); out != "deleted the quota of User:alice\n" {
		t.Fatalf("quota delete: %q", out)
	}
	if out := must(quota("delete", "--principal", "User:alice")); out != "User:alice has no quota\n" {
		t.Fatalf("quota delete again: %q", out)
	}
	if list := must(quota("list")); strings.Contains(list, "alice") {
		t.Fatalf("alice's quota listed once deleted:\n%s", list)
	}
}
