package raftstore

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"testing"
)

// FuzzReadState feeds the state file reader arbitrary bytes: whatever they
// are, it returns a state or an error wrapping ErrCorrupt, never panics,
// and a state it returns is encoded as writeState writes it and decoded
// again equal. With fixCRC the checksum is made right, so that the fuzzer gets
// past it to the chunks and the protobuf inside.
func FuzzReadState(f *testing.F) {
	valid, err := encodeState(goldenState())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, false)
	empty, err := encodeState(persistentState{})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(empty, false)
	// An older file, without the conf index.
	f.Add(valid[:len(valid)-12], true)
	// A conf index chunk of the wrong length, a chunk longer than the file.
	f.Add(append(valid[:len(valid)-12:len(valid)-12], 0, 0, 0, 4, 1, 2, 3, 4), true)
	f.Add(append([]byte("RNST\x00\x00\x00\x00"), 0xff, 0xff, 0xff, 0xff), true)
	f.Add([]byte("RNST"), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, b []byte, fixCRC bool) {
		if fixCRC && len(b) >= 8 {
			copy(b, stateMagic[:])
			binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(b[8:], castagnoli))
		}
		st, err := decodeState(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeState(%x) = %v, want an ErrCorrupt", b, err)
			}
			return
		}
		// NB: encodeState is what writeState writes; the file itself is
		// TestStateFile's and TestGoldenStateFile's (an fsync per input
		// would starve the fuzzer).
		b2, err := encodeState(st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeState(b2)
		if err != nil || !statesEqual(got, st) {
			t.Fatalf("state %+v written back reads %+v (%v)", st, got, err)
		}
	})
}
