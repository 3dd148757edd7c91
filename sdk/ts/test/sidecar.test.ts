/** The SDK's idempotent producer through a real `runnel sidecar` process in front of a real broker
 * process: acks left to the receiver are the sidecar's (spooled, baseOffset -1n, a success),
 * InitProducer and the sequences are the sidecar's, a resent batch is appended once, Acks.ALL gets
 * the cluster's offsets, and everything reaches the broker once, in order, including what was
 * produced while the broker was down. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";

import { partitionForKey, RunnelClient } from "../src/client.js";
import { Broker, Sidecar } from "../src/testing.js";
import { Acks, type ProduceResponse, ProduceRequestSchema } from "../../../gen/ts/runnel/v1/produce_pb.js";
import { type Record as RecordMessage, RecordSchema } from "../../../gen/ts/runnel/v1/record_pb.js";
import { StartPosition } from "../../../gen/ts/runnel/v1/subscribe_pb.js";

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

/** A broker, a sidecar in front of it, and a client of each, for fn. */
async function withSidecar(fn: (broker: Broker, sidecar: Sidecar, local: RunnelClient, direct: RunnelClient) => Promise<void>): Promise<void> {
  const broker = await Broker.start();
  let sidecar: Sidecar | undefined;
  try {
    sidecar = await Sidecar.start(broker.address);
    const local = new RunnelClient(sidecar.address);
    const direct = new RunnelClient(broker.address);
    try {
      await fn(broker, sidecar, local, direct);
    } finally {
      local.close();
      direct.close();
    }
  } finally {
    await sidecar?.stop();
    await broker.stop();
  }
}

test("the idempotent producer through a sidecar, the broker down for a while", () => withSidecar(async (broker, sidecar, local, direct) => {
  const partitions = 3, records = 600;
  await local.createTopic("sc-orders", partitions);
  const producer = local.producer("sc-orders", { batchRecords: 50 });
  const sent: Promise<ProduceResponse>[] = [];
  for (let i = 0; i < records; i++) {
    sent.push(producer.send(String(i), { key: `k${i % 7}` }));
    if (i === records / 2) {
      await producer.flush();
      await broker.terminate(); // the sidecar goes on acknowledging
    }
  }
  await producer.flush();
  assert.ok(producer.producerId > 0n, "the sidecar's InitProducer gave it an id");
  // Each batch is acknowledged as spooled: its whole record count at base offset -1, a success.
  const byResponse = new Map<ProduceResponse, number[]>();
  for (let i = 0; i < records; i++) {
    const resp = await sent[i];
    assert.equal(resp.acks.length, 1);
    const [ack] = resp.acks;
    assert.equal(ack.baseOffset, -1n);
    assert.equal(ack.partition, partitionForKey(utf8(`k${i % 7}`), partitions));
    byResponse.set(resp, [...(byResponse.get(resp) ?? []), i]);
  }
  for (const [resp, is] of byResponse) assert.equal(resp.acks[0].recordCount, is.length);
  assert.ok((await sidecar.status()).records_waiting > 0, "the broker was down: nothing after it went was forwarded");
  await producer.close();

  await broker.restart();
  await sidecar.waitForwarded();
  const log = await readAll(direct, "sc-orders", partitions);
  const values = log.flat().map((r) => Number(text(r.value))).sort((a, b) => a - b);
  assert.deepEqual(values, Array.from({ length: records }, (_, i) => i), "each record exactly once");
  log.forEach((recs, p) => {
    assert.deepEqual(recs.map((r) => r.offset), recs.map((_, i) => BigInt(i)));
    const byKey = new Map<string, number[]>();
    for (const r of recs) {
      assert.equal(partitionForKey(r.key, partitions), p);
      byKey.set(text(r.key), [...(byKey.get(text(r.key)) ?? []), Number(text(r.value))]);
    }
    for (const [key, vs] of byKey) assert.deepEqual(vs, [...vs].sort((a, b) => a - b), `${key} out of order in partition ${p}`);
  });
  assert.deepEqual(await readAll(local, "sc-orders", partitions), log);
}));

test("a batch resent to the sidecar is appended once", () => withSidecar(async (_broker, sidecar, local, direct) => {
  await local.createTopic("sc-idem", 1);
  const producer = local.producer("sc-idem", { partition: 0 });
  void producer.send("before");
  await producer.flush();
  const first = producer.send("a");
  void producer.send("b");
  void producer.send("c");
  await producer.flush();
  const ack = (await first).acks[0];
  assert.deepEqual([ack.partition, ack.baseOffset, ack.recordCount], [0, -1n, 3]);
  // The same batch again by hand, as a retry: the producer's id, epoch 0, and the sequence of its
  // first record (1, after "before").
  async function* retry() {
    yield create(ProduceRequestSchema, {
      topic: "sc-idem", partition: 0, correlationId: 1n, records: ["a", "b", "c"].map((v) => create(RecordSchema, { value: utf8(v) })),
      producerId: producer.producerId, producerEpoch: 0, baseSequence: 1n,
    });
  }
  let again: ProduceResponse | undefined;
  for await (const resp of local.produce.produce(retry())) again = resp;
  assert.equal(again?.error, undefined);
  assert.equal(again?.acks[0].recordCount, 3);
  // And the producer goes on in sequence after it.
  const next = producer.send("d");
  await producer.close();
  assert.equal((await next).acks[0].baseOffset, -1n);
  await sidecar.waitForwarded();
  assert.deepEqual((await readAll(direct, "sc-idem", 1))[0].map((r) => text(r.value)), ["before", "a", "b", "c", "d"]);
}));

test("Acks.ALL through the sidecar gets the cluster's offsets", () => withSidecar(async (_broker, sidecar, local) => {
  await local.createTopic("sc-all", 1);
  const spooled = local.producer("sc-all", { partition: 0 });
  void spooled.send("spooled");
  await spooled.close();
  const producer = local.producer("sc-all", { partition: 0, batchRecords: 2, acks: Acks.ALL });
  const sent = ["x", "y", "z"].map((v) => producer.send(v));
  await producer.close();
  // Each batch waited for the cluster, after the spooled record that went before it.
  const acks = await Promise.all(sent.map(async (s) => (await s).acks[0]));
  assert.deepEqual(acks.map((a) => [a.baseOffset, a.recordCount]), [[1n, 2], [1n, 2], [3n, 1]]);
  assert.equal((await sidecar.status()).records_waiting, 0);
}));
