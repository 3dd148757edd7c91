package segment

import (
	"bytes"
	"errors"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// crashFS is a recorded-sync model of one directory, after Pebble's strict
// in-memory file system and Jepsen's LazyFS: the log does its real I/O on a
// real directory (pwrite, fallocate, ftruncate, stores into mappings), and
// crashFS, as the package's fsObserver, records each file's content at its
// last fsync or fdatasync and the directory's entries at its last fsync.
// image computes what a power cut at that moment could leave on disk:
//
//   - directory entries created, renamed or removed since the directory's
//     last fsync each independently come back as they were, or not;
//   - each file keeps the bytes up to the first one that changed since its
//     last sync; after that, blocks (512 bytes) that changed come back each
//     independently as synced, as written, zeros or garbage, and the length
//     is the synced one, the current one or anything between. Blocks that
//     did not change are kept: a disk does not garble what it was not
//     writing.
//
// msync is not counted as a sync: it makes no promise about the file's size.
type crashFS struct {
	dir string
	// point, if set, is called at every operation the observer sees, before
	// and after it: a crash can come between any two.
	point func(what string)

	mu      sync.Mutex
	live    map[string]*simFile // by base name, as the directory is now
	durable map[string]*simFile // as of the directory's last fsync
}

// simFile is one file (inode) of a crashFS.
type simFile struct {
	path   string // while live
	live   bool
	synced []byte // content at the last sync; nil when never synced
	last   []byte // content when it was unlinked or replaced
}

// newCrashFS models dir as it is now, all of it durable: a directory just
// recovered from an image is what the disk holds.
func newCrashFS(t testing.TB, dir string) *crashFS {
	c := &crashFS{dir: filepath.Clean(dir), live: map[string]*simFile{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		path := filepath.Join(c.dir, e.Name())
		c.live[e.Name()] = &simFile{path: path, live: true, synced: mustRead(path)}
	}
	c.durable = maps.Clone(c.live)
	return c
}

func mustRead(path string) []byte {
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		panic(err)
	}
	return b
}

// name returns path's base name if it is in c's directory.
func (c *crashFS) name(path string) (string, bool) {
	if filepath.Dir(path) != c.dir {
		return "", false
	}
	return filepath.Base(path), true
}

func (c *crashFS) at(what string) {
	if c.point != nil {
		c.point(what)
	}
}

func (c *crashFS) created(path string) {
	name, ok := c.name(path)
	if !ok {
		return
	}
	c.mu.Lock()
	if c.live[name] == nil {
		c.live[name] = &simFile{path: path, live: true}
	}
	c.mu.Unlock()
	c.at("created " + name)
}

func (c *crashFS) removing(path string) {
	name, ok := c.name(path)
	if !ok {
		return
	}
	c.at("removing " + name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if f := c.live[name]; f != nil {
		f.last, f.live = mustRead(path), false
		delete(c.live, name)
	}
}

func (c *crashFS) renaming(oldPath, newPath string) {
	oldName, ok1 := c.name(oldPath)
	newName, ok2 := c.name(newPath)
	if !ok1 || !ok2 {
		return
	}
	c.at("renaming " + oldName)
	c.mu.Lock()
	if f := c.live[newName]; f != nil {
		f.last, f.live = mustRead(newPath), false
	}
	f := c.live[oldName]
	f.path = newPath
	c.live[newName] = f
	delete(c.live, oldName)
	c.mu.Unlock()
	// NB: no crash point here: the rename has not happened yet.
}

func (c *crashFS) synced(path string) {
	name, ok := c.name(path)
	if !ok {
		return
	}
	c.at("syncing " + name)
	c.mu.Lock()
	if f := c.live[name]; f != nil {
		f.synced = mustRead(path)
	}
	c.mu.Unlock()
	c.at("synced " + name)
}

func (c *crashFS) dirSynced(dir string) {
	if dir != c.dir {
		return
	}
	c.at("syncing dir")
	c.mu.Lock()
	c.durable = maps.Clone(c.live)
	c.mu.Unlock()
	c.at("synced dir")
}

// image returns the files a power cut now could leave, by base name.
func (c *crashFS) image(rng *rand.Rand) map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	img := map[string][]byte{}
	all := maps.Clone(c.durable)
	maps.Copy(all, c.live)
	// NB: sorted, so that a seed replays: the choices draw from rng.
	for _, name := range slices.Sorted(maps.Keys(all)) {
		f := c.live[name]
		if d := c.durable[name]; d != f && rng.IntN(2) == 0 {
			f = d
		}
		if f == nil {
			continue
		}
		current := f.last
		if f.live {
			current = mustRead(f.path)
		}
		img[name] = garble(rng, f.synced, current)
	}
	return img
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

// writeImage lays img out in a new directory dir.
func writeImage(t testing.TB, dir string, img map[string][]byte) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range img {
		writeFile(t, filepath.Join(dir, name), b)
	}
}

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
