package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
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
}

// normalizeQuickstart replaces the wildcards in a command's output by
// their names.
func normalizeQuickstart(out string) string {
	for _, w := range quickstartWildcards {
		out = w.pattern.ReplaceAllString(out, w.name)
	}
	return out
}

// readQuickstart extracts the console block that follows the quickstart
// marker in README.md: "$ " lines are commands, the lines under each are
// what it prints, all of it, in order.
func readQuickstart(t *testing.T) []quickstartStep {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "<!-- quickstart")
	if !ok {
		t.Fatal("README.md has no <!-- quickstart --> marker")
	}
	_, rest, ok = strings.Cut(rest, "```console\n")
	if !ok {
		t.Fatal("no ```console block after the quickstart marker")
	}
	block, _, ok := strings.Cut(rest, "```")
	if !ok {
		t.Fatal("quickstart block is not closed")
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
		t.Fatalf("quickstart block has only %d commands", len(steps))
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
	steps := readQuickstart(t)
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
