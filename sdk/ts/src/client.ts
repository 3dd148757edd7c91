/**
 * A small, idiomatic layer over Runnel's generated stubs (gen/ts, made by
 * protoc-gen-es from proto/). The stubs are the API; this adds what is
 * awkward with them alone: a Producer that batches records and pipelines
 * requests on one stream, and a Consumer that iterates a group's records
 * and commits its position.
 *
 * Errors are ConnectErrors whose `code` is the gRPC status (Code.NotFound,
 * Code.OutOfRange, ...); a produce request that failed rejects with one.
 */
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { AdminService } from "../../../gen/ts/runnel/v1/admin_pb.js";
import { CommitService } from "../../../gen/ts/runnel/v1/commit_pb.js";
import { ProduceService, type ProduceRequest, ProduceRequestSchema, type ProduceResponse } from "../../../gen/ts/runnel/v1/produce_pb.js";
import { type Record as RecordMessage, RecordSchema, HeaderSchema, type TopicPartitions } from "../../../gen/ts/runnel/v1/record_pb.js";
import { type GroupAssignment, StartPosition, SubscribeService, type SubscribeResponse } from "../../../gen/ts/runnel/v1/subscribe_pb.js";
import { ACCEPTED_COMPRESSION, batchRecords } from "./compression.js";

export const DEFAULT_ADDRESS = "127.0.0.1:7400";

/** A connection to a broker, with the four services' stubs. */
export class RunnelClient {
  readonly admin: Client<typeof AdminService>;
  readonly produce: Client<typeof ProduceService>;
  readonly subscribe: Client<typeof SubscribeService>;
  readonly commit: Client<typeof CommitService>;
  private readonly session: Http2SessionManager;

  constructor(address: string = DEFAULT_ADDRESS) {
    const baseUrl = `http://${address}`;
    this.session = new Http2SessionManager(baseUrl);
    const transport = createGrpcTransport({ baseUrl, sessionManager: this.session, readMaxBytes: 64 << 20, writeMaxBytes: 64 << 20 });
    this.admin = createClient(AdminService, transport);
    this.produce = createClient(ProduceService, transport);
    this.subscribe = createClient(SubscribeService, transport);
    this.commit = createClient(CommitService, transport);
  }

  /** Closes the connection (an open HTTP/2 session keeps Node running). */
  close(): void {
    this.session.abort();
  }

  /** Creates a topic; with existOk, an existing one is fine. */
  async createTopic(name: string, partitions = 1, config: { [key: string]: string } = {}, existOk = false): Promise<void> {
    try {
      await this.admin.createTopic({ name, partitions, config });
    } catch (e) {
      if (!(existOk && ConnectError.from(e).code === Code.AlreadyExists)) throw e;
    }
  }

  producer(topic: string, options: { partition?: number; batchRecords?: number } = {}): Producer {
    return new Producer(this, topic, options.partition, options.batchRecords ?? 500);
  }

  /** A consumer of group: a member the broker assigns partitions of topic (one or several), or, with
   * options.partitions, a reader of just those (see Consumer). */
  consumer(topic: string | string[], group: string, options: ConsumerOptions = {}): Consumer {
    return new Consumer(this, topic, group, options);
  }
}

/** An async queue: the request stream of a bidirectional call. */
class Requests implements AsyncIterable<ProduceRequest> {
  private items: ProduceRequest[] = [];
  private waiting?: () => void;
  private closed = false;

  push(r: ProduceRequest): void {
    this.items.push(r);
    this.waiting?.();
  }

  close(): void {
    this.closed = true;
    this.waiting?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<ProduceRequest> {
    for (;;) {
      const next = this.items.shift();
      if (next) {
        yield next;
        continue;
      }
      if (this.closed) return;
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = undefined;
    }
  }
}

interface Pending {
  resolve: (r: ProduceResponse) => void;
  reject: (e: unknown) => void;
  promise: Promise<ProduceResponse>;
}

function pending(): Pending {
  let resolve!: (r: ProduceResponse) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<ProduceResponse>((res, rej) => ((resolve = res), (reject = rej)));
  promise.catch(() => {}); // observed through send() or flush()
  return { resolve, reject, promise };
}

export type Headers = [string, Uint8Array | string][];

const bytes = (v: Uint8Array | string): Uint8Array => (typeof v === "string" ? new TextEncoder().encode(v) : v);

/**
 * Batches records into produce requests, pipelined on one stream. send()
 * resolves to the ProduceResponse of the request the record went out in
 * (its acks give each partition's base offset) or rejects with a
 * ConnectError. flush() sends what is batched, waits for every ack and
 * rejects with the first error since the last flush. Once the stream
 * itself fails (the broker went away), everything not acknowledged fails
 * and so does every later call.
 */
export class Producer {
  private readonly requests = new Requests();
  private readonly inFlight = new Map<bigint, Pending>();
  private batch: RecordMessage[] = [];
  private batchPending = pending();
  private nextId = 0n;
  private broken?: unknown; // the stream failed: final
  private rejected?: unknown; // first request error since the last flush
  private readonly done: Promise<void>;

  constructor(client: RunnelClient, private readonly topic: string, private readonly partition: number | undefined,
    private readonly batchRecords: number) {
    this.done = this.read(client.produce.produce(this.requests));
  }

  send(value: Uint8Array | string, options: { key?: Uint8Array | string; headers?: Headers } = {}): Promise<ProduceResponse> {
    if (this.broken !== undefined) {
      const failed = pending();
      failed.reject(this.broken);
      return failed.promise;
    }
    this.batch.push(create(RecordSchema, {
      value: bytes(value),
      key: options.key === undefined ? new Uint8Array() : bytes(options.key),
      headers: (options.headers ?? []).map(([key, v]) => create(HeaderSchema, { key, value: bytes(v) })),
    }));
    const p = this.batchPending.promise;
    if (this.batch.length >= this.batchRecords) this.sendBatch();
    return p;
  }

  async flush(): Promise<void> {
    this.sendBatch();
    await Promise.allSettled([...this.inFlight.values()].map((p) => p.promise));
    const err = this.broken ?? this.rejected;
    this.rejected = undefined;
    if (err !== undefined) throw err;
  }

  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.requests.close();
      await this.done;
    }
  }

  private sendBatch(): void {
    if (this.batch.length === 0) return;
    const records = this.batch;
    const p = this.batchPending;
    this.batch = [];
    this.batchPending = pending();
    if (this.broken !== undefined) {
      p.reject(this.broken);
      return;
    }
    const id = ++this.nextId;
    this.inFlight.set(id, p);
    this.requests.push(create(ProduceRequestSchema, { topic: this.topic, partition: this.partition, records, correlationId: id }));
  }

  private async read(responses: AsyncIterable<ProduceResponse>): Promise<void> {
    try {
      for await (const resp of responses) {
        const p = this.inFlight.get(resp.correlationId);
        if (!p) continue;
        this.inFlight.delete(resp.correlationId);
        if (resp.error) {
          const err = new ConnectError(resp.error.message, resp.error.code as Code);
          this.rejected ??= err;
          p.reject(err);
        } else {
          p.resolve(resp);
        }
      }
      this.break(new ConnectError("the produce stream ended", Code.Unavailable));
    } catch (e) {
      this.break(e);
    }
  }

  /** The stream is gone: fail everything not acknowledged. */
  private break(err: unknown): void {
    this.broken ??= err;
    for (const p of this.inFlight.values()) p.reject(err);
    this.inFlight.clear();
    if (this.batch.length > 0) {
      this.batchPending.reject(err);
      this.batch = [];
      this.batchPending = pending();
    }
  }
}

/** One consumed record. */
export interface Message {
  topic: string;
  partition: number;
  offset: bigint;
  key: Uint8Array;
  value: Uint8Array;
  headers: [string, Uint8Array][];
  timestampMs: number;
}

/** Partitions by topic. */
export type TopicPartitionMap = { [topic: string]: number[] };

/**
 * A group member's assignment, as the broker's latest assignment event gave
 * it: partitions is every partition the member now reads, revoked those the
 * event took away, each by topic.
 */
export interface Assignment {
  group: string;
  memberId: string;
  groupEpoch: number;
  memberEpoch: number;
  partitions: TopicPartitionMap;
  revoked: TopicPartitionMap;
}

export interface ConsumerOptions {
  /** Wait for new records (default true); false: stop at the end of the topics as they were. */
  follow?: boolean;
  /** Read just these partitions of the one topic (manual assignment: no membership, no events). */
  partitions?: number[];
  /** A static member's id (Kafka's group.instance.id): it keeps its partitions across a quick restart. */
  instanceId?: string;
  /** Called with each assignment event (awaited); see Consumer for when revoked partitions are committed. */
  onAssignment?: (a: Assignment) => void | Promise<void>;
  /** On a revocation, commit the revoked partitions before onAssignment (default true). */
  commitOnRevoke?: boolean;
  /** Where to start without a committed offset: StartPosition.LATEST, or the earliest (the default). */
  startPosition?: StartPosition;
  /** The most record bytes per response (the broker's default: 1 MiB). */
  maxBatchBytes?: number;
}

const byTopic = (tps: TopicPartitions[]): TopicPartitionMap =>
  Object.fromEntries(tps.map((tp) => [tp.topic, [...tp.partitions]]));

const key = (topic: string, partition: number) => JSON.stringify([topic, partition]);

/**
 * Iterates records of a consumer group (`for await`), and commits its
 * position.
 *
 * Without `partitions` the consumer is a member of the group: the broker
 * assigns the topics' partitions among the group's live members (each
 * partition to one member; every group reads every record) and tells the
 * member each change with an assignment event, which the consumer keeps
 * (`assignment`) and passes to `onAssignment`. Each partition starts at the
 * group's committed offset (without one: the earliest, or the latest with
 * startPosition LATEST). With `partitions` (one topic) it reads just those
 * from the group's committed offsets: manual assignment, no membership.
 *
 * commit() stores, per partition, the position after the last record handed
 * out, so whoever reads the partition next resumes there; a member commits
 * as itself (its id and epoch), and the broker refuses (FailedPrecondition)
 * a partition it no longer owns. On an event that revokes partitions the
 * consumer first commits their positions (unless commitOnRevoke is false),
 * which hands them to their new owner at once with nothing read twice, then
 * forgets them and calls onAssignment. With commitOnRevoke false it calls
 * onAssignment first, while commit() still covers the revoked partitions
 * (the last chance to commit them, as in Kafka's onPartitionsRevoked), and
 * forgets them after; a revoked partition left uncommitted moves only after
 * the group's rebalance timeout, which also removes this member.
 *
 * One stream serves the consumer from its first iteration to close():
 * leaving a `for await` early (break) keeps it, and its membership, so that
 * the consumer can still commit; iterating again goes on where it stopped.
 */
export class Consumer implements AsyncIterable<Message> {
  private readonly positions = new Map<string, { topic: string; partition: number; offset: bigint }>();
  private readonly abort = new AbortController();
  private readonly topics: string[];
  private readonly member: boolean;
  private current?: Assignment;
  private stream?: AsyncIterator<SubscribeResponse>;
  private ready: Message[] = [];
  private ended = false;
  // Where the stream is in each partition it has sent a batch of: the
  // offset after that batch. A compressed batch comes whole, so the first
  // one may begin before where the read started.
  private readonly streamNext = new Map<string, bigint>();

  constructor(private readonly client: RunnelClient, topic: string | string[], private readonly group: string,
    private readonly options: ConsumerOptions = {}) {
    this.topics = typeof topic === "string" ? [topic] : [...topic];
    if (this.topics.length === 0) throw new Error("a consumer reads at least one topic");
    this.member = (options.partitions ?? []).length === 0;
    if (!this.member && (this.topics.length > 1 || options.instanceId)) {
      throw new Error("several topics and instanceId are for a group member: no partitions");
    }
  }

  /** The latest assignment event: undefined before the first, and for a consumer that named its partitions. */
  get assignment(): Assignment | undefined {
    return this.current;
  }

  [Symbol.asyncIterator](): AsyncIterator<Message> {
    return {
      next: () => this.next(),
      // NB: leaving a loop keeps the stream: close() ends it.
      return: async () => ({ done: true, value: undefined }),
    };
  }

  private open(): AsyncIterator<SubscribeResponse> {
    const o = this.options;
    return this.client.subscribe.subscribe({
      topic: this.topics[0], topics: this.topics.slice(1), group: this.group, partitions: o.partitions ?? [],
      follow: o.follow ?? true, startPosition: o.startPosition ?? StartPosition.COMMITTED,
      instanceId: o.instanceId ?? "", maxBatchBytes: o.maxBatchBytes ?? 0, acceptCompression: [...ACCEPTED_COMPRESSION],
    }, { signal: this.abort.signal })[Symbol.asyncIterator]();
  }

  private async next(): Promise<IteratorResult<Message>> {
    while (this.ready.length === 0) {
      if (this.ended) return { done: true, value: undefined };
      let r: IteratorResult<SubscribeResponse>;
      try {
        this.stream ??= this.open();
        r = await this.stream.next();
      } catch (e) {
        if (ConnectError.from(e).code === Code.Canceled && this.abort.signal.aborted) r = { done: true, value: undefined };
        else throw e;
      }
      if (r.done) {
        this.ended = true;
        continue;
      }
      const resp = r.value;
      if (resp.assignment) {
        await this.assigned(resp.assignment);
        continue;
      }
      const b = resp.batch;
      if (!b) continue; // neither: a newer broker's kind of response
      const k = key(b.topic, b.partition);
      if (b.compressed && !this.streamNext.has(k)) this.streamNext.set(k, await this.readStart(b.topic, b.partition));
      const records = batchRecords(b, this.streamNext.get(k) ?? 0n);
      if (b.compressed) this.streamNext.set(k, b.compressed.baseOffset + BigInt(b.compressed.recordCount));
      else if (records.length > 0) this.streamNext.set(k, records[records.length - 1].offset + 1n);
      for (const rec of records) {
        this.ready.push({
          topic: b.topic, partition: b.partition, offset: rec.offset, key: rec.key, value: rec.value,
          headers: rec.headers.map((h) => [h.key, h.value] as [string, Uint8Array]),
          timestampMs: rec.timestamp ? timestampMs(rec.timestamp) : 0,
        });
      }
    }
    const m = this.ready.shift()!;
    this.positions.set(key(m.topic, m.partition), { topic: m.topic, partition: m.partition, offset: m.offset + 1n });
    return { done: false, value: m };
  }

  /** Where the broker started reading a partition: the group's committed
   * offset for a member, or with StartPosition.COMMITTED; otherwise
   * (EARLIEST, LATEST) a batch boundary, so 0 skips nothing. */
  private async readStart(topic: string, partition: number): Promise<bigint> {
    // NB: asked only when a partition's first batch is compressed. The
    // committed offset is the one the broker started from: this consumer
    // commits no partition before it has handed out one of its records, and
    // the group moves a partition only once its owner has committed.
    const p = this.options.startPosition ?? StartPosition.COMMITTED;
    if (!this.member && p !== StartPosition.COMMITTED && p !== StartPosition.UNSPECIFIED) return 0n;
    return (await this.committed(topic)).get(partition) ?? 0n;
  }

  private async assigned(event: GroupAssignment): Promise<void> {
    const a: Assignment = {
      group: event.group, memberId: event.memberId, groupEpoch: event.groupEpoch, memberEpoch: event.memberEpoch,
      partitions: byTopic(event.partitions), revoked: byTopic(event.revoked),
    };
    this.current = a;
    const revoked = new Set(event.revoked.flatMap((tp) => tp.partitions.map((p) => key(tp.topic, p))));
    revoked.forEach((k) => this.streamNext.delete(k)); // no batch of it follows; if it comes back, it starts anew
    const forget = () => revoked.forEach((k) => this.positions.delete(k));
    if (revoked.size > 0 && (this.options.commitOnRevoke ?? true)) {
      // NB: before the callback, so that the partitions move to their new
      // owner at once, which starts after the last record handed out here.
      try {
        await this.commitOnly(revoked);
      } catch (e) {
        // The group moved them on already (its rebalance timeout): their
        // new owner resumes at the last commit.
        if (ConnectError.from(e).code !== Code.FailedPrecondition) throw e;
      }
      forget();
    }
    try {
      await this.options.onAssignment?.(a);
    } finally {
      forget();
    }
  }

  /** Commits the position after the last record handed out, per partition. */
  async commit(): Promise<void> {
    await this.commitOnly();
  }

  private async commitOnly(only?: Set<string>): Promise<void> {
    const byTopic = new Map<string, { partition: number; offset: bigint }[]>();
    for (const [k, { topic, partition, offset }] of this.positions) {
      if (only && !only.has(k)) continue;
      if (!byTopic.has(topic)) byTopic.set(topic, []);
      byTopic.get(topic)!.push({ partition, offset });
    }
    const a = this.member ? this.current : undefined;
    for (const [topic, offsets] of [...byTopic].sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0))) {
      await this.client.commit.commit({
        group: this.group, topic, offsets: offsets.sort((x, y) => x.partition - y.partition),
        memberId: a?.memberId ?? "", memberEpoch: a?.memberEpoch ?? 0,
      });
    }
  }

  /** The group's committed offsets in topic (default: the first topic), by partition. */
  async committed(topic: string = this.topics[0]): Promise<Map<number, bigint>> {
    const resp = await this.client.commit.fetchCommitted({ group: this.group, topic });
    return new Map(resp.offsets.map((o) => [o.partition, o.offset]));
  }

  /** Ends the stream (a member leaves its group). */
  close(): void {
    this.abort.abort();
  }
}
