/**
 * Consumer groups coordinated by the broker, against a real broker process:
 * members split a topic's partitions, every group reads every record, and a
 * revoked partition moves to its new owner right after what the old one
 * read.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";

import { run as runGroups } from "../../../examples/ts/groups.js";
import { RunnelClient, type Assignment, type Consumer, type ConsumerOptions, type Message } from "../src/client.js";
import { Broker } from "../src/testing.js";

// Well below the broker's rebalance timeout (30 s), after which a revoked
// partition moves whether or not its old owner committed it.
const WAIT_MS = 15_000;

let broker: Broker;
let client: RunnelClient;
before(async () => {
  broker = await Broker.start();
  client = new RunnelClient(broker.address);
});
after(async () => {
  client.close();
  await broker.stop();
});

const name = (prefix: string) => `${prefix}-${randomUUID().slice(0, 8)}`;

/** A consumer iterated in its own loop, keeping what it was given. */
class Running {
  readonly consumer: Consumer;
  readonly messages: Message[] = [];
  readonly events: Assignment[] = [];
  error?: unknown;
  private readonly loop: Promise<void>;

  constructor(topic: string | string[], group: string, options: ConsumerOptions = {},
    callback?: (r: Running, a: Assignment) => Promise<void>) {
    this.consumer = client.consumer(topic, group, {
      ...options,
      onAssignment: async (a) => {
        await callback?.(this, a);
        this.events.push(a);
      },
    });
    const consumer = this.consumer;
    this.loop = (async () => {
      try {
        for await (const m of consumer) this.messages.push(m);
      } catch (e) {
        this.error = e;
      }
    })();
  }

  owned(): Set<string> {
    const a = this.consumer.assignment;
    return new Set(a ? Object.entries(a.partitions).flatMap(([t, ps]) => ps.map((p) => `${t}/${p}`)) : []);
  }

  async stop(): Promise<void> {
    this.consumer.close();
    await this.loop;
    assert.equal(this.error, undefined);
  }
}

async function until(what: string, members: Running[], done: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    for (const m of members) if (m.error !== undefined) throw new Error(`a consumer failed while waiting for ${what}: ${m.error}`);
    if (Date.now() > deadline) {
      throw new Error(`${what} within ${timeoutMs} ms; events ${JSON.stringify(members.map((m) => m.events))}, ` +
        `messages ${members.map((m) => m.messages.length)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function produce(topic: string, partitions: number, perPartition: number, start = 0): Promise<void> {
  for (let p = 0; p < partitions; p++) {
    const producer = client.producer(topic, { partition: p });
    for (let i = start; i < start + perPartition; i++) void producer.send(`${p}:${i}`);
    await producer.close();
  }
}

const all = (topic: string, n: number) => new Set(Array.from({ length: n }, (_, p) => `${topic}/${p}`));
const union = <T,>(a: Set<T>, b: Set<T>) => new Set([...a, ...b]);
const disjoint = <T,>(a: Set<T>, b: Set<T>) => [...a].every((x) => !b.has(x));
const at = (m: Message) => `${m.partition}@${m.offset}`;
const sorted = (xs: string[]) => [...xs].sort();

test("two members split the partitions and another group reads everything", async () => {
  const topic = name("split"), group = name("g");
  await client.createTopic(topic, 4);
  const a = new Running(topic, group);
  await until("the first member to own every partition", [a], () => a.owned().size === 4);
  const first = a.consumer.assignment!;
  assert.equal(first.group, group);
  assert.ok(first.memberId !== "" && first.memberEpoch > 0);
  assert.deepEqual(first.partitions, { [topic]: [0, 1, 2, 3] });
  assert.deepEqual(first.revoked, {});

  const b = new Running(topic, group);
  await until("the members to split the partitions", [a, b], () => a.owned().size > 0 && b.owned().size > 0 &&
    disjoint(a.owned(), b.owned()) && union(a.owned(), b.owned()).size === 4);
  assert.equal(a.owned().size, 2);
  assert.equal(b.owned().size, 2);
  assert.deepEqual(union(a.owned(), b.owned()), all(topic, 4));
  assert.notEqual(a.consumer.assignment!.memberId, b.consumer.assignment!.memberId);
  // The callback sees every event, the accessor the latest (once the
  // callbacks of the events in flight have run).
  await until("the callbacks to catch up", [a, b],
    () => [a, b].every((m) => m.events.length > 0 && m.events.at(-1) === m.consumer.assignment));
  // The first member was told what it lost: just what the second got.
  const revoked = new Set(a.events.flatMap((e) => Object.entries(e.revoked).flatMap(([t, ps]) => ps.map((p) => `${t}/${p}`))));
  assert.deepEqual(revoked, b.owned());

  await produce(topic, 4, 10);
  await until("every record", [a, b], () => a.messages.length + b.messages.length >= 40);
  for (const m of [a, b]) for (const x of m.messages) assert.ok(m.owned().has(`${x.topic}/${x.partition}`));
  const seen = [...a.messages, ...b.messages].map(at);
  assert.equal(seen.length, 40);
  assert.deepEqual(sorted(seen), sorted(Array.from({ length: 40 }, (_, i) => `${i % 4}@${BigInt(Math.floor(i / 4))}`)));
  await a.stop();
  await b.stop();

  // Another group reads every record, whatever the first committed.
  const other = client.consumer(topic, name("other"), { follow: false });
  const got: string[] = [];
  for await (const m of other) got.push(at(m));
  assert.deepEqual(sorted(got), sorted(seen));
  assert.deepEqual(other.assignment!.partitions, { [topic]: [0, 1, 2, 3] });
});

for (const commitOnRevoke of [true, false]) {
  test(`a revoked partition moves right after what its owner read (${commitOnRevoke ? "commit on revoke" : "commit in the callback"})`, async () => {
    const topic = name("handoff"), group = name("g");
    await client.createTopic(topic, 4);
    await produce(topic, 4, 10);
    const a = new Running(topic, group, { commitOnRevoke }, commitOnRevoke ? undefined : async (r, e) => {
      if (Object.keys(e.revoked).length > 0) await r.consumer.commit(); // still covers the revoked partitions
    });
    await until("the first member to read every record", [a], () => a.messages.length === 40);
    assert.equal((await a.consumer.committed()).size, 0); // nothing committed by hand

    const b = new Running(topic, group);
    // The revoked partitions move at once: their commit releases them, long
    // before the rebalance timeout would.
    await until("the second member to get its partitions", [a, b], () => b.owned().size === 2);
    const moved = [...b.owned()].map((k) => Number(k.split("/")[1]));
    assert.ok(disjoint(a.owned(), b.owned()));
    assert.deepEqual(union(a.owned(), b.owned()), all(topic, 4));
    const committed = await a.consumer.committed();
    for (const p of moved) assert.equal(committed.get(p), 10n);

    await produce(topic, 4, 5, 10);
    await until("the new records", [a, b], () => a.messages.length === 50 && b.messages.length === 10);
    // The new owner started right after what the old one read: nothing
    // twice, and nothing of a moved partition read by both.
    assert.deepEqual(sorted(b.messages.map(at)), sorted(moved.flatMap((p) => [10, 11, 12, 13, 14].map((o) => `${p}@${o}`))));
    for (const x of a.messages) if (moved.includes(x.partition)) assert.ok(x.offset < 10n);
    // The old owner commits as the member it is now: the partitions it kept.
    await a.consumer.commit();
    const after = await a.consumer.committed();
    for (const k of a.owned()) assert.equal(after.get(Number(k.split("/")[1])), 15n);
    await a.stop();
    await b.stop();
  });
}

test("a commit of a partition taken away is refused", async () => {
  const topic = name("fenced"), group = name("g");
  await client.createTopic(topic, 2);
  const a = new Running(topic, group);
  await until("the member to own both partitions", [a], () => a.owned().size === 2);
  await produce(topic, 2, 1);
  await until("both records", [a], () => a.messages.length === 2);
  const stale = a.consumer.assignment!;
  const b = new Running(topic, group);
  await until("the second member's partition", [a, b], () => b.owned().size === 1);
  const lost = Number([...b.owned()][0].split("/")[1]);
  // Done with the revocation: committed and forgotten, then the callback.
  await until("the first member's revocation", [a], () => a.events.some((e) => Object.keys(e.revoked).length > 0));
  // A member's commit carries its id and epoch: the broker refuses a
  // partition the member no longer owns, here moving it back (committing
  // again the committed offset, 1, would change nothing, and passes).
  await assert.rejects(client.commit.commit({
    group, topic, memberId: stale.memberId, memberEpoch: stale.memberEpoch, offsets: [{ partition: lost, offset: 0n }],
  }), (e) => ConnectError.from(e).code === Code.FailedPrecondition);
  // Its own commit covers only what it still owns (it committed the other
  // when it lost it): accepted.
  await a.consumer.commit();
  assert.deepEqual(await a.consumer.committed(), new Map([[0, 1n], [1, 1n]]));
  await a.stop();
  await b.stop();
});

test("several topics and a static member", async () => {
  const t1 = name("multi-a"), t2 = name("multi-b"), group = name("g");
  await client.createTopic(t1, 2);
  await client.createTopic(t2, 2);
  await produce(t1, 2, 3);
  await produce(t2, 2, 3);
  const a = new Running([t1, t2], group, { instanceId: "worker-1" });
  await until("every record of both topics", [a], () => a.messages.length === 12);
  assert.deepEqual(a.consumer.assignment!.partitions, { [t1]: [0, 1], [t2]: [0, 1] });
  assert.deepEqual(sorted(a.messages.map((m) => `${m.topic}/${at(m)}`)),
    sorted([t1, t2].flatMap((t) => [0, 1].flatMap((p) => [0, 1, 2].map((o) => `${t}/${p}@${o}`)))));
  await a.consumer.commit(); // one commit per topic
  assert.deepEqual(await a.consumer.committed(t1), new Map([[0, 3n], [1, 3n]]));
  assert.deepEqual(await a.consumer.committed(t2), new Map([[0, 3n], [1, 3n]]));
  const memberId = a.consumer.assignment!.memberId;
  await a.stop();

  // The same instance, back within the session timeout: the same member
  // with the same partitions, resuming after its commit.
  await produce(t2, 2, 1, 3);
  const again = new Running([t1, t2], group, { instanceId: "worker-1" });
  await until("the restarted member's new records", [again], () => again.messages.length === 2);
  assert.equal(again.consumer.assignment!.memberId, memberId);
  assert.deepEqual(again.consumer.assignment!.partitions, { [t1]: [0, 1], [t2]: [0, 1] });
  assert.deepEqual(sorted(again.messages.map((m) => `${m.topic}/${at(m)}`)), [`${t2}/0@3`, `${t2}/1@3`]);
  await again.stop();
});

test("manual assignment reads just its partitions", async () => {
  const topic = name("manual"), group = name("g");
  await client.createTopic(topic, 3);
  await produce(topic, 3, 2);
  const consumer = client.consumer(topic, group, { partitions: [1], follow: false });
  const got: string[] = [];
  for await (const m of consumer) got.push(at(m));
  assert.deepEqual(got, ["1@0", "1@1"]);
  assert.equal(consumer.assignment, undefined); // no membership
  await consumer.commit();
  assert.deepEqual(await consumer.committed(), new Map([[1, 2n]]));
  const again: Message[] = [];
  for await (const m of client.consumer(topic, group, { partitions: [1], follow: false })) again.push(m);
  assert.deepEqual(again, []);
});

test("the example's two members split the partitions and the audit group reads everything", async () => {
  const result = await runGroups(broker.address);
  assert.equal(result.members.length, 2);
  const [p0, p1] = result.members.map((m) => new Set(m.partitions));
  assert.ok(p0.size > 0 && p1.size > 0 && disjoint(p0, p1));
  assert.deepEqual(sorted([...union(p0, p1)].map(String)), ["0", "1", "2", "3"]);
  const split = result.members.flatMap((m) => m.messages.map(at));
  assert.equal(split.length, result.produced);
  assert.equal(new Set(split).size, result.produced);
  for (const m of result.members) for (const x of m.messages) assert.ok(m.partitions.includes(x.partition));
  assert.deepEqual(sorted(result.audit.map(at)), sorted(split));
});
