/**
 * Decoding the record batches a broker delivers compressed.
 *
 * A subscriber lists the codecs it decompresses in
 * SubscribeRequest.acceptCompression; a batch stored with one of them comes
 * as stored (RecordBatch.compressed): its data is, once decompressed, each
 * record as its length (a varint) followed by its runnel.v1.Record
 * encoding, record i having offset baseOffset + i. The batch is a whole
 * stored one, so it may begin before the offset the subscription asked
 * for: batchRecords skips the records before it.
 *
 * Codecs: gzip (node:zlib), snappy's raw block format (snappyjs), LZ4
 * frames (lz4-napi's block decoder, lz4_flex, under the frame layer here)
 * and Zstandard frames (fzstd). Every decoder stops at MAX_DECOMPRESSED_BYTES,
 * the largest batch a broker stores, before it allocates more, so that a
 * hostile response cannot exhaust memory.
 */
import { fromBinary } from "@bufbuild/protobuf";
import { gunzipSync } from "node:zlib";
import { Decompress as ZstdStream } from "fzstd";
import lz4 from "lz4-napi";
import snappy from "snappyjs";

import { Compression, type Record as RecordMessage, type RecordBatch, RecordSchema } from "../../../gen/ts/runnel/v1/record_pb.js";

/** The codecs this SDK decompresses: its consumers list them all. */
export const ACCEPTED_COMPRESSION: readonly Compression[] = [Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD];

/** The most one compressed batch may decompress to: the largest batch a
 * broker stores (32 MiB of records and their framing). */
export const MAX_DECOMPRESSED_BYTES = (32 << 20) + (64 << 10);

/** A compressed batch that does not decode: corrupt, over the size bound,
 * in an unknown codec, or not holding the records it declares. */
export class CompressionError extends Error {
  override name = "CompressionError";
}

class Corrupt extends Error {}
class TooLarge extends Error {}

function u32(b: Uint8Array, i: number): number {
  if (i + 4 > b.length) throw new Corrupt("truncated");
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

function gzip(data: Uint8Array, limit: number): Uint8Array {
  try {
    // NB: zlib reads every gzip member, as RFC 1952 allows several.
    return gunzipSync(data, { maxOutputLength: limit });
  } catch (e) {
    if ((e as { code?: string }).code === "ERR_BUFFER_TOO_LARGE") throw new TooLarge();
    throw new Corrupt(`gzip: ${(e as Error).message}`);
  }
}

function snappyRaw(data: Uint8Array, limit: number): Uint8Array {
  let n: number;
  try {
    n = uvarint(data, 0)[0];
  } catch {
    throw new Corrupt("snappy: no length");
  }
  // NB: the block starts with its decoded length: refuse a large one before
  // anything is allocated.
  if (n > limit) throw new TooLarge();
  try {
    return snappy.uncompress(data, limit);
  } catch (e) {
    throw new Corrupt(`snappy: ${(e as Error).message}`);
  }
}

const LZ4_MAGIC = 0x184d2204;
const LZ4_BLOCK_SIZES: { [bd: number]: number } = { 4: 64 << 10, 5: 256 << 10, 6: 1 << 20, 7: 4 << 20 };

/** LZ4's frame format, frame after frame; each block is decoded, with no
 * more room than the frame's maximum block size, by lz4-napi (a linked
 * block with the 64 KiB before it as its dictionary). Checksums are
 * skipped: the records' own framing catches damage. */
function lz4Frames(data: Uint8Array, limit: number): Uint8Array {
  const out: Uint8Array[] = [];
  let total = 0;
  let i = 0;
  const take = (b: Uint8Array) => {
    total += b.length;
    if (total > limit) throw new TooLarge();
    out.push(b);
  };
  if (data.length === 0) throw new Corrupt("lz4: no frame");
  while (i < data.length) {
    const magic = u32(data, i);
    if ((magic & 0xfffffff0) === 0x184d2a50) { // a skippable frame
      i += 8 + u32(data, i + 4);
      if (i > data.length) throw new Corrupt("lz4: truncated skippable frame");
      continue;
    }
    if (magic !== LZ4_MAGIC) throw new Corrupt(`lz4: no frame at byte ${i} (magic ${magic.toString(16)})`);
    if (i + 7 > data.length) throw new Corrupt("lz4: truncated frame header");
    const flg = data[i + 4], bd = data[i + 5];
    if (flg >> 6 !== 1) throw new Corrupt(`lz4: frame version ${flg >> 6}`);
    const blockSize = LZ4_BLOCK_SIZES[(bd >> 4) & 7];
    if (blockSize === undefined) throw new Corrupt(`lz4: block size code ${(bd >> 4) & 7}`);
    const blockChecksums = (flg & 0x10) !== 0, contentChecksum = (flg & 0x04) !== 0;
    if (flg & 0x01) throw new Corrupt("lz4: a frame that needs a dictionary");
    i += 6 + ((flg & 0x08) ? 8 : 0) + 1; // descriptor, content size, header checksum
    const linked = (flg & 0x20) === 0;
    const frameStart = out.length;
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32LE(blockSize);
    for (;;) {
      const word = u32(data, i);
      i += 4;
      if (word === 0) break; // the end mark
      const size = word & 0x7fffffff;
      if (size > blockSize || i + size > data.length) throw new Corrupt("lz4: truncated or oversized block");
      const block = data.subarray(i, i + size);
      i += size + (blockChecksums ? 4 : 0);
      if (word & 0x80000000) {
        take(block); // stored uncompressed
        continue;
      }
      // NB: room for blockSize bytes at most: a block that decodes to more
      // fails. A linked block may copy from the 64 KiB of this frame before it.
      const dict = linked ? lz4History(out.slice(frameStart)) : undefined;
      let decoded: Buffer;
      try {
        decoded = lz4.uncompressSync(Buffer.concat([prefix, block]), dict);
      } catch (e) {
        throw new Corrupt(`lz4: ${(e as Error).message}`);
      }
      take(decoded);
    }
    i += contentChecksum ? 4 : 0;
    if (i > data.length) throw new Corrupt("lz4: truncated frame");
  }
  return concat(out, total);
}

/** The last 64 KiB of parts, a linked LZ4 block's dictionary. */
function lz4History(parts: Uint8Array[]): Buffer | undefined {
  const want = 64 << 10;
  const tail: Uint8Array[] = [];
  let n = 0;
  for (let k = parts.length - 1; k >= 0 && n < want; k--) {
    const p = parts[k].length > want - n ? parts[k].subarray(parts[k].length - (want - n)) : parts[k];
    tail.unshift(p);
    n += p.length;
  }
  return n === 0 ? undefined : Buffer.concat(tail, n);
}

/** The decoded size a zstd frame's header lets fzstd allocate: its window
 * (or its content size, for a single segment); -1 for a skippable frame. */
function zstdFrameWindow(data: Uint8Array, i: number): number {
  const magic = u32(data, i);
  if ((magic & 0xfffffff0) === 0x184d2a50) return -1;
  if (magic !== 0xfd2fb528) throw new Corrupt(`zstd: no frame at byte ${i}`);
  if (i + 6 > data.length) throw new Corrupt("zstd: truncated frame header");
  const fhd = data[i + 4];
  const singleSegment = (fhd >> 5) & 1, fcsFlag = fhd >> 6;
  if (!singleSegment) {
    const wd = data[i + 5], base = 2 ** (10 + (wd >> 3));
    return base + (base / 8) * (wd & 7);
  }
  const dictBytes = [0, 1, 2, 4][fhd & 3];
  const fcsBytes = [1, 2, 4, 8][fcsFlag];
  const at = i + 5 + dictBytes;
  if (at + fcsBytes > data.length) throw new Corrupt("zstd: truncated frame header");
  let fcs = 0;
  for (let k = fcsBytes - 1; k >= 0; k--) fcs = fcs * 256 + data[at + k];
  return fcsBytes === 2 ? fcs + 256 : fcs;
}

/** The byte after the zstd frame at i: its header, blocks and checksum. */
function zstdFrameEnd(data: Uint8Array, i: number): number {
  const magic = u32(data, i);
  if ((magic & 0xfffffff0) === 0x184d2a50) return i + 8 + u32(data, i + 4);
  const fhd = data[i + 4];
  const singleSegment = (fhd >> 5) & 1;
  let at = i + 5 + (singleSegment ? 0 : 1) + [0, 1, 2, 4][fhd & 3] + [singleSegment, 2, 4, 8][fhd >> 6];
  for (;;) {
    if (at + 3 > data.length) throw new Corrupt("zstd: truncated frame");
    const h = data[at] | (data[at + 1] << 8) | (data[at + 2] << 16);
    const type = (h >> 1) & 3, size = h >>> 3;
    if (type === 3) throw new Corrupt("zstd: reserved block type");
    at += 3 + (type === 1 ? 1 : size); // an RLE block holds one byte
    if (h & 1) break; // the last block
  }
  at += (fhd & 0x04) ? 4 : 0;
  if (at > data.length) throw new Corrupt("zstd: truncated frame");
  return at;
}

function zstd(data: Uint8Array, limit: number): Uint8Array {
  if (data.length === 0) throw new Corrupt("zstd: no frame");
  // NB: fzstd allocates each frame's window (up to 2 GiB) as its header
  // says: check every header first.
  for (let i = 0; i < data.length; i = zstdFrameEnd(data, i)) {
    if (zstdFrameWindow(data, i) > limit) throw new TooLarge();
  }
  const out: Uint8Array[] = [];
  let total = 0;
  // NB: fzstd hands over each block as it decodes it (128 KiB at most), so
  // throwing here stops a bomb at the limit.
  const stream = new ZstdStream((chunk) => {
    total += chunk.length;
    if (total > limit) throw new TooLarge();
    out.push(chunk);
  });
  try {
    stream.push(data, true);
  } catch (e) {
    if (e instanceof TooLarge) throw e;
    throw new Corrupt(`zstd: ${(e as Error).message}`);
  }
  return concat(out, total);
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const b = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    b.set(p, at);
    at += p.length;
  }
  return b;
}

/** The unsigned varint at b[i] (up to 2^53) and the index after it. */
function uvarint(b: Uint8Array, i: number): [number, number] {
  let value = 0, scale = 1;
  for (let k = 0; k < 8 && i < b.length; k++) {
    const byte = b[i++];
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, i];
    scale *= 128;
  }
  throw new Corrupt("a truncated or overlong varint");
}

const decoders: { [c: number]: (data: Uint8Array, limit: number) => Uint8Array } = {
  [Compression.GZIP]: gzip,
  [Compression.SNAPPY]: snappyRaw,
  [Compression.LZ4]: lz4Frames,
  [Compression.ZSTD]: zstd,
};

const codecName = (c: Compression) => (Compression[c] ?? `compression ${c}`).toLowerCase();

/** data decompressed with codec, at most limit bytes; throws CompressionError. */
export function decompress(codec: Compression, data: Uint8Array, limit = MAX_DECOMPRESSED_BYTES): Uint8Array {
  const decode = decoders[codec];
  if (!decode) throw new CompressionError(`compression ${codec} is not a codec this SDK decodes`);
  try {
    return decode(data, limit);
  } catch (e) {
    if (e instanceof TooLarge) throw new CompressionError(`${codecName(codec)}: decompresses to more than ${limit} bytes`);
    if (e instanceof Corrupt) throw new CompressionError(`corrupt data: ${e.message}`);
    throw e;
  }
}

/** The batch's records from offset start on, each with its offset: a plain
 * batch's as they are, a compressed one's decompressed. Throws
 * CompressionError for a compressed batch that does not decode. */
export function batchRecords(batch: RecordBatch, start = 0n, limit = MAX_DECOMPRESSED_BYTES): RecordMessage[] {
  const z = batch.compressed;
  if (!z) return batch.records;
  const where = `runnel: ${batch.topic}/${batch.partition} batch at offset ${z.baseOffset}`;
  let plain: Uint8Array;
  try {
    plain = decompress(z.compression, z.data, limit);
  } catch (e) {
    if (e instanceof CompressionError) throw new CompressionError(`${where}: ${e.message}`);
    throw e;
  }
  const out: RecordMessage[] = [];
  let pos = 0, i = 0;
  while (pos < plain.length) {
    let n = -1;
    try {
      [n, pos] = uvarint(plain, pos);
    } catch {
      // n stays -1
    }
    if (n < 0 || pos + n > plain.length || i >= z.recordCount) {
      throw new CompressionError(`${where}: malformed after ${i} of its ${z.recordCount} records`);
    }
    const body = plain.subarray(pos, pos + n);
    pos += n;
    const offset = z.baseOffset + BigInt(i++);
    if (offset < start) continue;
    let r: RecordMessage;
    try {
      r = fromBinary(RecordSchema, body);
    } catch (e) {
      throw new CompressionError(`runnel: ${batch.topic}/${batch.partition} record at offset ${offset}: ${(e as Error).message}`);
    }
    r.offset = offset;
    out.push(r);
  }
  if (i !== z.recordCount) throw new CompressionError(`${where}: holds ${i} records, not the ${z.recordCount} it declares`);
  return out;
}

