/** The idempotent producer against a real broker process: it sends its producer fields, and a
 * broker killed and restarted under it ends with every record acknowledged once, in order per
 * partition. */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";

import { murmur2, partitionForKey, RunnelClient, type Producer } from "../src/client.js";
import { Broker } from "../src/testing.js";
import { type ProduceResponse, ProduceRequestSchema } from "../../../gen/ts/runnel/v1/produce_pb.js";
import { type Record as RecordMessage, RecordSchema } from "../../../gen/ts/runnel/v1/record_pb.js";
import { StartPosition } from "../../../gen/ts/runnel/v1/subscribe_pb.js";

let broker: Broker;
before(async () => { broker = await Broker.start(); });
after(async () => { await broker.stop(); });

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const utf8 = (s: string) => new TextEncoder().encode(s);

/** Every record of topic, by partition, in log order. */
async function readAll(client: RunnelClient, topic: string, partitions: number): Promise<RecordMessage[][]> {
  const out: RecordMessage[][] = Array.from({ length: partitions }, () => []);
  for await (const r of client.subscribe.subscribe({
    topic, partitions: Array.from({ length: partitions }, (_, i) => i), follow: false, startPosition: StartPosition.EARLIEST,
  })) {
    if (r.batch) out[r.batch.partition].push(...r.batch.records);
  }
  return out;
}

/** One request on its own stream, and its response. */
async function produceOnce(client: RunnelClient, req: Parameters<typeof create<typeof ProduceRequestSchema>>[1]): Promise<ProduceResponse> {
  async function* one() { yield create(ProduceRequestSchema, req); }
  for await (const resp of client.produce.produce(one())) return resp;
  throw new Error("no response");
}

test("murmur2 matches Kafka's", () => {
  // Kafka's own vectors (UtilsTest.testMurmur2), as partitioner's Go test.
  const vectors: [string, number][] = [["21", -973932308], ["foobar", -790332482], ["a-little-bit-long-string", -985981536],
    ["a-little-bit-longer-string", -1486304829], ["lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971],
    ["abc", 479470107], ["1", -1993445489], ["12", 126087238], ["123", -267702483], ["1234", -1614185708], ["12345", -1188365604]];
  for (const [key, want] of vectors) assert.equal(murmur2(utf8(key)), want, key);
  assert.equal(partitionForKey(utf8("21"), 6), 1173551340 % 6);
});

test("a batch sent again gets its first offsets", async () => {
  const client = new RunnelClient(broker.address);
  await client.createTopic("idem-fields", 1);
  const producer = client.producer("idem-fields", { partition: 0 });
  void producer.send("before");
  await producer.flush();
  const first = producer.send("a");
  void producer.send("b");
  void producer.send("c");
  await producer.flush();
  assert.ok(producer.producerId > 0n);
  const ack = (await first).acks[0];
  assert.deepEqual([ack.partition, ack.baseOffset, ack.recordCount], [0, 1n, 3]);
  // The same batch again by hand, as a retry: the producer's id, epoch 0, and the sequence of its
  // first record (1, after "before").
  const again = await produceOnce(client, {
    topic: "idem-fields", partition: 0, correlationId: 1n, records: ["a", "b", "c"].map((v) => create(RecordSchema, { value: utf8(v) })),
    producerId: producer.producerId, producerEpoch: 0, baseSequence: 1n,
  });
  assert.equal(again.error, undefined);
  assert.deepEqual([again.acks[0].baseOffset, again.acks[0].recordCount], [1n, 3]);
  // And the producer goes on in sequence after it.
  const next = producer.send("d");
  await producer.close();
  assert.equal((await next).acks[0].baseOffset, 4n);
  assert.deepEqual((await readAll(client, "idem-fields", 1))[0].map((r) => text(r.value)), ["before", "a", "b", "c", "d"]);
  client.close();
});

test("without idempotence, no producer id", async () => {
  const client = new RunnelClient(broker.address);
  await client.createTopic("idem-off", 1);
  const producer = client.producer("idem-off", { idempotent: false });
  const sent = producer.send("x");
  await producer.close();
  assert.equal(producer.producerId, 0n);
  assert.equal((await sent).acks[0].baseOffset, 0n);
  // A raw request without a producer id is appended each time.
  for (let i = 0; i < 2; i++) {
    const resp = await produceOnce(client, { topic: "idem-off", partition: 0, records: [create(RecordSchema, { value: utf8("x") })] });
    assert.equal(resp.error, undefined);
  }
  assert.equal((await readAll(client, "idem-off", 1))[0].length, 3);
  client.close();
});

test("a broker killed and restarted under the producer loses and duplicates nothing", async () => {
  const records = 3000, partitions = 3;
  const own = await Broker.start();
  const client = new RunnelClient(own.address);
  try {
    await client.createTopic("restart", partitions);
    const producer: Producer = client.producer("restart", { batchRecords: 10 });
    const sent: Promise<ProduceResponse>[] = [];
    const settled = new Set<number>();
    let unacked = 0;
    for (let i = 0; i < records; i++) {
      const p = producer.send(String(i), { key: `k${i % 11}` });
      p.then(() => settled.add(i), () => settled.add(i));
      sent.push(p);
      if (i === records / 3) {
        // Kill it once it acknowledges, while batches are in flight and queued behind them.
        await sent[0];
        await own.kill();
        unacked = i + 1 - settled.size;
        await own.restart();
      }
    }
    await producer.close();
    assert.ok(unacked > 0, "the broker was killed after everything was acknowledged: nothing was retried");
    for (const p of sent) assert.ok((await p).acks[0].recordCount > 0);
    const log = await readAll(client, "restart", partitions);
    const values = log.flat().map((r) => Number(text(r.value))).sort((a, b) => a - b);
    assert.deepEqual(values, Array.from({ length: records }, (_, i) => i), "each record exactly once");
    log.forEach((recs, p) => {
      assert.deepEqual(recs.map((r) => r.offset), recs.map((_, i) => BigInt(i)));
      const byKey = new Map<string, number[]>();
      for (const r of recs) {
        assert.equal(partitionForKey(r.key, partitions), p);
        const k = text(r.key);
        byKey.set(k, [...(byKey.get(k) ?? []), Number(text(r.value))]);
      }
      for (const [k, vs] of byKey) assert.deepEqual(vs, [...vs].sort((a, b) => a - b), `${k} out of order in partition ${p}`);
    });
  } finally {
    client.close();
    await own.stop();
  }
});

test("a batch stalled past its delivery timeout fails, and the next starts a new epoch", async () => {
  const own = await Broker.start();
  const client = new RunnelClient(own.address);
  try {
    await client.createTopic("stalled", 1);
    // NB: the broker, once it goes on, has as long to answer the next batch: 1 s was once
    // too short on CI (its acks after SIGCONT take milliseconds here), so 3 s.
    const producer = client.producer("stalled", { partition: 0, deliveryTimeoutMs: 3000, requestTimeoutMs: 500 });
    void producer.send("first");
    await producer.flush();
    own.pause(); // the connection stays up; nothing answers
    const stalled = producer.send("stalled");
    try {
      await assert.rejects(producer.flush(), (e) => ConnectError.from(e).code === Code.DeadlineExceeded
        && /delivery timeout/.test(ConnectError.from(e).rawMessage));
    } finally {
      own.resume();
    }
    await assert.rejects(stalled, (e) => ConnectError.from(e).code === Code.DeadlineExceeded);
    // Its outcome is unknown: the next batch starts the partition's sequence again, at 0 in epoch 1.
    const next = producer.send("after");
    await producer.close();
    const offset = (await next).acks[0].baseOffset;
    const again = await produceOnce(client, {
      topic: "stalled", partition: 0, records: [create(RecordSchema, { value: utf8("after") })],
      producerId: producer.producerId, producerEpoch: 1, baseSequence: 0n,
    });
    assert.equal(again.error, undefined);
    assert.equal(again.acks[0].baseOffset, offset);
    // The stalled batch went out in the broker's buffers: appended once the broker went on, or not
    // at all; never twice.
    const values = (await readAll(client, "stalled", 1))[0].map((r) => text(r.value));
    assert.ok([["first", "after"], ["first", "stalled", "after"]].some((want) => JSON.stringify(want) === JSON.stringify(values)), `${values}`);
  } finally {
    client.close();
    await own.stop();
  }
});

test("a refused sequence is sent again once, in a new epoch", async () => {
  const client = new RunnelClient(broker.address);
  await client.createTopic("idem-refused", 1);
  const producer = client.producer("idem-refused", { partition: 0 });
  void producer.send("a");
  await producer.flush();
  const asProducer = async (epoch: number, sequence: bigint, ...values: string[]) => {
    const resp = await produceOnce(client, {
      topic: "idem-refused", partition: 0, records: values.map((v) => create(RecordSchema, { value: utf8(v) })),
      producerId: producer.producerId, producerEpoch: epoch, baseSequence: sequence,
    });
    assert.equal(resp.error, undefined);
    return resp;
  };
  // Two records by hand at the producer's next sequence (1): its own next batch, one record at
  // sequence 1, overlaps them without being a retry of them, and is refused (FailedPrecondition),
  // appending nothing. The producer sends it again at 0 in epoch 1.
  await asProducer(0, 1n, "x", "y");
  const b = producer.send("b");
  await producer.flush();
  assert.equal((await b).acks[0].baseOffset, 3n);
  const c = producer.send("c");
  await producer.flush();
  assert.equal((await asProducer(1, 1n, "c")).acks[0].baseOffset, 4n);
  assert.equal((await c).acks[0].baseOffset, 4n);
  // Refused again in the new epoch (fenced: epoch 5 was seen), a batch fails rather than go round
  // for ever.
  await asProducer(5, 0n, "z");
  const d = producer.send("d");
  await assert.rejects(producer.flush(), (e) => ConnectError.from(e).code === Code.FailedPrecondition);
  await assert.rejects(d, (e) => ConnectError.from(e).code === Code.FailedPrecondition);
  await producer.close();
  assert.deepEqual((await readAll(client, "idem-refused", 1))[0].map((r) => text(r.value)), ["a", "x", "y", "b", "c", "z"]);
  client.close();
});
