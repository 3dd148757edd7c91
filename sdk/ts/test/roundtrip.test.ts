import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";

import { run } from "../../../examples/ts/roundtrip.js";
import { RunnelClient } from "../src/client.js";
import { Broker } from "../src/testing.js";
import { StartPosition } from "../../../gen/ts/runnel/v1/subscribe_pb.js";

let broker: Broker;
before(async () => { broker = await Broker.start(); });
after(async () => { await broker.stop(); });

const text = (b: Uint8Array) => new TextDecoder().decode(b);

test("the example's produce, group consume, commit, resume round trip", async () => {
  const { first, rest, notFound } = await run(broker.address);
  assert.equal(first.length, 6);
  assert.equal(rest.length, 4);
  const all = [...first, ...rest];
  assert.deepEqual(all.map((m) => text(m.value)).sort(), Array.from({ length: 10 }, (_, i) => `order ${i}`).sort());
  for (const m of all) {
    const i = Number(text(m.value).split(" ")[1]);
    assert.equal(text(m.key), `customer-${i % 3}`);
    assert.deepEqual(m.headers.map(([k, v]) => [k, text(v)]), [["source", "typescript"]]);
    assert.ok(m.timestampMs > 0);
  }
  // One key, one partition; offsets dense from 0 within each partition.
  const partitionOf = new Map(all.map((m) => [text(m.key), m.partition]));
  for (const m of all) assert.equal(m.partition, partitionOf.get(text(m.key)));
  for (const p of new Set(all.map((m) => m.partition))) {
    const offsets = all.filter((m) => m.partition === p).map((m) => m.offset).sort((a, b) => Number(a - b));
    assert.deepEqual(offsets, offsets.map((_, i) => BigInt(i)));
  }
  // The second consumer started exactly where the first committed.
  const committed = new Map<number, bigint>();
  for (const m of first) committed.set(m.partition, m.offset + 1n);
  for (const [p, start] of committed) {
    const resumed = rest.filter((m) => m.partition === p).map((m) => m.offset);
    if (resumed.length > 0) assert.equal(resumed.reduce((a, b) => (a < b ? a : b)), start);
  }
  assert.equal(notFound, Code.NotFound);
});

test("errors are gRPC status codes", async () => {
  const client = new RunnelClient(broker.address);
  await client.createTopic("errors", 1, {}, true);
  await assert.rejects(client.createTopic("errors", 1), (e) => ConnectError.from(e).code === Code.AlreadyExists);
  await assert.rejects(async () => {
    for await (const _ of client.subscribe.subscribe({ topic: "errors", startPosition: StartPosition.OFFSET, startOffset: 99n })) void _;
  }, (e) => ConnectError.from(e).code === Code.OutOfRange);
  const producer = client.producer("errors", { partition: 7 });
  const sent = producer.send("x");
  await assert.rejects(producer.flush(), (e) => ConnectError.from(e).code === Code.InvalidArgument && /partition 7/.test(ConnectError.from(e).rawMessage));
  await assert.rejects(sent, (e) => ConnectError.from(e).code === Code.InvalidArgument);
  await producer.close().catch(() => {});
  client.close();
});

test("flush reports requests rejected earlier", async () => {
  const client = new RunnelClient(broker.address);
  await client.createTopic("rejected", 1, {}, true);
  const producer = client.producer("rejected", { partition: 5, batchRecords: 1 });
  await assert.rejects(producer.send("a"), (e) => ConnectError.from(e).code === Code.InvalidArgument);
  await assert.rejects(producer.flush(), (e) => ConnectError.from(e).code === Code.InvalidArgument);
  await producer.flush(); // reported once
  await producer.close();
  client.close();
});

test("a broker gone for good fails what it did not acknowledge", async () => {
  const own = await Broker.start();
  const client = new RunnelClient(own.address);
  await client.createTopic("t", 1);
  const producer = client.producer("t", { deliveryTimeoutMs: 1000 });
  void producer.send("acked");
  await producer.flush();
  const batched = producer.send("still batched");
  await own.stop(); // the stream ends with Unavailable, and so does every retry
  await assert.rejects(producer.flush(), (e) => ConnectError.from(e).code === Code.Unavailable && /delivery timeout/.test(ConnectError.from(e).rawMessage));
  await assert.rejects(batched, (e) => ConnectError.from(e).code === Code.Unavailable);
  const after = producer.send("after");
  await assert.rejects(producer.close()); // fails what it could not deliver, and returns
  await assert.rejects(after);
  client.close();
});
