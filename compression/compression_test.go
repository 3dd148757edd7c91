package compression

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"runtime"
	"testing"

	"github.com/klauspost/compress/s2"
)

func TestRoundTrip(t *testing.T) {
	random := make([]byte, 100_000)
	rand.Read(random)
	json := bytes.Repeat([]byte(`{"user":"alice","action":"login","ok":true}`), 2000)
	for _, c := range Codecs {
		for name, src := range map[string][]byte{"empty": nil, "random": random, "json": json} {
			t.Run(fmt.Sprintf("%v/%s", c, name), func(t *testing.T) {
				z, err := Compress([]byte("prefix"), src, c)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.HasPrefix(z, []byte("prefix")) {
					t.Fatal("Compress did not append")
				}
				if c != None && name == "json" && len(z) > len(src)/5 {
					t.Fatalf("%v compressed repetitive JSON to %d of %d bytes", c, len(z), len(src))
				}
				got, err := Decompress([]byte("x"), z[len("prefix"):], c, len(src))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got[1:], src) || got[0] != 'x' {
					t.Fatalf("round trip: %d bytes, want %d", len(got)-1, len(src))
				}
				if len(src) > 0 {
					if _, err := Decompress(nil, z[len("prefix"):], c, len(src)-1); !errors.Is(err, ErrTooLarge) {
						t.Fatalf("a limit one byte short: %v, want ErrTooLarge", err)
					}
				}
			})
		}
	}
}

// TestCorrupt: garbage and truncated data fail, never panic.
func TestCorrupt(t *testing.T) {
	src := bytes.Repeat([]byte("runnel "), 1000)
	for _, c := range Codecs[1:] {
		z, err := Compress(nil, src, c)
		if err != nil {
			t.Fatal(err)
		}
		for name, bad := range map[string][]byte{
			"garbage":   []byte("this is not compressed data at all"),
			"truncated": z[:len(z)/2],
			"flipped":   append(append([]byte{}, z[:len(z)/2]...), append([]byte{z[len(z)/2] ^ 0xff}, z[len(z)/2+1:]...)...),
		} {
			got, err := Decompress(nil, bad, c, 1<<20)
			if err == nil && bytes.Equal(got, src) {
				t.Fatalf("%v %s: decompressed to the original", c, name)
			}
			if err != nil && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("%v %s: %v, want ErrCorrupt", c, name, err)
			}
		}
	}
}

// TestBomb: a small input that decompresses huge stops at the limit.
func TestBomb(t *testing.T) {
	zeros := make([]byte, 64<<20)
	for _, c := range Codecs[1:] {
		z, err := Compress(nil, zeros, c)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decompress(nil, z, c, 1<<20); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("%v: %d bytes that decompress to 64 MiB, under a 1 MiB limit: %v", c, len(z), err)
		}
	}
}

func FuzzDecompress(f *testing.F) {
	for _, c := range Codecs {
		z, _ := Compress(nil, []byte("some records, some records"), c)
		f.Add(uint8(c), z)
	}
	f.Fuzz(func(t *testing.T, c uint8, data []byte) {
		codec := Codec(c % uint8(len(Codecs)))
		out, err := Decompress(nil, data, codec, 1<<16)
		if err == nil && len(out) > 1<<16 {
			t.Fatalf("%d bytes out, over the limit", len(out))
		}
	})
}

// BenchmarkCodecs compresses and decompresses 1 MiB batches, of random
// bytes and of JSON lines whose values vary, as a producer's batch of
// records would hold.
func BenchmarkCodecs(b *testing.B) {
	random := make([]byte, 1<<20)
	rand.Read(random)
	var json []byte
	for i := 0; len(json) < 1<<20; i++ {
		json = fmt.Appendf(json, `{"id":%d,"user":"user-%d","event":"page_view","path":"/products/%d","ms":%d}`+"\n",
			1_000_000+i*7919, i*104729%9973, i*31%1000, i*i%977)
	}
	for name, src := range map[string][]byte{"json": json[:1<<20], "random": random} {
		for _, c := range Codecs[1:] {
			z, _ := Compress(nil, src, c)
			b.Run(name+"/"+c.String()+"/compress", func(b *testing.B) {
				b.SetBytes(int64(len(src)))
				var dst []byte
				for b.Loop() {
					dst, _ = Compress(dst[:0], src, c)
				}
			})
			b.Run(name+"/"+c.String()+"/decompress", func(b *testing.B) {
				b.SetBytes(int64(len(src)))
				var dst []byte
				for b.Loop() {
					dst, _ = Decompress(dst[:0], z, c, len(src))
				}
			})
		}
	}
}

// TestForgedFrames: an S2 block sent as snappy is refused (other
// languages' snappy cannot read it), and a zstd frame asking for a huge
// window fails without allocating it.
func TestForgedFrames(t *testing.T) {
	src := bytes.Repeat([]byte("runnel records "), 4096)
	if _, err := Decompress(nil, s2.Encode(nil, src), Snappy, 1<<20); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("an S2 block as snappy: %v, want ErrCorrupt", err)
	}
	// A frame header: magic, a descriptor with no content size and a
	// window of 2^(10+27) bytes, then a block that never ends.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 27 << 3, 0x01, 0x00, 0x00}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := Decompress(nil, frame, Zstd, 1<<20); err == nil {
		t.Fatal("a frame asking for a 128 GiB window decoded")
	}
	runtime.ReadMemStats(&after)
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
		t.Fatalf("a forged zstd frame allocated %d MiB", grew>>20)
	}
}
