package segment

import (
	"encoding/binary"
	"hash/crc32"

	"go.etcd.io/raft/v3/raftpb"
)

const (
	// frameMetaSize is the CRC-covered header that precedes the entry Data:
	// raft index, raft term, entry type, base offset.
	frameMetaSize = 8 + 8 + 1 + 8
	// frameHeaderSize is everything before the entry Data: length, CRC, meta.
	frameHeaderSize = 4 + 4 + frameMetaSize
	// maxFrameLength bounds the length field so that a damaged one is caught
	// before it is used as a slice bound.
	maxFrameLength = 1<<31 - 1
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// frameHeader is the decoded fixed part of a frame.
type frameHeader struct {
	length     uint32 // bytes after the CRC field: frameMetaSize + len(Data)
	crc        uint32
	index      uint64
	term       uint64
	typ        raftpb.EntryType
	baseOffset int64
}

// size is the whole frame's size on disk.
func (h frameHeader) size() int64 { return 8 + int64(h.length) }

// appendFrame appends the frame for e, stamped with baseOffset, to dst.
func appendFrame(dst []byte, e *raftpb.Entry, baseOffset int64) []byte {
	start := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, uint32(frameMetaSize+len(e.Data)))
	dst = append(dst, 0, 0, 0, 0) // CRC, filled in below
	dst = binary.BigEndian.AppendUint64(dst, e.Index)
	dst = binary.BigEndian.AppendUint64(dst, e.Term)
	dst = append(dst, byte(e.Type))
	dst = binary.BigEndian.AppendUint64(dst, uint64(baseOffset))
	dst = append(dst, e.Data...)
	binary.BigEndian.PutUint32(dst[start+4:], crc32.Checksum(dst[start+8:], castagnoli))
	return dst
}

// parseFrameHeader decodes the fixed header at the start of b without
// checking the CRC; b is the rest of the file from the frame on.
func parseFrameHeader(b []byte) (frameHeader, error) {
	if len(b) < frameHeaderSize {
		return frameHeader{}, errFrameShort
	}
	h := frameHeader{
		length:     binary.BigEndian.Uint32(b[0:4]),
		crc:        binary.BigEndian.Uint32(b[4:8]),
		index:      binary.BigEndian.Uint64(b[8:16]),
		term:       binary.BigEndian.Uint64(b[16:24]),
		typ:        raftpb.EntryType(b[24]),
		baseOffset: int64(binary.BigEndian.Uint64(b[25:33])),
	}
	if h.length < frameMetaSize || h.length > maxFrameLength {
		return h, errFrameLength
	}
	if h.size() > int64(len(b)) {
		return h, errFrameShort
	}
	return h, nil
}

// decodeFrame decodes and CRC-checks the frame at the start of b and returns
// its header and Data (aliasing b).
func decodeFrame(b []byte) (frameHeader, []byte, error) {
	h, err := parseFrameHeader(b)
	if err != nil {
		return h, nil, err
	}
	body := b[8:h.size()]
	if crc32.Checksum(body, castagnoli) != h.crc {
		return h, nil, errFrameCRC
	}
	return h, body[frameMetaSize:], nil
}
