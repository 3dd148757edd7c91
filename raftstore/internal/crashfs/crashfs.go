// Package crashfs is the power-loss tests' model of what a power cut
// leaves of a directory tree, after Pebble's strict in-memory file system
// and Jepsen's LazyFS. The code under test does its real I/O on a real
// directory (pwrite, fallocate, ftruncate, stores into mappings); an FS, as
// package fsops's Observer, records each file's content at its last fsync
// or fdatasync and each directory's entries at its last fsync, and Image
// computes what a power cut at that moment could leave on disk:
//
//   - directory entries created, renamed or removed since their
//     directory's last fsync each independently come back as they were, or
//     not (a directory whose own entry does not come back takes everything
//     in it along);
//   - each file keeps the bytes up to the first one that changed since its
//     last sync; after that, blocks (512 bytes) that changed come back each
//     independently as synced, as written, zeros or garbage, and the length
//     is the synced one, the current one or anything between. Blocks that
//     did not change are kept: a disk does not garble what it was not
//     writing.
//
// msync is not counted as a sync: it makes no promise about the file's size.
//
// The operations may come from several goroutines: removals and renames
// run under the model's lock, so that an image never sees one half done.
package crashfs

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/runnel-broker/runnel/raftstore/internal/fsops"
)

// FS models the tree under one directory, its root. Operations on paths
// outside it are not recorded.
type FS struct {
	root string
	// Point, if set, is called at every operation the observer sees, before
	// and after it: a crash can come between any two. It may be called from
	// several goroutines at once, never with the model's lock held.
	Point func(what string)

	mu  sync.Mutex
	top *node
}

// node is one file (inode) or directory of an FS.
type node struct {
	dir    bool
	parent *node  // where it is, while live
	name   string // its name in parent, while live
	live   bool

	// A file's content at the last sync (nil when never synced), and when
	// it was unlinked or replaced.
	synced, last []byte
	// A directory's entries as they are now (as they were when it was
	// removed), and as of its last fsync.
	ents, durable map[string]*node
}

// New models root as it is now, all of it durable (a directory just
// recovered from an image is what the disk holds).
func New(t testing.TB, root string) *FS {
	t.Helper()
	c := &FS{root: filepath.Clean(root)}
	var err error
	if c.top, err = scan(nil, "", c.root); err != nil {
		t.Fatal(err)
	}
	return c
}

func scan(parent *node, name, path string) (*node, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	n := &node{dir: fi.IsDir(), parent: parent, name: name, live: true}
	if !n.dir {
		n.synced = mustRead(path)
		return n, nil
	}
	n.ents = map[string]*node{}
	ents, err := os.ReadDir(path)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if n.ents[e.Name()], err = scan(n, e.Name(), filepath.Join(path, e.Name())); err != nil {
			return nil, err
		}
	}
	n.durable = maps.Clone(n.ents)
	return n, nil
}

// Root is the directory the FS models.
func (c *FS) Root() string { return c.root }

// Install makes c the observer of package fsops until the test ends.
func (c *FS) Install(t testing.TB) {
	t.Helper()
	if prev := fsops.SetObserver(c); prev != nil {
		fsops.SetObserver(prev)
		t.Fatal("crashfs: an observer is already set")
	}
	t.Cleanup(func() { fsops.SetObserver(nil) })
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		panic(err)
	}
	return b
}

// rel returns path relative to the root, false if it is outside.
func (c *FS) rel(path string) (string, bool) {
	r, err := filepath.Rel(c.root, filepath.Clean(path))
	if err != nil || r == ".." || len(r) > 2 && r[:3] == ".."+string(filepath.Separator) {
		return "", false
	}
	return r, true
}

// lookup returns the live node at path (nil if the model has none), with
// c.mu held.
func (c *FS) lookup(path string) *node {
	r, ok := c.rel(path)
	if !ok {
		return nil
	}
	n := c.top
	if r == "." {
		return n
	}
	for _, part := range splitPath(r) {
		if n == nil || !n.dir {
			return nil
		}
		n = n.ents[part]
	}
	return n
}

func splitPath(r string) []string {
	var parts []string
	for r != "." && r != "" {
		d, b := filepath.Split(r)
		parts = append(parts, b)
		r = filepath.Clean(d)
		if d == "" {
			break
		}
	}
	slices.Reverse(parts)
	return parts
}

// path is where a live node is now.
func (c *FS) path(n *node) string {
	if n.parent == nil {
		return c.root
	}
	return filepath.Join(c.path(n.parent), n.name)
}

func (c *FS) at(what string) {
	if c.Point != nil {
		c.Point(what)
	}
}

// Created is fsops.Observer's.
func (c *FS) Created(path string) {
	r, ok := c.rel(path)
	if !ok {
		return
	}
	c.mu.Lock()
	parent := c.lookup(filepath.Dir(path))
	name := filepath.Base(path)
	if parent == nil || !parent.dir {
		c.mu.Unlock()
		return
	}
	if parent.ents[name] == nil {
		n := &node{parent: parent, name: name, live: true}
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			n.dir, n.ents, n.durable = true, map[string]*node{}, map[string]*node{}
		}
		parent.ents[name] = n
	}
	c.mu.Unlock()
	c.at("created " + r)
}

// gone records that n and everything in it are unlinked (or replaced), as
// they are now.
func (c *FS) gone(n *node) {
	if n.dir {
		for _, e := range n.ents {
			c.gone(e)
		}
	} else {
		n.last = mustRead(c.path(n))
	}
	n.live = false
}

// Remove is fsops.Observer's.
func (c *FS) Remove(path string, remove func() error) error {
	r, ok := c.rel(path)
	if !ok {
		return remove()
	}
	c.at("removing " + r)
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.lookup(path)
	if n == nil || n == c.top {
		return remove()
	}
	// NB: the content before the removal, as a crash that keeps the entry
	// finds it.
	parent, name := n.parent, n.name
	c.gone(n)
	err := remove()
	if err != nil {
		c.revive(n)
		return err
	}
	delete(parent.ents, name)
	return nil
}

// revive undoes gone after a removal that failed.
func (c *FS) revive(n *node) {
	n.live = true
	for _, e := range n.ents {
		c.revive(e)
	}
}

// Rename is fsops.Observer's.
func (c *FS) Rename(oldPath, newPath string, rename func() error) error {
	r, ok1 := c.rel(oldPath)
	_, ok2 := c.rel(newPath)
	if !ok1 || !ok2 {
		return rename()
	}
	c.at("renaming " + r)
	c.mu.Lock()
	defer c.mu.Unlock()
	n, replaced := c.lookup(oldPath), c.lookup(newPath)
	to := c.lookup(filepath.Dir(newPath))
	if n == nil || to == nil || !to.dir {
		return rename()
	}
	if replaced != nil && replaced != n {
		c.gone(replaced)
	}
	if err := rename(); err != nil {
		if replaced != nil {
			c.revive(replaced)
		}
		return err
	}
	delete(n.parent.ents, n.name)
	n.parent, n.name = to, filepath.Base(newPath)
	to.ents[n.name] = n
	// NB: no crash point after: the next operation's comes first.
	return nil
}

// Synced is fsops.Observer's.
func (c *FS) Synced(path string) {
	r, ok := c.rel(path)
	if !ok {
		return
	}
	c.at("syncing " + r)
	c.mu.Lock()
	if n := c.lookup(path); n != nil && !n.dir {
		n.synced = mustRead(path)
	}
	c.mu.Unlock()
	c.at("synced " + r)
}

// DirSynced is fsops.Observer's.
func (c *FS) DirSynced(dir string) {
	r, ok := c.rel(dir)
	if !ok {
		return
	}
	c.at("syncing dir " + r)
	c.mu.Lock()
	if n := c.lookup(dir); n != nil && n.dir {
		n.durable = maps.Clone(n.ents)
	}
	c.mu.Unlock()
	c.at("synced dir " + r)
}

// Image is what a power cut left under the root: directories and files by
// path relative to it.
type Image struct {
	Dirs  []string
	Files map[string][]byte
}

// Image returns what a power cut now could leave.
func (c *FS) Image(rng *rand.Rand) Image {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := Image{Files: map[string][]byte{}}
	c.image(rng, c.top, "", &img)
	return img
}

func (c *FS) image(rng *rand.Rand, dir *node, prefix string, img *Image) {
	all := maps.Clone(dir.durable)
	maps.Copy(all, dir.ents)
	// NB: sorted, so that a seed replays: the choices draw from rng.
	for _, name := range slices.Sorted(maps.Keys(all)) {
		n := dir.ents[name]
		if d := dir.durable[name]; d != n && rng.IntN(2) == 0 {
			n = d
		}
		if n == nil {
			continue
		}
		r := filepath.Join(prefix, name)
		if n.dir {
			img.Dirs = append(img.Dirs, r)
			c.image(rng, n, r, img)
			continue
		}
		current := n.last
		if n.live {
			current = mustRead(c.path(n))
		}
		img.Files[r] = garble(rng, n.synced, current)
	}
}

// crashBlock is the unit in which unsynced writes survive a crash.
const crashBlock = 512

// garble returns what a crash may leave of a file whose content was synced
// at its last sync and is current now.
func garble(rng *rand.Rand, synced, current []byte) []byte {
	if bytes.Equal(synced, current) {
		return bytes.Clone(current)
	}
	switch rng.IntN(4) {
	case 0:
		return bytes.Clone(synced) // nothing unsynced survives
	case 1:
		return bytes.Clone(current) // everything does (as after a process crash)
	}
	lo, hi := min(len(synced), len(current)), max(len(synced), len(current))
	length := lo + rng.IntN(hi-lo+1)
	switch rng.IntN(3) {
	case 0:
		length = len(synced)
	case 1:
		length = len(current)
	}
	same := 0 // bytes that did not change since the sync
	for same < lo && synced[same] == current[same] {
		same++
	}
	out := make([]byte, length)
	copy(out, current[:min(same, length)])
	for pos := same; pos < length; {
		end := min(length, (pos/crashBlock+1)*crashBlock)
		s, c := window(synced, pos, end), window(current, pos, end)
		switch {
		case bytes.Equal(s, c):
			copy(out[pos:end], c)
		default:
			switch rng.IntN(4) {
			case 0:
				copy(out[pos:end], s)
			case 1:
				copy(out[pos:end], c)
			case 2: // zeros: the write never happened in a block the file had
			case 3:
				for i := pos; i < end; i++ {
					out[i] = byte(rng.Uint32())
				}
			}
		}
		pos = end
	}
	return out
}

// window returns b[pos:end], padded with zeros past the end of b.
func window(b []byte, pos, end int) []byte {
	w := make([]byte, end-pos)
	if pos < len(b) {
		copy(w, b[pos:min(end, len(b))])
	}
	return w
}

// Write lays img out under a new directory dir.
func Write(t testing.TB, dir string, img Image) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range img.Dirs { // parents first
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, b := range img.Files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Runs returns the seed of a power-loss test's first run and how many runs
// to make: a seed from the clock and defaultRuns, unless
// RUNNEL_POWERLOSS_SEED replays one seed (one run) or RUNNEL_POWERLOSS_RUNS
// sets the count. Run r uses seed+r.
func Runs(t testing.TB, defaultRuns int) (seed uint64, runs int) {
	t.Helper()
	seed, runs = uint64(time.Now().UnixNano()), defaultRuns
	if s := os.Getenv("RUNNEL_POWERLOSS_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("RUNNEL_POWERLOSS_SEED: %v", err)
		}
		seed, runs = n, 1
	}
	if s := os.Getenv("RUNNEL_POWERLOSS_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("RUNNEL_POWERLOSS_RUNS: %v", err)
		}
		runs = n
	}
	return seed, runs
}

// MemTempDir is a temporary directory in memory when the machine has one:
// the power-loss tests' thousands of recoveries fsync, which a disk makes
// slow (and the model, not the disk, decides what survives anyway).
func MemTempDir(t testing.TB) string {
	t.Helper()
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		dir, err := os.MkdirTemp("/dev/shm", "runnel-powerloss-")
		if err == nil {
			t.Cleanup(func() { os.RemoveAll(dir) })
			return dir
		}
	}
	return t.TempDir()
}
