package crashfs

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// TestGarble checks the model itself: the synced prefix always survives,
// unchanged blocks survive, and every outcome the fault model allows occurs.
func TestGarble(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	synced := bytes.Repeat([]byte{1}, 3*crashBlock+100)
	current := bytes.Clone(synced)
	current = append(current, bytes.Repeat([]byte{2}, 4*crashBlock)...)
	var laterNotEarlier, shorter, longer bool
	for range 2000 {
		out := garble(rng, synced, current)
		if len(out) < len(synced) || !bytes.Equal(out[:len(synced)], synced) {
			t.Fatal("synced bytes lost")
		}
		if len(out) < len(current) {
			shorter = true
		} else {
			longer = true
		}
		// A block of the new data kept after one lost.
		if len(out) >= 5*crashBlock && out[3*crashBlock+200] != 2 && out[4*crashBlock+200] == 2 {
			laterNotEarlier = true
		}
	}
	if !laterNotEarlier || !shorter || !longer {
		t.Fatalf("outcomes missing: later-not-earlier %v, shorter %v, full %v", laterNotEarlier, shorter, longer)
	}
}

// TestTree checks the model of directories: a directory's entry, and so
// everything in it, survives only once its parent is synced; a file's
// entry only once its directory is; a rename replaces whole or not at all.
func TestTree(t *testing.T) {
	root := MemTempDir(t)
	c := New(t, root)
	c.Install(t)
	sub := filepath.Join(root, "p")
	if err := fsops.MkdirAll(sub); err != nil {
		t.Fatal(err)
	}
	write := func(name, content string) {
		f, err := fsops.OpenFile(filepath.Join(sub, name), os.O_WRONLY|os.O_CREATE|os.O_TRUNC)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString(content); err != nil {
			t.Fatal(err)
		}
		if err := errors.Join(fsops.Fsync(f), f.Close()); err != nil {
			t.Fatal(err)
		}
	}
	write("state", "old")
	if err := fsops.SyncDir(sub); err != nil {
		t.Fatal(err)
	}
	outcomes := func() map[string]bool {
		seen := map[string]bool{}
		rng := rand.New(rand.NewPCG(3, 4))
		for range 200 {
			img := c.Image(rng)
			seen[fmt.Sprintf("dirs %v state %q", img.Dirs, img.Files["p/state"])] = true
		}
		return seen
	}
	want := map[string]bool{`dirs [] state ""`: true, `dirs [p] state "old"`: true}
	if got := outcomes(); !maps.Equal(got, want) {
		t.Fatalf("before the root's sync: %v, want %v", got, want)
	}
	if err := fsops.SyncDir(root); err != nil {
		t.Fatal(err)
	}
	write("state.tmp", "new")
	if err := fsops.Rename(filepath.Join(sub, "state.tmp"), filepath.Join(sub, "state")); err != nil {
		t.Fatal(err)
	}
	want = map[string]bool{`dirs [p] state "old"`: true, `dirs [p] state "new"`: true}
	if got := outcomes(); !maps.Equal(got, want) {
		t.Fatalf("after the rename: %v, want %v", got, want)
	}
	if err := fsops.SyncDir(sub); err != nil {
		t.Fatal(err)
	}
	want = map[string]bool{`dirs [p] state "new"`: true}
	if got := outcomes(); !maps.Equal(got, want) {
		t.Fatalf("after the directory's sync: %v, want %v", got, want)
	}
}
