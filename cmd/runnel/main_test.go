package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/runnel-broker/runnel/internal/buildinfo"
)

// execute runs the runnel command line args, returning its error and
// what it wrote.
func execute(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCommand()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	return out.String(), err
}

// TestMisuseShowsUsage checks that a command line a command cannot take
// fails with the usage line of that command, whichever the mistake.
func TestMisuseShowsUsage(t *testing.T) {
	for _, tc := range []struct {
		args      []string
		err, used string
	}{
		{[]string{"topic", "create"}, "accepts 1 arg(s), received 0", "runnel topic create NAME [flags]"},
		{[]string{"topic", "create", "a", "b"}, "accepts 1 arg(s), received 2", "runnel topic create NAME [flags]"},
		{[]string{"partition", "reassign", "t"}, "accepts 2 arg(s), received 1", "runnel partition reassign TOPIC PARTITION [flags]"},
		{[]string{"consume"}, "requires at least 1 arg(s), only received 0", "runnel consume TOPIC [TOPIC...] [flags]"},
		{[]string{"cluster", "describe", "x"}, `unknown command "x" for "runnel cluster describe"`, "runnel cluster describe [flags]"},
		{[]string{"serve", "x"}, `unknown command "x" for "runnel serve"`, "runnel serve [flags]"},
		{[]string{"topic", "craete"}, `unknown command "craete" for "runnel topic": did you mean create?`, "runnel topic [command]"},
		{[]string{"topc"}, `unknown command "topc" for "runnel": did you mean topic?`, "runnel [command]"},
		{[]string{"topic", "list", "--bogus"}, "unknown flag: --bogus", "runnel topic list [flags]"},
		{[]string{"produce", "--acks", "some", "t"}, `invalid argument "some" for "--acks" flag: use all`, "runnel produce TOPIC [flags]"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := execute(t, tc.args...)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, tc.err) || !strings.Contains(msg, "\nUsage: "+tc.used+"\n") {
				t.Fatalf("error %q: want %q then the usage line %q", msg, tc.err, tc.used)
			}
		})
	}
}

// TestGroupAloneShowsHelp: a command grouping others, called alone, shows
// its help and succeeds.
func TestGroupAloneShowsHelp(t *testing.T) {
	out, err := execute(t, "topic")
	if err != nil || !strings.Contains(out, "Available Commands:") || strings.Contains(out, "runnel topic [flags]") {
		t.Fatalf("runnel topic: %v\n%s", err, out)
	}
}

func TestVersion(t *testing.T) {
	out, err := execute(t, "--version")
	if want := "runnel version " + buildinfo.Read().String() + "\n"; err != nil || out != want {
		t.Fatalf("runnel --version: %q, %v; want %q", out, err, want)
	}
}

func TestDescribeError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{status.Error(codes.InvalidArgument, "record 3: too large"), "INVALID_ARGUMENT: record 3: too large"},
		{status.Error(codes.NotFound, `topic "t" does not exist`), `NOT_FOUND: topic "t" does not exist`},
		{status.Error(codes.DeadlineExceeded, "late"), "DEADLINE_EXCEEDED: late"},
		{status.Error(codes.Code(42), "odd"), "Code(42): odd"},
		{errors.New("reading input: too long"), "reading input: too long"},
	} {
		if got := describeError(tc.err); got != tc.want {
			t.Errorf("describeError(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
