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
import { type Record as RecordMessage, RecordSchema, HeaderSchema } from "../../../gen/ts/runnel/v1/record_pb.js";
import { StartPosition, SubscribeService } from "../../../gen/ts/runnel/v1/subscribe_pb.js";

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

  consumer(topic: string, group: string, options: { follow?: boolean; partitions?: number[] } = {}): Consumer {
    return new Consumer(this, topic, group, options.follow ?? true, options.partitions ?? []);
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

/**
 * Iterates a topic's records as a member of a consumer group: from the
 * group's committed offsets (the earliest where it has none). commit()
 * stores the position after the last record handed out, so a consumer
 * created later resumes there. With follow it waits for new records;
 * without, iteration ends at the end of the topic as it was at the start.
 */
export class Consumer implements AsyncIterable<Message> {
  private readonly positions = new Map<number, bigint>();
  private readonly abort = new AbortController();

  constructor(private readonly client: RunnelClient, private readonly topic: string, private readonly group: string,
    private readonly follow: boolean, private readonly partitions: number[]) {}

  async *[Symbol.asyncIterator](): AsyncIterator<Message> {
    const stream = this.client.subscribe.subscribe(
      { topic: this.topic, group: this.group, follow: this.follow, partitions: this.partitions, startPosition: StartPosition.COMMITTED },
      { signal: this.abort.signal });
    try {
      for await (const resp of stream) {
        const b = resp.batch!;
        for (const r of b.records) {
          this.positions.set(b.partition, r.offset + 1n);
          yield {
            topic: b.topic, partition: b.partition, offset: r.offset, key: r.key, value: r.value,
            headers: r.headers.map((h) => [h.key, h.value] as [string, Uint8Array]),
            timestampMs: r.timestamp ? timestampMs(r.timestamp) : 0,
          };
        }
      }
    } catch (e) {
      if (ConnectError.from(e).code !== Code.Canceled) throw e;
    }
  }

  /** Commits the position after the last record handed out, per partition. */
  async commit(): Promise<void> {
    if (this.positions.size === 0) return;
    await this.client.commit.commit({
      group: this.group, topic: this.topic,
      offsets: [...this.positions].sort(([a], [b]) => a - b).map(([partition, offset]) => ({ partition, offset })),
    });
  }

  close(): void {
    this.abort.abort();
  }
}
