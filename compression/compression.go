package compression

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec is a compression codec; its numbers are Kafka's.
type Codec uint8

const (
	None   Codec = 0
	Gzip   Codec = 1
	Snappy Codec = 2
	LZ4    Codec = 3
	Zstd   Codec = 4
)

// Codecs are the codecs there are, None first.
var Codecs = []Codec{None, Gzip, Snappy, LZ4, Zstd}

var names = [...]string{None: "none", Gzip: "gzip", Snappy: "snappy", LZ4: "lz4", Zstd: "zstd"}

func (c Codec) String() string {
	if int(c) < len(names) {
		return names[c]
	}
	return fmt.Sprintf("codec %d", uint8(c))
}

// Valid reports whether c is a codec this package knows.
func (c Codec) Valid() bool { return int(c) < len(names) }

// Parse returns the codec named name ("none", "gzip", "snappy", "lz4",
// "zstd").
func Parse(name string) (Codec, error) {
	for c, n := range names {
		if n == name {
			return Codec(c), nil
		}
	}
	return None, fmt.Errorf("unknown compression %q: want none, gzip, snappy, lz4 or zstd", name)
}

// ErrTooLarge is a batch that decompresses to more than the limit given.
var ErrTooLarge = errors.New("compression: decompressed data over the limit")

// ErrCorrupt is data the codec cannot decompress.
var ErrCorrupt = errors.New("compression: corrupt data")

// Compress appends src compressed with c to dst. None appends src as is.
func Compress(dst, src []byte, c Codec) ([]byte, error) {
	switch c {
	case None:
		return append(dst, src...), nil
	case Snappy:
		n := s2.MaxEncodedLen(len(src))
		if n < 0 {
			return dst, fmt.Errorf("compression: %d bytes are too many for snappy", len(src))
		}
		start := len(dst)
		dst = grow(dst, n)
		out := s2.EncodeSnappy(dst[start:start+n], src)
		return dst[:start+len(out)], nil
	case Zstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	case Gzip:
		w := gzipWriters.Get().(*gzip.Writer)
		defer gzipWriters.Put(w)
		return compressStream(dst, src, w)
	case LZ4:
		w := lz4Writers.Get().(*lz4.Writer)
		defer lz4Writers.Put(w)
		return compressStream(dst, src, w)
	}
	return dst, fmt.Errorf("compression: unknown %v", c)
}

// streamWriter is a compressing writer that can start over (gzip's, lz4's).
type streamWriter interface {
	io.WriteCloser
	Reset(io.Writer)
}

// compressStream appends src compressed through w to dst.
func compressStream(dst, src []byte, w streamWriter) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w.Reset(buf)
	if _, err := w.Write(src); err != nil {
		return dst, err
	}
	if err := w.Close(); err != nil {
		return dst, err
	}
	return buf.Bytes(), nil
}

// Decompress appends src decompressed with c to dst, failing with
// ErrTooLarge past limit bytes of output and ErrCorrupt on data the codec
// refuses.
func Decompress(dst, src []byte, c Codec, limit int) ([]byte, error) {
	switch c {
	case None:
		if len(src) > limit {
			return dst, tooLarge(limit)
		}
		return append(dst, src...), nil
	case Snappy:
		// NB: Google's decoder, strict: s2's also takes S2 blocks, which
		// other languages' snappy libraries refuse.
		n, err := snappy.DecodedLen(src)
		if err != nil {
			return dst, fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
		}
		if n > limit {
			return dst, tooLarge(limit)
		}
		start := len(dst)
		dst = grow(dst, n)
		out, err := snappy.Decode(dst[start:start+n], src)
		if err != nil {
			return dst[:start], fmt.Errorf("%w: snappy: %v", ErrCorrupt, err)
		}
		return dst[:start+len(out)], nil
	case Zstd:
		d := zstdDecoders.Get().(*zstd.Decoder)
		defer zstdDecoders.Put(d)
		// NB: the frame header may declare its size: refuse a large one
		// before allocating it.
		var h zstd.Header
		if err := h.Decode(src); err == nil && h.HasFCS && h.FrameContentSize > uint64(limit) {
			return dst, tooLarge(limit)
		}
		return readAll(dst, d, src, c, limit, func(r io.Reader) error { return d.Reset(r) })
	case Gzip:
		r := gzipReaders.Get().(*gzip.Reader)
		defer gzipReaders.Put(r)
		return readAll(dst, r, src, c, limit, func(in io.Reader) error { return r.Reset(in) })
	case LZ4:
		r := lz4Readers.Get().(*lz4.Reader)
		defer lz4Readers.Put(r)
		return readAll(dst, r, src, c, limit, func(in io.Reader) error { r.Reset(in); return nil })
	}
	return dst, fmt.Errorf("compression: unknown %v", c)
}

// readAll decompresses src through r (once reset to read it), at most
// limit bytes.
func readAll(dst []byte, r io.Reader, src []byte, c Codec, limit int, reset func(io.Reader) error) ([]byte, error) {
	start := len(dst)
	if err := reset(bytes.NewReader(src)); err != nil {
		return dst, fmt.Errorf("%w: %v: %v", ErrCorrupt, c, err)
	}
	for {
		if len(dst) == cap(dst) {
			// NB: doubling, but never past one byte over the limit.
			dst = slices.Grow(dst, min(max(4096, len(dst)-start), start+limit+1-len(dst)))
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > limit {
			return dst[:start], tooLarge(limit)
		}
		if err == io.EOF {
			return dst, nil
		}
		if err != nil {
			return dst[:start], fmt.Errorf("%w: %v: %v", ErrCorrupt, c, err)
		}
	}
}

func tooLarge(limit int) error {
	return fmt.Errorf("%w of %d bytes", ErrTooLarge, limit)
}

// grow returns b extended by n bytes (the caller cuts it back to what it
// wrote).
func grow(b []byte, n int) []byte {
	return slices.Grow(b, n)[:len(b)+n]
}

// maxWindow bounds a zstd frame's window: 32 MiB + 64 KiB, the largest
// batch a broker stores.
const maxWindow = 32<<20 + 64<<10

var (
	zstdEncoderOnce sync.Once
	zstdEnc         *zstd.Encoder

	zstdDecoders = sync.Pool{New: func() any {
		// NB: one goroutine: batches are small, and the broker decodes
		// many at once.
		// NB: a frame may ask for a window of up to 3.75 TiB, which the
		// decoder would allocate whatever the output limit: no batch needs
		// more than the largest a broker stores.
		d, _ := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxWindow), zstd.WithDecoderMaxMemory(2*maxWindow))
		return d
	}}
	gzipWriters = sync.Pool{New: func() any { return gzip.NewWriter(nil) }}
	gzipReaders = sync.Pool{New: func() any { return new(gzip.Reader) }}
	lz4Writers  = sync.Pool{New: func() any { return lz4.NewWriter(nil) }}
	lz4Readers  = sync.Pool{New: func() any { return lz4.NewReader(nil) }}
)

// zstdEncoder is one encoder for every caller: EncodeAll is safe for
// concurrent use.
func zstdEncoder() *zstd.Encoder {
	zstdEncoderOnce.Do(func() {
		zstdEnc, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
	})
	return zstdEnc
}

// Set is a set of codecs: those a client decompresses, say.
type Set uint8

// SetOf returns the set of cs.
func SetOf(cs ...Codec) Set {
	var s Set
	for _, c := range cs {
		if c.Valid() {
			s |= 1 << c
		}
	}
	return s
}

// Has reports whether c is in s. None always is.
func (s Set) Has(c Codec) bool { return c == None || s&(1<<c) != 0 }
