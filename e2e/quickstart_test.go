package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// quickstartStep is one command of the README's quickstart and the lines
// the README shows under it.
type quickstartStep struct {
	command string
	expect  []string
}

// readQuickstart extracts the console block that follows the quickstart
// marker in README.md: "$ " lines are commands, the lines under each are
// what it prints (a subset, in any order).
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
// error), print every line the README shows under it, and print nothing
// where the README shows nothing. Only the broker address differs: the
// test's broker listens on a port the kernel chose.
func TestReadmeQuickstart(t *testing.T) {
	steps := readQuickstart(t)
	b := startBroker(t, t.TempDir())
	env := append(os.Environ(), "PATH="+bins.dir+string(os.PathListSeparator)+os.Getenv("PATH"), "RUNNEL_BROKER="+b.addr)
	for _, s := range steps {
		command := strings.ReplaceAll(s.command, "127.0.0.1:7400", b.addr)
		out, err := runShell(t, env, command)
		showsError := false
		for _, want := range s.expect {
			showsError = showsError || strings.HasPrefix(want, "Code: ")
			if !strings.Contains(out, strings.TrimSpace(want)) {
				t.Errorf("README quickstart: %q printed:\n%s\nwhich lacks the README's line %q", s.command, out, want)
			}
		}
		if err != nil && !showsError {
			t.Errorf("README quickstart: %q failed: %v\n%s", s.command, err, out)
		}
		if err == nil && showsError {
			t.Errorf("README quickstart: %q succeeded; the README shows an error", s.command)
		}
		if len(s.expect) == 0 && strings.TrimSpace(out) != "" {
			t.Errorf("README quickstart: %q printed %q; the README shows nothing", s.command, out)
		}
	}
}
