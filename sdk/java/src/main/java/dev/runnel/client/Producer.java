package dev.runnel.client;

import com.google.protobuf.ByteString;
import dev.runnel.v1.Acks;
import dev.runnel.v1.DescribeTopicRequest;
import dev.runnel.v1.Header;
import dev.runnel.v1.InitProducerRequest;
import dev.runnel.v1.InitProducerResponse;
import dev.runnel.v1.ProduceRequest;
import dev.runnel.v1.ProduceResponse;
import dev.runnel.v1.Record;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Batches records per partition into produce requests, pipelined on one stream, and retries them
 * until they are acknowledged. {@link #send} returns a future of the {@code ProduceResponse} of the
 * request the record went out in (its one ack gives the partition's base offset), failed with
 * {@link ProduceException} if the record could not be delivered. {@link #flush} sends what is
 * batched, waits for every ack and throws the first error since the last flush.
 *
 * <p>The producer partitions records itself: with {@link Options#partition} every record goes
 * there; a keyed record goes where Kafka's partitioner (and the broker) puts it, murmur2 of the
 * key; keyless records fill one partition's batch, then the next one's.
 *
 * <p>A batch that fails with {@code UNAVAILABLE}, {@code DEADLINE_EXCEEDED} or {@code
 * RESOURCE_EXHAUSTED}, or whose stream broke (the broker went away), is sent again, on a new
 * stream if need be, with a growing backoff, until the delivery timeout after it closed; then it
 * fails. A request not acknowledged within the request timeout counts as {@code
 * DEADLINE_EXCEEDED} (a broker that hangs rather than goes away). A partition has one batch in flight at a time, so records sent to one partition are
 * appended in order, retries included.
 *
 * <p>The producer is idempotent (Kafka's {@code enable.idempotence}; on by default): it asks the
 * broker for a producer id before its first batch and numbers each partition's records, so that
 * the broker appends a batch sent again after an unknown outcome once, and acknowledges the retry
 * with the first offsets. With {@code idempotent(false)} such a retry may append the batch twice.
 *
 * <p>{@link Options#acks} is left unset by default ({@code ACKS_UNSPECIFIED}): the receiver decides.
 * A broker then acknowledges as {@code ACKS_ALL} (a quorum has the records fsync'd); a sidecar
 * ({@code runnel sidecar}) once its local spool has them fsync'd, before the cluster has them, with
 * {@code base_offset} -1 in the ack (the cluster's offset is not known yet): the future's response
 * then says where the records went ({@code getAcks(0).getPartition()}, {@code getRecordCount()}) but
 * not at which offset, and it is a success. {@code ACKS_ALL} makes a sidecar wait for the cluster and
 * return its offsets; {@code ACKS_LEADER} asks for the leader's fsync alone.
 *
 * <p>The futures complete on gRPC's and the producer's threads: dependent stages must not block
 * (on another future of the producer, say); use the {@code *Async} stages to run them elsewhere.
 */
public final class Producer implements AutoCloseable {
  /** A producer's settings: {@code client.producer(topic, new Producer.Options().idempotent(false))}. */
  public static final class Options {
    private Integer partition;
    private int batchRecords = 500;
    private boolean idempotent = true;
    private Duration deliveryTimeout = Duration.ofMinutes(2);
    private Duration requestTimeout = Duration.ofSeconds(10);
    private Acks acks = Acks.ACKS_UNSPECIFIED;

    /** Send every record to this partition, rather than partition them. */
    public Options partition(int partition) {
      this.partition = partition;
      return this;
    }

    /** Records per request: a partition's batch is sent once it has this many, or on flush (500). */
    public Options batchRecords(int batchRecords) {
      this.batchRecords = Math.max(batchRecords, 1);
      return this;
    }

    /** The idempotent producer (the default): a batch sent again is appended once. */
    public Options idempotent(boolean idempotent) {
      this.idempotent = idempotent;
      return this;
    }

    /** How long a batch may be retried, from when it closed, before it fails (2 minutes). */
    public Options deliveryTimeout(Duration deliveryTimeout) {
      this.deliveryTimeout = deliveryTimeout;
      return this;
    }

    /** A request not acknowledged this long counts as DEADLINE_EXCEEDED, and is retried (10 s). */
    public Options requestTimeout(Duration requestTimeout) {
      this.requestTimeout = requestTimeout;
      return this;
    }

    /** When a batch is acknowledged (ACKS_UNSPECIFIED, the default: the receiver decides; see {@link Producer}). */
    public Options acks(Acks acks) {
      this.acks = acks;
      return this;
    }
  }

  /** Kafka's murmur2 hash (org.apache.kafka.common.utils.Utils), bit for bit: the broker's. */
  public static int murmur2(byte[] data) {
    final int m = 0x5bd1e995;
    int h = 0x9747b28c ^ data.length;
    int blocks = data.length / 4;
    for (int i = 0; i < blocks; i++) {
      int j = i * 4;
      int k = (data[j] & 0xff) | (data[j + 1] & 0xff) << 8 | (data[j + 2] & 0xff) << 16 | (data[j + 3] & 0xff) << 24;
      k *= m;
      k ^= k >>> 24;
      k *= m;
      h *= m;
      h ^= k;
    }
    int t = blocks * 4;
    switch (data.length - t) {
      case 3:
        h ^= (data[t + 2] & 0xff) << 16;
        // falls through
      case 2:
        h ^= (data[t + 1] & 0xff) << 8;
        // falls through
      case 1:
        h ^= data[t] & 0xff;
        h *= m;
        break;
      default:
        break;
    }
    h ^= h >>> 13;
    h *= m;
    h ^= h >>> 15;
    return h;
  }

  /** Where Kafka's default partitioner, and the broker, put a non-empty key: toPositive(murmur2(key)) % partitions. */
  public static int partitionForKey(byte[] key, int partitions) {
    return (murmur2(key) & 0x7fffffff) % partitions;
  }

  /** The codes a batch is sent again on: the leader moved or is being elected, the broker is down or busy. */
  private static final Set<Status.Code> RETRIABLE =
      EnumSet.of(Status.Code.UNAVAILABLE, Status.Code.DEADLINE_EXCEEDED, Status.Code.RESOURCE_EXHAUSTED);
  /** The codes of a stream that broke rather than failed: what was in flight has an unknown outcome. */
  private static final Set<Status.Code> BROKEN =
      EnumSet.of(Status.Code.ABORTED, Status.Code.UNKNOWN, Status.Code.INTERNAL, Status.Code.CANCELLED);

  /** A partition's closed batch: its records, the future they share, and its delivery state. */
  private static final class Batch {
    final int partition;
    final List<Record> records;
    final CompletableFuture<ProduceResponse> future;
    final long deadline; // System.nanoTime()
    int attempts;
    long backoffMillis = 50;
    ScheduledFuture<?> timer; // set while it waits for its retry
    ScheduledFuture<?> ackTimer; // set while it waits for its ack
    Integer stream; // the stream it is in flight on
    boolean resequenced;
    boolean unknown; // an attempt may have been appended

    Batch(int partition, List<Record> records, CompletableFuture<ProduceResponse> future, long deadline) {
      this.partition = partition;
      this.records = records;
      this.future = future;
      this.deadline = deadline;
    }
  }

  /**
   * One partition's batches: the one filling, the one being delivered (at most one, so that a retry
   * never lands after a later batch) and those waiting their turn; and the idempotent producer's
   * epoch and next sequence number at the partition.
   */
  private static final class PartitionState {
    List<Record> records = new ArrayList<>();
    CompletableFuture<ProduceResponse> future = new CompletableFuture<>();
    Batch head;
    final ArrayDeque<Batch> waiting = new ArrayDeque<>();
    int epoch;
    long nextSequence;
  }

  private record Stream(int id, StreamObserver<ProduceRequest> requests, CountDownLatch finished) {}

  private final RunnelClient client;
  private final String topic;
  private final Integer partition;
  private final int batchRecords;
  private final boolean idempotent;
  private final Duration deliveryTimeout;
  private final Duration requestTimeout;
  private final Acks acks;
  private final ScheduledExecutorService timers = Executors.newSingleThreadScheduledExecutor(r -> {
    Thread t = new Thread(r, "runnel-producer-retries");
    t.setDaemon(true);
    return t;
  });

  // Guarded by this.
  private final Map<Integer, PartitionState> partitions = new TreeMap<>();
  private final Map<Long, Batch> inFlight = new HashMap<>();
  private long producerId; // from InitProducer, before the first batch
  private boolean initializing;
  private int partitionCount; // from DescribeTopic, for a producer without partition
  private int sticky; // where keyless records go
  private long nextId;
  private int streams;
  private Stream stream;
  private boolean closed;
  private RuntimeException rejected; // first batch error since the last flush
  // Futures to complete once this is released, so that their dependents never run holding it.
  private List<Runnable> deferred = new ArrayList<>();

  Producer(RunnelClient client, String topic, Options options) {
    this.client = client;
    this.topic = topic;
    this.partition = options.partition;
    this.batchRecords = options.batchRecords;
    this.idempotent = options.idempotent;
    this.deliveryTimeout = options.deliveryTimeout;
    this.requestTimeout = options.requestTimeout;
    this.acks = options.acks;
  }

  Producer(RunnelClient client, String topic, Integer partition, int batchRecords) {
    this(client, topic, partition == null
        ? new Options().batchRecords(batchRecords)
        : new Options().partition(partition).batchRecords(batchRecords));
  }

  /** The producer's id: 0 before its first batch, and without idempotence. */
  public synchronized long producerId() {
    return producerId;
  }

  public CompletableFuture<ProduceResponse> send(ByteString key, ByteString value, Map<String, ByteString> headers) {
    Record.Builder r = Record.newBuilder().setKey(key).setValue(value);
    headers.forEach((k, v) -> r.addHeaders(Header.newBuilder().setKey(k).setValue(v)));
    Record record = r.build();
    boolean describe;
    synchronized (this) {
      describe = partition == null && partitionCount == 0;
    }
    if (describe) {
      // NB: once, not holding this; throws for a missing topic.
      int n = client.admin.describeTopic(DescribeTopicRequest.newBuilder().setName(topic).build()).getTopic().getPartitions();
      synchronized (this) {
        if (partitionCount == 0) {
          partitionCount = n;
        }
      }
    }
    CompletableFuture<ProduceResponse> f;
    synchronized (this) {
      if (closed) {
        return CompletableFuture.failedFuture(new ProduceException(
            Status.FAILED_PRECONDITION.withDescription("the producer is closed")));
      }
      int p;
      boolean keyless = false;
      if (partition != null) {
        p = partition;
      } else if (!key.isEmpty()) {
        p = partitionForKey(key.toByteArray(), partitionCount);
      } else {
        p = sticky;
        keyless = true;
      }
      PartitionState s = partitions.computeIfAbsent(p, x -> new PartitionState());
      s.records.add(record);
      f = s.future;
      if (s.records.size() >= batchRecords) {
        closeBatch(p, s);
        if (keyless) {
          sticky = (sticky + 1) % partitionCount;
        }
        pump();
      }
    }
    runDeferred();
    return f;
  }

  /**
   * Sends what is batched and waits for every ack; throws the first error since the last flush (a
   * {@link ProduceException}).
   */
  public void flush() {
    List<CompletableFuture<ProduceResponse>> pending = new ArrayList<>();
    synchronized (this) {
      partitions.forEach(this::closeBatch);
      pump();
      for (PartitionState s : partitions.values()) {
        if (s.head != null) {
          pending.add(s.head.future);
        }
        s.waiting.forEach(b -> pending.add(b.future));
      }
    }
    runDeferred();
    for (CompletableFuture<ProduceResponse> f : pending) {
      try {
        f.join();
      } catch (RuntimeException e) {
        // Reported below, once.
      }
    }
    RuntimeException err;
    synchronized (this) {
      err = rejected;
      rejected = null;
    }
    if (err != null) {
      throw err;
    }
  }

  /** Flushes, then ends the stream and waits (up to 30 s) for the broker to end it too. */
  @Override
  public void close() {
    try {
      flush();
    } finally {
      Stream s;
      synchronized (this) {
        closed = true;
        ProduceException err = new ProduceException(
            Status.CANCELLED.withDescription("the producer closed before the batch was acknowledged"));
        for (PartitionState p : partitions.values()) {
          List<Batch> left = new ArrayList<>(p.waiting);
          if (p.head != null) {
            left.add(p.head);
          }
          for (Batch b : left) {
            if (b.timer != null) {
              b.timer.cancel(false);
            }
            cancelAckTimer(b);
            deferred.add(() -> b.future.completeExceptionally(err));
          }
          p.head = null;
          p.waiting.clear();
        }
        inFlight.clear();
        s = stream;
        stream = null;
        if (s != null) {
          s.requests.onCompleted();
        }
      }
      runDeferred();
      timers.shutdownNow();
      if (s != null) {
        try {
          s.finished.await(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
      }
    }
  }

  private void closeBatch(int n, PartitionState s) { // holding this
    if (s.records.isEmpty()) {
      return;
    }
    s.waiting.add(new Batch(n, s.records, s.future, System.nanoTime() + deliveryTimeout.toNanos()));
    s.records = new ArrayList<>();
    s.future = new CompletableFuture<>();
  }

  /** Sends each partition's next batch, and batches due for a retry. */
  private void pump() { // holding this
    if (closed) {
      return;
    }
    List<Batch> due = new ArrayList<>();
    for (PartitionState s : partitions.values()) {
      if (s.head == null) {
        s.head = s.waiting.poll();
      }
      Batch b = s.head;
      if (b != null && b.stream == null && b.timer == null) {
        due.add(b);
      }
    }
    if (due.isEmpty()) {
      return;
    }
    if (idempotent && producerId == 0) {
      if (!initializing) {
        initializing = true;
        client.produce.withDeadlineAfter(10, TimeUnit.SECONDS).initProducer(InitProducerRequest.getDefaultInstance(), new Init());
      }
      return;
    }
    if (stream == null) {
      int id = ++streams;
      CountDownLatch finished = new CountDownLatch(1);
      stream = new Stream(id, client.produce.produce(new Responses(id, finished)), finished);
    }
    for (Batch b : due) {
      PartitionState s = partitions.get(b.partition);
      long id = ++nextId;
      ProduceRequest.Builder req = ProduceRequest.newBuilder().setTopic(topic).setPartition(b.partition)
          .addAllRecords(b.records).setCorrelationId(id).setAcks(acks);
      if (idempotent) {
        req.setProducerId(producerId).setProducerEpoch(s.epoch).setBaseSequence(s.nextSequence);
      }
      b.attempts++;
      b.stream = stream.id();
      inFlight.put(id, b);
      b.ackTimer = timers.schedule(() -> {
        synchronized (this) {
          // NB: its response, should it come, is ignored; the retry goes on the same stream, after it.
          if (inFlight.remove(id) == b) {
            b.ackTimer = null;
            retryOrFail(b, Status.DEADLINE_EXCEEDED.withDescription("no ack within " + requestTimeout));
            pump();
          }
        }
        runDeferred();
      }, requestTimeout.toNanos(), TimeUnit.NANOSECONDS);
      stream.requests().onNext(req.build());
    }
  }

  private void answered(Batch b, ProduceResponse resp) { // holding this
    cancelAckTimer(b);
    PartitionState s = partitions.get(b.partition);
    if (!resp.hasError()) {
      s.nextSequence += b.records.size();
      resolve(b, resp, null);
      return;
    }
    Status err = Status.fromCodeValue(resp.getError().getCode()).withDescription(resp.getError().getMessage());
    if (err.getCode() == Status.Code.FAILED_PRECONDITION && idempotent && b.unknown) {
      // NB: an earlier attempt may be in the log: sent anew, the batch could be there twice.
      resequence(s);
      resolve(b, null, new ProduceException(err.withDescription("an earlier attempt's outcome is unknown, and the partition no longer knows the producer's sequence: the records may or may not have been appended: " + err.getDescription())));
      return;
    }
    if (err.getCode() == Status.Code.FAILED_PRECONDITION && idempotent && !b.resequenced) {
      // NB: nothing of the batch was appended; the partition lost track of the producer (it
      // expired, or its records were deleted): start again at 0 in a new epoch, once.
      b.resequenced = true;
      resequence(s);
      b.stream = null;
      pump();
      return;
    }
    retryOrFail(b, err);
  }

  private void retryOrFail(Batch b, Status err) { // holding this
    boolean retriable = RETRIABLE.contains(err.getCode());
    long now = System.nanoTime();
    if (!retriable || closed || now + TimeUnit.MILLISECONDS.toNanos(b.backoffMillis) > b.deadline) {
      if (retriable) {
        err = err.withDescription("delivery timeout (" + deliveryTimeout + ") after " + b.attempts + " attempts: "
            + err.getDescription());
        if (idempotent) {
          // The batch may or may not be appended: the next one cannot follow it in sequence.
          resequence(partitions.get(b.partition));
        }
      }
      resolve(b, null, new ProduceException(err));
      return;
    }
    b.stream = null;
    b.unknown = true;
    long delay = (long) (b.backoffMillis * (1 + ThreadLocalRandom.current().nextDouble() / 2));
    b.backoffMillis = Math.min(2 * b.backoffMillis, 1000);
    b.timer = timers.schedule(() -> {
      synchronized (this) {
        b.timer = null;
        pump();
      }
      runDeferred();
    }, delay, TimeUnit.MILLISECONDS);
  }

  private static void cancelAckTimer(Batch b) {
    if (b.ackTimer != null) {
      b.ackTimer.cancel(false);
      b.ackTimer = null;
    }
  }

  private static void resequence(PartitionState s) {
    s.epoch++;
    s.nextSequence = 0;
  }

  private void resolve(Batch b, ProduceResponse resp, RuntimeException err) { // holding this
    PartitionState s = partitions.get(b.partition);
    if (s.head == b) {
      s.head = null;
    }
    if (err != null) {
      if (rejected == null) {
        rejected = err;
      }
      deferred.add(() -> b.future.completeExceptionally(err));
    } else {
      deferred.add(() -> b.future.complete(resp));
    }
    pump();
  }

  private void runDeferred() {
    List<Runnable> run;
    synchronized (this) {
      run = deferred;
      deferred = new ArrayList<>();
    }
    run.forEach(Runnable::run);
  }

  /** The stream numbered id ended: what was in flight on it is retried or fails. */
  private void broken(int id, Status err) {
    synchronized (this) {
      if (stream != null && stream.id() == id) {
        stream = null;
      }
      for (Iterator<Batch> it = inFlight.values().iterator(); it.hasNext(); ) {
        Batch b = it.next();
        if (b.stream != null && b.stream == id) {
          it.remove();
          cancelAckTimer(b);
          retryOrFail(b, err);
        }
      }
      pump();
    }
    runDeferred();
  }

  private final class Init implements StreamObserver<InitProducerResponse> {
    @Override
    public void onNext(InitProducerResponse resp) {
      synchronized (Producer.this) {
        producerId = resp.getProducerId();
      }
    }

    @Override
    public void onError(Throwable t) {
      synchronized (Producer.this) {
        initializing = false;
        Status err = Status.fromThrowable(t);
        for (PartitionState s : partitions.values()) {
          if (s.head != null && s.head.stream == null && s.head.timer == null) {
            retryOrFail(s.head, err);
          }
        }
        pump();
      }
      runDeferred();
    }

    @Override
    public void onCompleted() {
      synchronized (Producer.this) {
        initializing = false;
        pump();
      }
      runDeferred();
    }
  }

  private final class Responses implements StreamObserver<ProduceResponse> {
    private final int id;
    private final CountDownLatch finished;

    Responses(int id, CountDownLatch finished) {
      this.id = id;
      this.finished = finished;
    }

    @Override
    public void onNext(ProduceResponse resp) {
      synchronized (Producer.this) {
        Batch b = inFlight.remove(resp.getCorrelationId());
        if (b != null) {
          answered(b, resp);
        }
      }
      runDeferred();
    }

    @Override
    public void onError(Throwable t) {
      Status err = Status.fromThrowable(t);
      if (BROKEN.contains(err.getCode())) {
        err = Status.UNAVAILABLE.withDescription("the produce stream broke: " + err).withCause(t);
      }
      broken(id, err);
      finished.countDown();
    }

    @Override
    public void onCompleted() {
      broken(id, Status.UNAVAILABLE.withDescription("the produce stream ended"));
      finished.countDown();
    }
  }
}
