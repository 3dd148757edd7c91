package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden instead of comparing with them")

// Check compares got with testdata/name, or writes it there with -update,
// and returns the golden bytes, for the test to decode them back.
func Check(t testing.TB, name string, got []byte) []byte {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test with -update after the package to create it)", err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < min(len(got), len(want)) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: the format changed: %d bytes written, %d in the golden file, first difference at byte %d\n"+
			"got  %x\nwant %x\n(if the change is deliberate, run go test with -update after the package and review the diff)",
			path, len(got), len(want), i, got, want)
	}
	return want
}
