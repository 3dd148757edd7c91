/**
 * Compressed batches, produced through the stub, consumed through the SDK
 * from a real broker process; and batchRecords on what a broker never
 * sends and a hostile one might.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { gzipSync } from "node:zlib";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs, timestampMs } from "@bufbuild/protobuf/wkt";
import lz4 from "lz4-napi";
import snappy from "snappyjs";
import { ZstdCodec } from "zstd-codec";

import { RunnelClient, type Message } from "../src/client.js";
import { ACCEPTED_COMPRESSION, batchRecords, CompressionError, MAX_DECOMPRESSED_BYTES } from "../src/compression.js";
import { Broker } from "../src/testing.js";
import { Compression, CompressedRecordsSchema, type Record as RecordMessage, RecordBatchSchema, RecordSchema } from "../../../gen/ts/runnel/v1/record_pb.js";
import { type ProduceRequest, ProduceRequestSchema } from "../../../gen/ts/runnel/v1/produce_pb.js";
import { type SubscribeRequest } from "../../../gen/ts/runnel/v1/subscribe_pb.js";

const zstdSimple = await new Promise<{ compress(data: Uint8Array, level?: number): Uint8Array | null }>((resolve) =>
  ZstdCodec.run((z) => resolve(new z.Simple())));

const compressors: { [c: number]: (b: Uint8Array) => Uint8Array } = {
  [Compression.GZIP]: (b) => gzipSync(b),
  [Compression.SNAPPY]: (b) => snappy.compress(b),
  [Compression.LZ4]: (b) => lz4.compressFrameSync(Buffer.from(b)),
  [Compression.ZSTD]: (b) => zstdSimple.compress(b, 3)!,
};
const CODECS = [Compression.GZIP, Compression.SNAPPY, Compression.LZ4, Compression.ZSTD];
const BATCH = 5; // records per compressed batch
const codecName = (c: Compression) => Compression[c].toLowerCase();
const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

function uvarint(n: number): number[] {
  const out: number[] = [];
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

function record(i: number): RecordMessage {
  return create(RecordSchema, {
    key: bytes(`k${i}`), value: bytes(`value ${i} `.repeat(20)), headers: [{ key: "i", value: bytes(String(i)) }],
    timestamp: timestampFromMs(1_700_000_000_000 + i),
  });
}

function framed(records: RecordMessage[]): Uint8Array {
  const parts = records.map((r) => toBinary(RecordSchema, r)).flatMap((b) => [Uint8Array.from(uvarint(b.length)), b]);
  return Buffer.concat(parts);
}

const compressed = (codec: Compression, records: RecordMessage[]) =>
  create(CompressedRecordsSchema, { compression: codec, data: compressors[codec](framed(records)), recordCount: records.length });

async function produce(client: RunnelClient, reqs: ProduceRequest[]): Promise<bigint[]> {
  async function* requests() {
    yield* reqs;
  }
  const bases: bigint[] = [];
  for await (const resp of client.produce.produce(requests())) {
    assert.equal(resp.error, undefined, resp.error?.message);
    bases.push(resp.acks[0].baseOffset);
  }
  return bases;
}

/** batches compressed batches of BATCH records each to partition 0. */
async function produceCompressed(client: RunnelClient, topic: string, codec: Compression, batches: number): Promise<void> {
  const reqs = Array.from({ length: batches }, (_, b) => create(ProduceRequestSchema, {
    topic, partition: 0, correlationId: BigInt(b + 1),
    compressedRecords: compressed(codec, Array.from({ length: BATCH }, (_, j) => record(b * BATCH + j))),
  }));
  assert.deepEqual((await produce(client, reqs)).sort((x, y) => Number(x - y)), Array.from({ length: batches }, (_, b) => BigInt(b * BATCH)));
}

function check(messages: Message[], first: number, last: number): void {
  assert.deepEqual(messages.map((m) => Number(m.offset)), Array.from({ length: last - first }, (_, i) => first + i));
  for (const m of messages) {
    const want = record(Number(m.offset));
    assert.deepEqual([text(m.key), text(m.value)], [text(want.key), text(want.value)]);
    assert.deepEqual(m.headers.map(([k, v]) => [k, text(v)]), [["i", String(m.offset)]]);
    assert.equal(m.timestampMs, timestampMs(want.timestamp!));
  }
}

async function consumeAll(client: RunnelClient, topic: string, group: string, member: boolean): Promise<Message[]> {
  const c = client.consumer(topic, group, { partitions: member ? [] : [0], follow: false });
  const got: Message[] = [];
  for await (const m of c) got.push(m);
  c.close();
  return got;
}

describe("against a broker", () => {
  let broker: Broker;
  let client: RunnelClient;
  const topic = (c: Compression) => `z-${codecName(c)}`;
  before(async () => {
    broker = await Broker.start();
    client = new RunnelClient(broker.address);
    // A topic per codec holding three compressed batches: offsets 0-14.
    for (const c of CODECS) {
      await client.createTopic(topic(c), 1);
      await produceCompressed(client, topic(c), c, 3);
    }
  });
  after(async () => {
    client.close();
    await broker.stop();
  });

  for (const codec of CODECS) {
    test(`the broker delivers ${codecName(codec)} as stored to a subscriber that accepts it, plain to one that does not`, async () => {
      const batches = [];
      for await (const r of client.subscribe.subscribe({ topic: topic(codec), partitions: [0], acceptCompression: [...ACCEPTED_COMPRESSION] })) {
        batches.push(r.batch!);
      }
      assert.deepEqual(batches.map((b) => [b.compressed?.compression, b.compressed?.baseOffset, b.compressed?.recordCount, b.records.length]),
        [[codec, 0n, BATCH, 0], [codec, 5n, BATCH, 0], [codec, 10n, BATCH, 0]]);
      const plain = [];
      for await (const r of client.subscribe.subscribe({ topic: topic(codec) })) plain.push(r.batch!);
      assert.ok(plain.every((b) => b.compressed === undefined));
      assert.deepEqual(plain.flatMap((b) => b.records.map((r) => Number(r.offset))), Array.from({ length: 15 }, (_, i) => i));
    });

    test(`the consumer decodes ${codecName(codec)} batches`, async () => {
      check(await consumeAll(client, topic(codec), `all-${codec}`, false), 0, 15);
    });

    for (const member of [false, true]) {
      test(`a consumer (${member ? "member" : "partitions"}) starting inside a ${codecName(codec)} batch skips what is before`, async () => {
        const group = `mid-${codec}-${member}`;
        await client.commit.commit({ group, topic: topic(codec), offsets: [{ partition: 0, offset: 7n }] });
        const c = client.consumer(topic(codec), group, { partitions: member ? [] : [0], follow: false });
        const got: Message[] = [];
        for await (const m of c) {
          got.push(m);
          if (m.offset === 11n) {
            await c.commit(); // a position inside the third batch
            break;
          }
        }
        c.close();
        check(got, 7, 12);
        // A later consumer of the group resumes inside that batch.
        check(await consumeAll(client, topic(codec), group, member), 12, 15);
      });
    }
  }

  for (const member of [false, true]) {
    test(`the consumer (${member ? "member" : "partitions"}) accepts every codec it decodes`, async () => {
      const own = new RunnelClient(broker.address);
      const seen: SubscribeRequest[] = [];
      const stub = own.subscribe;
      // NB: the stub is recorded from outside: what the consumer asks is what the broker gets.
      Object.defineProperty(own, "subscribe", {
        value: { subscribe: (req: SubscribeRequest, opts: object) => (seen.push(req), stub.subscribe(req, opts)) },
      });
      check(await consumeAll(own, topic(Compression.ZSTD), `accepts-${member}`, member), 0, 15);
      own.close();
      assert.deepEqual(seen.map((r) => r.acceptCompression), [CODECS]);
      assert.deepEqual([...ACCEPTED_COMPRESSION], CODECS);
    });
  }

  test("an LZ4 frame of linked blocks", async () => {
    // NB: liblz4's default: blocks that refer to the ones before them; the
    // broker stores such frames as they come. lz4-napi writes none, so the
    // frame is made here: two copies of a record, the second block copying
    // the first.
    await client.createTopic("linked", 1);
    const r = framed([record(0)]);
    const u32 = (n: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
    const match = r.length - 5 - 4; // the last 5 bytes are literals, as the format wants
    const second = Buffer.from([
      Math.min(match, 15), r.length & 0xff, r.length >> 8, // no literals; a match at the block before
      ...(match >= 15 ? [...Array(Math.floor((match - 15) / 255)).fill(255), (match - 15) % 255] : []),
      5 << 4, ...r.subarray(r.length - 5),
    ]);
    const frame = Buffer.concat([
      Buffer.from([0x04, 0x22, 0x4d, 0x18, 0x40, 0x40, 0xc0]), // magic; version 1, linked blocks; 64 KiB; header checksum
      u32(0x80000000 + r.length), r, // stored as it is
      u32(second.length), second,
      u32(0), // the end mark
    ]);
    const twice = create(CompressedRecordsSchema, { compression: Compression.LZ4, data: frame, recordCount: 2 });
    assert.deepEqual(await produce(client, [create(ProduceRequestSchema, { topic: "linked", partition: 0, correlationId: 1n, compressedRecords: twice })]), [0n]);
    const got = await consumeAll(client, "linked", "linked", false);
    assert.deepEqual(got.map((m) => [m.offset, text(m.value)]), [[0n, text(record(0).value)], [1n, text(record(0).value)]]);
  });

  test("plain and compressed batches interleave", async () => {
    await client.createTopic("mixed", 1);
    await produceCompressed(client, "mixed", Compression.LZ4, 1); // 0-4
    const p = client.producer("mixed", { partition: 0 });
    p.send("plain 5");
    await p.close();
    assert.deepEqual(await produce(client, [create(ProduceRequestSchema, {
      topic: "mixed", partition: 0, correlationId: 1n, compressedRecords: compressed(Compression.GZIP, [record(6), record(7)]),
    })]), [6n]);
    const got = await consumeAll(client, "mixed", "mixed", false);
    assert.deepEqual(got.map((m) => Number(m.offset)), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.equal(text(got[5].value), "plain 5");
    assert.deepEqual(got.slice(6).map((m) => text(m.value)), [text(record(6).value), text(record(7).value)]);
  });
});

const batch = (codec: Compression, data: Uint8Array, recordCount: number, baseOffset = 0n) =>
  create(RecordBatchSchema, { topic: "t", partition: 3, compressed: { compression: codec, data, recordCount, baseOffset } });

/** A Zstandard frame of n zeros in RLE blocks, declaring no size, as a
 * hostile broker might send (zstd-codec cannot compress so much). */
function zstdZeros(n: number): Uint8Array {
  const block = 128 << 10, blocks = Math.ceil(n / block);
  const out = [0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3]; // magic; no size, no checksum; a 128 KiB window
  for (let b = 0; b < blocks; b++) {
    const size = Math.min(block, n - b * block);
    const h = size * 8 + (1 << 1) + (b === blocks - 1 ? 1 : 0); // RLE
    out.push(h & 0xff, (h >> 8) & 0xff, (h >> 16) & 0xff, 0);
  }
  return Uint8Array.from(out);
}

const bomb: { [c: number]: (n: number) => Uint8Array } = {
  ...Object.fromEntries(CODECS.map((c) => [c, (n: number) => compressors[c](new Uint8Array(n))])),
  [Compression.ZSTD]: zstdZeros,
};

describe("batchRecords", () => {
  for (const codec of CODECS) {
    test(`${codecName(codec)}: offsets, and the records before start skipped`, () => {
      const got = batchRecords(batch(codec, compressors[codec](framed([0, 1, 2, 3].map(record))), 4, 100n), 102n);
      assert.deepEqual(got.map((r) => [r.offset, text(r.value)]), [[102n, text(record(2).value)], [103n, text(record(3).value)]]);
    });

    test(`${codecName(codec)}: a bomb stops at the bound`, () => {
      // NB: all zeros: empty records, 1 MiB past the bound.
      const data = bomb[codec](MAX_DECOMPRESSED_BYTES + (1 << 20));
      assert.throws(() => batchRecords(batch(codec, data, 1)),
        (e) => e instanceof CompressionError && /^runnel: t\/3 batch at offset 0: .*more than 33619968 bytes/.test(e.message));
    });

    test(`${codecName(codec)}: damage is a clear error`, () => {
      const good = compressors[codec](framed([0, 1, 2, 3].map(record)));
      for (const data of [Buffer.concat([bytes("\x17not "), good]), good.subarray(0, good.length >> 1), good.subarray(0, good.length - 3)]) {
        assert.throws(() => batchRecords(batch(codec, data, 4)),
          (e) => e instanceof CompressionError && /^runnel: t\/3 (batch|record) at offset \d+: /.test(e.message), `${data.length} bytes`);
      }
      assert.throws(() => batchRecords(batch(codec, good, 5)), /holds 4 records, not the 5 it declares/);
      assert.throws(() => batchRecords(batch(codec, good, 3)), /malformed after 3 of its 3 records/);
      const garbage = compressors[codec](Uint8Array.from([3, 0xff, 0xff, 0xff]));
      assert.throws(() => batchRecords(batch(codec, garbage, 1)), /t\/3 record at offset 0/);
    });
  }

  test("zstd: a frame asking for a window past the bound is refused before anything is allocated", () => {
    const frame = Uint8Array.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 30 << 3, 0x01, 0x00, 0x00]); // a 1 TiB window, one empty block
    assert.throws(() => batchRecords(batch(Compression.ZSTD, frame, 0)), /zstd: decompresses to more than/);
  });

  test("an unknown codec is an error", () => {
    assert.throws(() => batchRecords(batch(9 as Compression, bytes("x"), 1)), /compression 9/);
  });
});
