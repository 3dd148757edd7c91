package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// quickstartStep is one command of the README's quickstart and the lines
// the README shows under it: all it prints.
type quickstartStep struct {
	command string
	expect  []string
}

// The quickstart's wildcards, the only parts of the output that may differ
// from the README's (the marker comment above the block says so): ids and
// timestamps, which no two runs share.
var quickstartWildcards = []struct {
	pattern *regexp.Regexp
	name    string
}{
	{regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`), "<uuid>"},
	{regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z`), "<timestamp>"},
	// NB: the broker's, and its clients' (whose ports the kernel chooses,
	// always five digits).
	{regexp.MustCompile(`127\.0\.0\.1:\d+`), "<address>"},
}

// normalizeQuickstart replaces the wildcards in a command's output by
// their names.
func normalizeQuickstart(out string) string {
	for _, w := range quickstartWildcards {
		out = w.pattern.ReplaceAllString(out, w.name)
	}
	return out
}

// readQuickstart extracts the console block that follows a marker
// ("<!-- quickstart", "<!-- groups") in README.md: "$ " lines are
// commands, the lines under each are what it prints, all of it, in order.
func readQuickstart(t *testing.T, marker string) []quickstartStep {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), marker)
	if !ok {
		t.Fatalf("README.md has no %s marker", marker)
	}
	_, rest, ok = strings.Cut(rest, "```console\n")
	if !ok {
		t.Fatalf("no ```console block after the %s marker", marker)
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatalf("the %s block is not closed", marker)
	}
	var steps []quickstartStep
	for _, line := range strings.Split(strings.TrimRight(block, "\n"), "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			steps = append(steps, quickstartStep{command: cmd})
			continue
		}
		if len(steps) == 0 {
			t.Fatalf("quickstart block starts with %q, not a command", line)
		}
		steps[len(steps)-1].expect = append(steps[len(steps)-1].expect, line)
	}
	if len(steps) < 5 {
		t.Fatalf("the %s block has only %d commands", marker, len(steps))
	}
	return steps
}

// TestReadmeQuickstart runs the README's quickstart, as written, against a
// fresh broker: every command must succeed (but the one showing an
// error) and print exactly the lines the README shows under it, in order,
// nothing more, but for the wildcards (ids, timestamps) and the order of
// the records runnel consume prints, which interleaves partitions. The
// broker address differs too: the test's broker listens on a port the
// kernel chose.
func TestReadmeQuickstart(t *testing.T) {
	steps := readQuickstart(t, "<!-- quickstart")
	b := startBroker(t, t.TempDir())
	env := append(os.Environ(), "PATH="+bins.dir+string(os.PathListSeparator)+os.Getenv("PATH"), "RUNNEL_BROKER="+b.addr)
	for _, s := range steps {
		command := strings.ReplaceAll(s.command, "127.0.0.1:7400", b.addr)
		out, err := runShell(t, env, command)
		showsError := len(s.expect) > 0 && s.expect[0] == "ERROR:"
		if err != nil && !showsError {
			t.Errorf("README quickstart: %q failed: %v\n%s", s.command, err, out)
		}
		if err == nil && showsError {
			t.Errorf("README quickstart: %q succeeded; the README shows an error", s.command)
		}
		got := normalizeQuickstart(strings.TrimSuffix(out, "\n"))
		want := normalizeQuickstart(strings.Join(s.expect, "\n"))
		if strings.HasPrefix(s.command, "runnel consume ") {
			// NB: each partition is read on its own, so the records of
			// different partitions interleave as they arrive: the lines
			// must be the README's, in any order.
			got, want = sortedLines(got), sortedLines(want)
		}
		if got != want {
			t.Errorf("README quickstart: %q printed (wildcards named):\n%s\nthe README shows:\n%s", s.command, got, want)
		}
	}
}

// sortedLines returns text's lines sorted.
func sortedLines(text string) string {
	lines := strings.Split(text, "\n")
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}

// TestReadmeGroups runs the README's consumer groups block against a
// fresh broker, as TestReadmeQuickstart does the quickstart, but for
// what the block's marker says: a command ending in & runs in the
// background until the test ends (its output unchecked), and group
// describe is asked again until it prints what the README shows (its
// members join, and read what is produced, in their own time), its lines
// in any order (the members' rows are sorted by their random ids).
func TestReadmeGroups(t *testing.T) {
	steps := readQuickstart(t, "<!-- groups")
	b := startBroker(t, t.TempDir())
	env := append(os.Environ(), "PATH="+bins.dir+string(os.PathListSeparator)+os.Getenv("PATH"), "RUNNEL_BROKER="+b.addr)
	for _, s := range steps {
		command := strings.ReplaceAll(s.command, "127.0.0.1:7400", b.addr)
		if background, ok := strings.CutSuffix(command, " &"); ok {
			cmd := exec.Command("bash", "-c", "exec "+background)
			cmd.Env = env
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
			continue
		}
		want := sortedLines(normalizeQuickstart(strings.Join(s.expect, "\n")))
		run := func() error {
			out, err := runShell(t, env, command)
			if err != nil {
				return fmt.Errorf("%q failed: %v\n%s", s.command, err, out)
			}
			if got := sortedLines(normalizeQuickstart(strings.TrimSuffix(out, "\n"))); got != want {
				return fmt.Errorf("%q printed (wildcards named, lines sorted):\n%s\nthe README shows:\n%s", s.command, got, want)
			}
			return nil
		}
		if strings.HasPrefix(s.command, "runnel group describe ") {
			waitFor(t, 30*time.Second, "README groups: group describe as shown", run)
		} else if err := run(); err != nil {
			t.Errorf("README groups: %v", err)
		}
	}
}
