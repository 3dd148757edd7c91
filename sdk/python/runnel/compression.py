"""Decoding the record batches a broker delivers compressed.

A subscriber lists the codecs it decompresses in
``SubscribeRequest.accept_compression``; a batch stored with one of them
comes as stored (``RecordBatch.compressed``): ``data`` is, once
decompressed, each record as its length (a varint) followed by its
``runnel.v1.Record`` encoding, record i having offset ``base_offset + i``.
The batch is a whole stored one, so it may begin before the offset the
subscription asked for: ``batch_records`` skips the records before it.

Codecs: gzip (RFC 1952, the standard library's zlib), snappy's raw block
format (cramjam), LZ4 frames (lz4.frame) and Zstandard frames (zstandard).
Every decoder stops one byte past ``MAX_DECOMPRESSED_BYTES``, the largest
batch a broker stores, so that a hostile response cannot exhaust memory.
"""

from __future__ import annotations

import zlib
from typing import List

import cramjam
import lz4.frame
import zstandard

from runnel.v1 import record_pb2

# The codecs this SDK decompresses: its consumers list them all.
ACCEPTED = (
    record_pb2.COMPRESSION_GZIP,
    record_pb2.COMPRESSION_SNAPPY,
    record_pb2.COMPRESSION_LZ4,
    record_pb2.COMPRESSION_ZSTD,
)

# The most one compressed batch may decompress to: the largest batch a
# broker stores (32 MiB of records and their framing).
MAX_DECOMPRESSED_BYTES = (32 << 20) + (64 << 10)


class CompressionError(Exception):
    """A compressed batch that does not decode: corrupt, over the size
    bound, in an unknown codec, or not holding the records it declares."""


class _Corrupt(Exception):
    pass


class _TooLarge(Exception):
    pass


def _gzip(data: bytes, limit: int) -> bytes:
    out = bytearray()
    rest = data
    # NB: RFC 1952 allows several members one after another.
    while True:
        d = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            out += d.decompress(rest, limit + 1 - len(out))  # never 0 (no limit): len(out) <= limit
        except zlib.error as e:
            raise _Corrupt(f"gzip: {e}") from None
        if len(out) > limit:
            raise _TooLarge()
        if not d.eof:
            raise _Corrupt("gzip: truncated")
        rest = d.unused_data
        if not rest:
            return bytes(out)


def _uvarint(buf, pos: int) -> "tuple[int, int]":
    """The unsigned varint at buf[pos:] and the position after it."""
    value = shift = 0
    while pos < len(buf) and shift < 64:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7
    raise _Corrupt("a truncated or overlong varint")


def _snappy(data: bytes, limit: int) -> bytes:
    # NB: the raw block starts with its decoded length: refuse a large one
    # before anything is allocated.
    n, _ = _uvarint(data, 0)
    if n > limit:
        raise _TooLarge()
    try:
        out = bytes(cramjam.snappy.decompress_raw(data))
    except cramjam.DecompressionError as e:
        raise _Corrupt(f"snappy: {e}") from None
    if len(out) != n:
        raise _Corrupt(f"snappy: decoded {len(out)} bytes, the block says {n}")
    return out


def _lz4(data: bytes, limit: int) -> bytes:
    if not data:
        raise _Corrupt("lz4: no frame")
    out = bytearray()
    rest = data
    while rest:
        d = lz4.frame.LZ4FrameDecompressor()
        try:
            out += d.decompress(rest, max_length=limit + 1 - len(out))
        except RuntimeError as e:  # lz4.frame's errors
            raise _Corrupt(f"lz4: {e}") from None
        if len(out) > limit:
            raise _TooLarge()
        if not d.eof:
            raise _Corrupt("lz4: truncated frame")
        rest = d.unused_data
    return bytes(out)


def _zstd_frames_end(data: bytes) -> None:
    """Walks the frames' headers and block headers to their end: the
    stream reader takes a truncated frame for a short one."""
    i = 0
    while i < len(data):
        if len(data) - i < 8:
            raise _Corrupt("zstd: truncated frame")
        magic = int.from_bytes(data[i:i + 4], "little")
        if magic & 0xFFFFFFF0 == 0x184D2A50:  # a skippable frame
            i += 8 + int.from_bytes(data[i + 4:i + 8], "little")
            continue
        if magic != 0xFD2FB528:
            raise _Corrupt(f"zstd: no frame at byte {i}")
        fhd = data[i + 4]
        single = (fhd >> 5) & 1
        at = i + 5 + (0 if single else 1) + (0, 1, 2, 4)[fhd & 3] + (single, 2, 4, 8)[fhd >> 6]
        while True:
            if at + 3 > len(data):
                raise _Corrupt("zstd: truncated frame")
            h = int.from_bytes(data[at:at + 3], "little")
            kind, size = (h >> 1) & 3, h >> 3
            if kind == 3:
                raise _Corrupt("zstd: reserved block type")
            at += 3 + (1 if kind == 1 else size)  # an RLE block holds one byte
            if h & 1:  # the last block
                break
        i = at + (4 if fhd & 0x04 else 0)
    if i != len(data):
        raise _Corrupt("zstd: truncated frame")


def _zstd(data: bytes, limit: int) -> bytes:
    _zstd_frames_end(data)
    try:
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError as e:
        raise _Corrupt(f"zstd: {e}") from None
    if declared > limit:  # -1: not declared
        raise _TooLarge()
    out = bytearray()
    try:
        with zstandard.ZstdDecompressor().stream_reader(data, read_across_frames=True) as r:
            while True:
                chunk = r.read(min(1 << 20, limit + 1 - len(out)))
                if not chunk:
                    break
                out += chunk
                if len(out) > limit:
                    raise _TooLarge()
    except zstandard.ZstdError as e:
        raise _Corrupt(f"zstd: {e}") from None
    return bytes(out)


_DECODERS = {
    record_pb2.COMPRESSION_GZIP: _gzip,
    record_pb2.COMPRESSION_SNAPPY: _snappy,
    record_pb2.COMPRESSION_LZ4: _lz4,
    record_pb2.COMPRESSION_ZSTD: _zstd,
}


def decompress(codec: int, data: bytes, limit: int = MAX_DECOMPRESSED_BYTES) -> bytes:
    """data decompressed with codec (a runnel.v1.Compression), at most limit
    bytes; raises CompressionError."""
    decode = _DECODERS.get(codec)
    if decode is None:
        raise CompressionError(f"compression {codec} is not a codec this SDK decodes")
    try:
        return decode(bytes(data), limit)
    except _TooLarge:
        raise CompressionError(f"{_name(codec)}: decompresses to more than {limit} bytes") from None
    except _Corrupt as e:
        raise CompressionError(f"corrupt data: {e}") from None


def _name(codec: int) -> str:
    return record_pb2.Compression.Name(codec).removeprefix("COMPRESSION_").lower()


def batch_records(batch: record_pb2.RecordBatch, start: int = 0,
                  limit: int = MAX_DECOMPRESSED_BYTES) -> List[record_pb2.Record]:
    """The batch's records from offset start on, each with its offset: a
    plain batch's as they are, a compressed one's decompressed. Raises
    CompressionError for a compressed batch that does not decode."""
    if not batch.HasField("compressed"):
        return list(batch.records)
    z = batch.compressed
    where = f"runnel: {batch.topic}/{batch.partition} batch at offset {z.base_offset}"
    try:
        plain = decompress(z.compression, z.data, limit)
    except CompressionError as e:
        raise CompressionError(f"{where}: {e}") from None
    out: List[record_pb2.Record] = []
    view = memoryview(plain)
    pos = i = 0
    while pos < len(plain):
        try:
            n, pos = _uvarint(plain, pos)
        except _Corrupt:
            n = -1
        if n < 0 or pos + n > len(plain) or i >= z.record_count:
            raise CompressionError(f"{where}: malformed after {i} of its {z.record_count} records")
        body, pos = view[pos:pos + n], pos + n
        offset = z.base_offset + i
        i += 1
        if offset < start:
            continue
        r = record_pb2.Record()
        try:
            r.ParseFromString(body)
        except Exception as e:  # google.protobuf.message.DecodeError
            raise CompressionError(f"runnel: {batch.topic}/{batch.partition} record at offset {offset}: {e}") from None
        r.offset = offset
        out.append(r)
    if i != z.record_count:
        raise CompressionError(f"{where}: holds {i} records, not the {z.record_count} it declares")
    return out
