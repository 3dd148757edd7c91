/**
 * A small, idiomatic layer over Runnel's generated stubs (gen/ts, made by
 * protoc-gen-es from proto/). The stubs are the API; this adds what is
 * awkward with them alone: an idempotent Producer that partitions and
 * batches records, pipelines requests on one stream and retries them without
 * duplicating or reordering, and a Consumer that iterates a group's records
 * and commits its position.
 *
 * Errors are ConnectErrors whose `code` is the gRPC status (Code.NotFound,
 * Code.OutOfRange, ...); a produce request that failed rejects with one.
 */
import { create } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { readFileSync } from "node:fs";

import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";

import { AdminService } from "../../../gen/ts/runnel/v1/admin_pb.js";
import { CommitService } from "../../../gen/ts/runnel/v1/commit_pb.js";
import { Acks, ProduceService, type ProduceRequest, ProduceRequestSchema, type ProduceResponse } from "../../../gen/ts/runnel/v1/produce_pb.js";
import { type Record as RecordMessage, RecordSchema, HeaderSchema, type TopicPartitions } from "../../../gen/ts/runnel/v1/record_pb.js";
import { type GroupAssignment, StartPosition, SubscribeService, type SubscribeResponse } from "../../../gen/ts/runnel/v1/subscribe_pb.js";
import { ACCEPTED_COMPRESSION, batchRecords } from "./compression.js";

export const DEFAULT_ADDRESS = "127.0.0.1:7400";

/**
 * How a RunnelClient reaches a broker: plaintext by default. For a broker
 * serving TLS (runnel serve --tls-cert), set tls (trusting Node's CAs) or
 * tlsCa, a PEM file of the CAs to trust; tlsCert and tlsKey are the client
 * certificate a broker with --tls-client-ca requires; tlsServerName the
 * name the broker's certificate must hold instead of the address's host.
 * token authenticates every call with a bearer token (a broker with
 * --token-file; runnel token create makes one): over plaintext it crosses
 * the network in the clear.
 */
export interface ClientOptions {
  token?: string;
  tls?: boolean;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsServerName?: string;
}

/** A connection to a broker, with the four services' stubs. */
export class RunnelClient {
  readonly admin: Client<typeof AdminService>;
  readonly produce: Client<typeof ProduceService>;
  readonly subscribe: Client<typeof SubscribeService>;
  readonly commit: Client<typeof CommitService>;
  private readonly session: Http2SessionManager;

  constructor(address: string = DEFAULT_ADDRESS, options: ClientOptions = {}) {
    const { token, tls, tlsCa, tlsCert, tlsKey, tlsServerName } = options;
    const secure = Boolean(tls || tlsCa || tlsCert || tlsKey || tlsServerName);
    if (Boolean(tlsCert) !== Boolean(tlsKey)) {
      throw new Error("tlsCert and tlsKey go together: the client certificate and its key");
    }
    const baseUrl = `${secure ? "https" : "http"}://${address}`;
    const tlsOptions = secure
      ? { ca: tlsCa ? readFileSync(tlsCa) : undefined, cert: tlsCert ? readFileSync(tlsCert) : undefined,
          key: tlsKey ? readFileSync(tlsKey) : undefined, servername: tlsServerName }
      : undefined;
    this.session = new Http2SessionManager(baseUrl, undefined, tlsOptions);
    const interceptors: Interceptor[] = token
      ? [(next) => async (req) => { req.header.set("authorization", `Bearer ${token}`); return next(req); }]
      : [];
    const transport = createGrpcTransport({ baseUrl, sessionManager: this.session, readMaxBytes: 64 << 20, writeMaxBytes: 64 << 20,
      interceptors });
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

  /** A producer to topic (see Producer): idempotent unless options.idempotent is false. */
  producer(topic: string, options: ProducerOptions = {}): Producer {
    return new Producer(this, topic, options);
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

/** Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils), bit for bit, as a signed 32-bit
 * number: the broker's and every Runnel SDK's. */
export function murmur2(data: Uint8Array): number {
  const m = 0x5bd1e995;
  let h = (0x9747b28c ^ data.length) >>> 0;
  const blocks = data.length >>> 2;
  for (let i = 0; i < blocks; i++) {
    const j = i * 4;
    let k = (data[j] | (data[j + 1] << 8) | (data[j + 2] << 16) | (data[j + 3] << 24)) >>> 0;
    k = Math.imul(k, m);
    k ^= k >>> 24;
    k = Math.imul(k, m);
    h = Math.imul(h, m) ^ k;
  }
  const t = blocks * 4;
  switch (data.length - t) {
    case 3: h ^= data[t + 2] << 16; // falls through
    case 2: h ^= data[t + 1] << 8; // falls through
    case 1: h ^= data[t]; h = Math.imul(h, m);
  }
  h ^= h >>> 13;
  h = Math.imul(h, m);
  h ^= h >>> 15;
  return h | 0;
}

/** Where Kafka's default partitioner, and the broker, put a non-empty key:
 * toPositive(murmur2(key)) % partitions. */
export const partitionForKey = (key: Uint8Array, partitions: number): number => (murmur2(key) & 0x7fffffff) % partitions;

export interface ProducerOptions {
  /** Every record goes to this partition; without it the producer partitions (see Producer). */
  partition?: number;
  /** Records per request: a partition's batch is sent once it has this many, or on flush (default 500). */
  batchRecords?: number;
  /** The idempotent producer (default true): a batch sent again is appended once. */
  idempotent?: boolean;
  /** How long a batch may be retried, from when it closed, before it fails (default 120 000). */
  deliveryTimeoutMs?: number;
  /** A request not acknowledged this long counts as DeadlineExceeded, and is retried (default 10 000). */
  requestTimeoutMs?: number;
  /** When a batch is acknowledged (default Acks.UNSPECIFIED: the receiver decides; see Producer). */
  acks?: Acks;
}

/** The codes a batch is sent again on: the leader moved or is being elected, the broker is down,
 * restarting or busy. Anything else would fail again. */
const retriable = (c: Code) => c === Code.Unavailable || c === Code.DeadlineExceeded || c === Code.ResourceExhausted;

/** A partition's closed batch: its records, the promise they share, and its delivery state. */
interface Batch {
  partition: number;
  records: RecordMessage[];
  pending: Pending;
  deadline: number;
  attempts: number;
  backoffMs: number;
  timer?: NodeJS.Timeout; // set while it waits for its retry, or for its ack
  stream?: number; // the stream it is in flight on
  resequenced: boolean;
  unknown?: boolean; // an attempt may have been appended
}

/** One partition's batches: the one filling, the one being delivered (at most one, so that a
 * retry never lands after a later batch) and those waiting their turn; and the idempotent
 * producer's epoch and next sequence number at the partition. */
interface PartitionState {
  records: RecordMessage[];
  pending: Pending;
  head?: Batch;
  waiting: Batch[];
  epoch: number;
  nextSequence: bigint;
}

/**
 * Batches records per partition into produce requests, pipelined on one stream, and retries them
 * until they are acknowledged. send() resolves to the ProduceResponse of the request the record
 * went out in (its one ack gives the partition's base offset) or rejects with a ConnectError.
 * flush() sends what is batched, waits for every ack and rejects with the first error since the
 * last flush.
 *
 * The producer partitions records itself: with `partition` every record goes there; a keyed
 * record goes where Kafka's partitioner (and the broker) puts it, murmur2 of the key; keyless
 * records fill one partition's batch, then the next one's.
 *
 * A batch that fails with Unavailable, DeadlineExceeded or ResourceExhausted, or whose stream
 * broke (the broker went away), is sent again, on a new stream if need be, with a growing backoff,
 * until deliveryTimeoutMs after it closed; then it fails. A request not acknowledged within
 * requestTimeoutMs counts as DeadlineExceeded (a broker that hangs rather than goes away). A partition has one batch in flight at
 * a time, so records sent to one partition are appended in order, retries included.
 *
 * The producer is idempotent (Kafka's enable.idempotence; on by default): it asks the broker for a
 * producer id before its first batch and numbers each partition's records, so that the broker
 * appends a batch sent again after an unknown outcome once, and acknowledges the retry with the
 * first offsets. With `idempotent: false` such a retry may append the batch twice.
 *
 * `acks` is left unset by default (Acks.UNSPECIFIED): the receiver decides. A broker then
 * acknowledges as Acks.ALL (a quorum has the records fsync'd); a sidecar (`runnel sidecar`) once
 * its local spool has them fsync'd, before the cluster has them, with baseOffset -1n in the ack
 * (the cluster's offset is not known yet): the response then says where the records went
 * (`acks[0].partition`, `recordCount`) but not at which offset, and it is a success. Acks.ALL makes
 * a sidecar wait for the cluster and return its offsets; Acks.LEADER asks for the leader's fsync
 * alone.
 */
export class Producer {
  private readonly partition: number | undefined;
  private readonly batchRecords: number;
  private readonly idempotent: boolean;
  private readonly deliveryTimeoutMs: number;
  private readonly requestTimeoutMs: number;
  private readonly acks: Acks;
  private readonly partitions = new Map<number, PartitionState>();
  private readonly inFlight = new Map<bigint, Batch>();
  private id = 0n; // from InitProducer, before the first batch
  private initializing = false;
  private partitionCount = 0; // from DescribeTopic, for a producer without partition
  private describing?: Promise<number>;
  private sticky = 0; // where keyless records go
  private nextId = 0n;
  private streams = 0;
  private stream?: { id: number; requests: Requests; done: Promise<void> };
  private closed = false;
  private rejected?: unknown; // first batch error since the last flush

  constructor(private readonly client: RunnelClient, private readonly topic: string, options: ProducerOptions = {}) {
    this.partition = options.partition;
    this.batchRecords = options.batchRecords ?? 500;
    this.idempotent = options.idempotent ?? true;
    this.deliveryTimeoutMs = options.deliveryTimeoutMs ?? 120_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.acks = options.acks ?? Acks.UNSPECIFIED;
  }

  /** The producer's id: 0n before its first batch, and without idempotence. */
  get producerId(): bigint {
    return this.id;
  }

  send(value: Uint8Array | string, options: { key?: Uint8Array | string; headers?: Headers } = {}): Promise<ProduceResponse> {
    if (this.closed) {
      const failed = pending();
      failed.reject(new ConnectError("the producer is closed", Code.FailedPrecondition));
      return failed.promise;
    }
    const record = create(RecordSchema, {
      value: bytes(value),
      key: options.key === undefined ? new Uint8Array() : bytes(options.key),
      headers: (options.headers ?? []).map(([key, v]) => create(HeaderSchema, { key, value: bytes(v) })),
    });
    if (this.partition !== undefined || this.partitionCount > 0) return this.add(record);
    // NB: the partition count, once; records sent meanwhile are added in order once it is known.
    this.describing ??= this.client.admin.describeTopic({ name: this.topic }).then(
      (r) => (this.partitionCount = r.topic?.partitions ?? 0),
      (e) => {
        this.describing = undefined;
        this.rejected ??= e;
        throw e;
      });
    const added = this.describing.then(() => this.add(record));
    added.catch(() => {}); // observed through send() or flush()
    return added;
  }

  private add(record: RecordMessage): Promise<ProduceResponse> {
    let partition = this.partition;
    let sticky = false;
    if (partition === undefined) {
      if (record.key.length > 0) partition = partitionForKey(record.key, this.partitionCount);
      else [partition, sticky] = [this.sticky, true];
    }
    let p = this.partitions.get(partition);
    if (!p) {
      p = { records: [], pending: pending(), waiting: [], epoch: 0, nextSequence: 0n };
      this.partitions.set(partition, p);
    }
    p.records.push(record);
    const promise = p.pending.promise;
    if (p.records.length >= this.batchRecords) {
      this.closeBatch(partition, p);
      if (sticky) this.sticky = (this.sticky + 1) % this.partitionCount;
      this.pump();
    }
    return promise;
  }

  async flush(): Promise<void> {
    await this.describing?.catch(() => {}); // records sent before it are added
    for (const [n, p] of this.partitions) this.closeBatch(n, p);
    this.pump();
    const batches = [...this.partitions.values()].flatMap((p) => [...(p.head ? [p.head] : []), ...p.waiting]);
    await Promise.allSettled(batches.map((b) => b.pending.promise));
    const err = this.rejected;
    this.rejected = undefined;
    if (err !== undefined) throw err;
  }

  /** Flushes, then ends the stream. */
  async close(): Promise<void> {
    try {
      await this.flush();
    } finally {
      this.closed = true;
      const err = new ConnectError("the producer closed before the batch was acknowledged", Code.Canceled);
      for (const p of this.partitions.values()) {
        for (const b of [...(p.head ? [p.head] : []), ...p.waiting]) {
          clearTimeout(b.timer);
          b.pending.reject(err);
        }
        p.head = undefined;
        p.waiting = [];
      }
      this.inFlight.clear();
      const s = this.stream;
      this.stream = undefined;
      s?.requests.close();
      await s?.done;
    }
  }

  private closeBatch(n: number, p: PartitionState): void {
    if (p.records.length === 0) return;
    p.waiting.push({
      partition: n, records: p.records, pending: p.pending, deadline: Date.now() + this.deliveryTimeoutMs,
      attempts: 0, backoffMs: 50, resequenced: false,
    });
    p.records = [];
    p.pending = pending();
  }

  /** Sends each partition's next batch, and batches due for a retry. */
  private pump(): void {
    if (this.closed) return;
    const due: Batch[] = [];
    for (const p of this.partitions.values()) {
      if (!p.head) p.head = p.waiting.shift();
      const b = p.head;
      if (b && b.stream === undefined && b.timer === undefined) due.push(b);
    }
    if (due.length === 0) return;
    if (this.idempotent && this.id === 0n) {
      if (!this.initializing) void this.initProducer();
      return;
    }
    if (!this.stream) this.openStream();
    const s = this.stream!;
    for (const b of due) {
      const p = this.partitions.get(b.partition)!;
      const correlationId = ++this.nextId;
      b.attempts++;
      b.stream = s.id;
      this.inFlight.set(correlationId, b);
      b.timer = setTimeout(() => {
        // NB: its response, should it come, is ignored; the retry goes on the same stream, after it.
        b.timer = undefined;
        if (!this.inFlight.delete(correlationId)) return;
        this.retryOrFail(b, new ConnectError(`no ack within ${this.requestTimeoutMs} ms`, Code.DeadlineExceeded));
        this.pump();
      }, this.requestTimeoutMs);
      s.requests.push(create(ProduceRequestSchema, {
        topic: this.topic, partition: b.partition, records: b.records, correlationId, acks: this.acks,
        ...(this.idempotent ? { producerId: this.id, producerEpoch: p.epoch, baseSequence: p.nextSequence } : {}),
      }));
    }
  }

  private async initProducer(): Promise<void> {
    this.initializing = true;
    try {
      this.id = (await this.client.produce.initProducer({}, { timeoutMs: 10_000 })).producerId;
    } catch (e) {
      const err = ConnectError.from(e);
      for (const p of this.partitions.values()) {
        if (p.head && p.head.stream === undefined && p.head.timer === undefined) this.retryOrFail(p.head, err);
      }
    } finally {
      this.initializing = false;
    }
    this.pump();
  }

  private openStream(): void {
    const id = ++this.streams;
    const requests = new Requests();
    const s = { id, requests, done: Promise.resolve() };
    s.done = this.read(id, requests, this.client.produce.produce(requests));
    this.stream = s;
  }

  private async read(stream: number, requests: Requests, responses: AsyncIterable<ProduceResponse>): Promise<void> {
    let err: ConnectError;
    try {
      for await (const resp of responses) {
        const b = this.inFlight.get(resp.correlationId);
        if (!b) continue;
        this.inFlight.delete(resp.correlationId);
        clearTimeout(b.timer);
        b.timer = undefined;
        this.answered(b, resp);
      }
      err = new ConnectError("the produce stream ended", Code.Unavailable);
    } catch (e) {
      err = ConnectError.from(e);
      // NB: a connection that breaks (ECONNRESET is Aborted) leaves the outcome of what was in
      // flight unknown, as Unavailable does: both are retried.
      if ([Code.Aborted, Code.Unknown, Code.Internal, Code.Canceled].includes(err.code)) {
        err = new ConnectError(`the produce stream broke: ${err.rawMessage}`, Code.Unavailable);
      }
    }
    requests.close();
    if (this.stream?.id === stream) this.stream = undefined;
    for (const [id, b] of this.inFlight) {
      if (b.stream !== stream) continue;
      this.inFlight.delete(id);
      clearTimeout(b.timer);
      b.timer = undefined;
      this.retryOrFail(b, err);
    }
    this.pump();
  }

  private answered(b: Batch, resp: ProduceResponse): void {
    const p = this.partitions.get(b.partition)!;
    if (!resp.error) {
      p.nextSequence += BigInt(b.records.length);
      this.resolve(b, resp);
      return;
    }
    const err = new ConnectError(resp.error.message, resp.error.code as Code);
    if (err.code === Code.FailedPrecondition && this.idempotent && b.unknown) {
      // NB: an earlier attempt may be in the log: sent anew, the batch could be there twice.
      this.resequence(p);
      this.resolve(b, undefined, new ConnectError("an earlier attempt's outcome is unknown, and the partition no longer knows the producer's sequence: the records may or may not have been appended: " + err.rawMessage, err.code));
      return;
    }
    if (err.code === Code.FailedPrecondition && this.idempotent && !b.resequenced) {
      // NB: nothing of the batch was appended; the partition lost track of the producer (it
      // expired, or its records were deleted): start again at 0 in a new epoch, once.
      b.resequenced = true;
      this.resequence(p);
      b.stream = undefined;
      this.pump();
      return;
    }
    this.retryOrFail(b, err);
  }

  private retryOrFail(b: Batch, err: ConnectError): void {
    const now = Date.now();
    if (!retriable(err.code) || this.closed || now + b.backoffMs > b.deadline) {
      if (retriable(err.code)) {
        err = new ConnectError(`delivery timeout (${this.deliveryTimeoutMs} ms) after ${b.attempts} attempts: ${err.rawMessage}`, err.code);
        // The batch may or may not be appended: the next one cannot follow it in sequence.
        if (this.idempotent) this.resequence(this.partitions.get(b.partition)!);
      }
      this.resolve(b, undefined, err);
      return;
    }
    b.stream = undefined;
    b.unknown = true;
    const delay = b.backoffMs * (1 + Math.random() / 2);
    b.backoffMs = Math.min(2 * b.backoffMs, 1000);
    b.timer = setTimeout(() => {
      b.timer = undefined;
      this.pump();
    }, delay);
  }

  private resequence(p: PartitionState): void {
    p.epoch++;
    p.nextSequence = 0n;
  }

  private resolve(b: Batch, resp?: ProduceResponse, err?: unknown): void {
    const p = this.partitions.get(b.partition)!;
    if (p.head === b) p.head = undefined;
    if (err !== undefined) {
      this.rejected ??= err;
      b.pending.reject(err);
    } else {
      b.pending.resolve(resp!);
    }
    this.pump();
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
      // NB: the broker sends a batch as stored only from its start at or
      // after the read's position; what the stream sent before is skipped,
      // should a batch repeat it.
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
