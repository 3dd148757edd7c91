package raftstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"

	"go.etcd.io/raft/v3/raftpb"
)

// The state file, raft.state, holds what raft must find again after a
// restart besides the log: the HardState (term, vote, commit) and the
// ConfState (voters). Layout, big endian:
//
//	0   4  magic "RNST"
//	4   4  CRC32C of everything after this field
//	8   4  length H of the HardState
//	12  H  HardState (raftpb, protobuf)
//	..  4  length C of the ConfState
//	..  C  ConfState (raftpb, protobuf)
//	..  4  8, the length of the conf index (absent in older files: 0)
//	..  8  the index of the last configuration change ConfState includes
//
// It is replaced atomically: write raft.state.tmp, fsync, rename, fsync the
// directory, so a crash leaves the old or the new file, never a mix.
//
// NB: term and vote must be durable before raft sends a message that
// depends on them, so they are saved synchronously whenever they change,
// and no message to a peer leaves at a term not saved yet (Partition.send).
// The commit index is saved lazily (at most every stateSaveInterval, and on
// close): a stale commit index is safe because it is only ever lower than
// the truth, and raft commits the rest again once a leader is elected.
const stateFileName = "raft.state"

var stateMagic = [4]byte{'R', 'N', 'S', 'T'}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// persistentState is the content of the state file.
type persistentState struct {
	hard raftpb.HardState
	conf raftpb.ConfState
	// confIndex is the raft index of the last configuration change conf
	// includes: applying the log again skips the changes up to it.
	confIndex uint64
}

// readState reads dir's state file; ok is false when there is none (a new
// partition).
func readState(dir string) (st persistentState, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFileName))
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, err
	}
	st, err = decodeState(b)
	return st, err == nil, err
}

// decodeState decodes a state file's content; a malformed one, down to
// the protobuf inside a right checksum, is ErrCorrupt.
func decodeState(b []byte) (st persistentState, err error) {
	if len(b) < 12 || [4]byte(b[:4]) != stateMagic {
		return st, fmt.Errorf("%s: bad header: %w", stateFileName, ErrCorrupt)
	}
	if crc32.Checksum(b[8:], castagnoli) != binary.BigEndian.Uint32(b[4:8]) {
		return st, fmt.Errorf("%s: checksum mismatch: %w", stateFileName, ErrCorrupt)
	}
	rest := b[8:]
	hs, rest, err := readChunk(rest)
	if err != nil {
		return st, err
	}
	cs, rest, err := readChunk(rest)
	if err != nil {
		return st, err
	}
	if len(rest) > 0 {
		ci, _, err := readChunk(rest)
		if err != nil {
			return st, err
		}
		if len(ci) != 8 {
			return st, fmt.Errorf("%s: conf index of %d bytes: %w", stateFileName, len(ci), ErrCorrupt)
		}
		st.confIndex = binary.BigEndian.Uint64(ci)
	}
	if err := st.hard.Unmarshal(hs); err != nil {
		return st, fmt.Errorf("%s: hard state: %w: %w", stateFileName, err, ErrCorrupt)
	}
	if err := st.conf.Unmarshal(cs); err != nil {
		return st, fmt.Errorf("%s: conf state: %w: %w", stateFileName, err, ErrCorrupt)
	}
	return st, nil
}

func readChunk(b []byte) (chunk, rest []byte, err error) {
	if len(b) < 4 {
		return nil, nil, fmt.Errorf("%s: truncated: %w", stateFileName, ErrCorrupt)
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(len(b)-4) < uint64(n) {
		return nil, nil, fmt.Errorf("%s: truncated: %w", stateFileName, ErrCorrupt)
	}
	return b[4 : 4+n], b[4+n:], nil
}

// writeState replaces dir's state file atomically and durably.
func writeState(dir string, st persistentState) error {
	b, err := encodeState(st)
	if err != nil {
		return err
	}
	return WriteFile(dir, stateFileName, b)
}

// encodeState returns the content of the state file holding st.
func encodeState(st persistentState) ([]byte, error) {
	hs, err := st.hard.Marshal()
	if err != nil {
		return nil, err
	}
	cs, err := st.conf.Marshal()
	if err != nil {
		return nil, err
	}
	b := make([]byte, 8, 28+len(hs)+len(cs))
	copy(b, stateMagic[:])
	b = binary.BigEndian.AppendUint32(b, uint32(len(hs)))
	b = append(b, hs...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(cs)))
	b = append(b, cs...)
	b = binary.BigEndian.AppendUint32(b, 8)
	b = binary.BigEndian.AppendUint64(b, st.confIndex)
	binary.BigEndian.PutUint32(b[4:8], crc32.Checksum(b[8:], castagnoli))
	return b, nil
}
