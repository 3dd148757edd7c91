package dev.runnel.client;

import com.google.protobuf.ByteString;
import dev.runnel.v1.Header;
import dev.runnel.v1.ProduceRequest;
import dev.runnel.v1.ProduceResponse;
import dev.runnel.v1.Record;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Batches records into produce requests, pipelined on one stream. {@link #send} returns a future
 * of the {@code ProduceResponse} of the request the record went out in (its acks give each
 * partition's base offset), failed with {@link ProduceException} if the broker rejected it. {@link
 * #flush} sends what is batched, waits for every ack and throws the first error since the last
 * flush. Once the stream itself fails (the broker went away), everything not acknowledged fails
 * and so does every later call.
 */
public final class Producer implements AutoCloseable {
  private final String topic;
  private final Integer partition;
  private final int batchRecords;
  private final StreamObserver<ProduceRequest> requests;
  private final CountDownLatch finished = new CountDownLatch(1);

  // Guarded by this.
  private final Map<Long, CompletableFuture<ProduceResponse>> inFlight = new HashMap<>();
  private List<Record> batch = new ArrayList<>();
  private CompletableFuture<ProduceResponse> batchFuture = new CompletableFuture<>();
  private long nextId;
  private Throwable broken; // the stream failed: final
  private RuntimeException rejected; // first request error since the last flush

  Producer(RunnelClient client, String topic, Integer partition, int batchRecords) {
    this.topic = topic;
    this.partition = partition;
    this.batchRecords = batchRecords;
    this.requests = client.produce.produce(new Responses());
  }

  public CompletableFuture<ProduceResponse> send(ByteString key, ByteString value, Map<String, ByteString> headers) {
    Record.Builder r = Record.newBuilder().setKey(key).setValue(value);
    headers.forEach((k, v) -> r.addHeaders(Header.newBuilder().setKey(k).setValue(v)));
    synchronized (this) {
      if (broken != null) {
        return CompletableFuture.failedFuture(broken);
      }
      batch.add(r.build());
      CompletableFuture<ProduceResponse> f = batchFuture;
      if (batch.size() >= batchRecords) {
        sendBatch();
      }
      return f;
    }
  }

  /**
   * Sends what is batched and waits for every ack; throws the first error since the last flush
   * (a {@link ProduceException}) or the stream's failure.
   */
  public void flush() {
    List<CompletableFuture<ProduceResponse>> pending;
    synchronized (this) {
      sendBatch();
      pending = new ArrayList<>(inFlight.values());
    }
    for (CompletableFuture<ProduceResponse> f : pending) {
      try {
        f.join();
      } catch (RuntimeException e) {
        // Reported below, once.
      }
    }
    RuntimeException err;
    synchronized (this) {
      err = broken != null ? asRuntime(broken) : rejected;
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
      synchronized (this) {
        if (broken == null) {
          requests.onCompleted();
        }
      }
      try {
        finished.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private static RuntimeException asRuntime(Throwable t) {
    return t instanceof RuntimeException r ? r : new IllegalStateException(t);
  }

  private void sendBatch() { // holding this
    if (batch.isEmpty()) {
      return;
    }
    List<Record> records = batch;
    CompletableFuture<ProduceResponse> f = batchFuture;
    batch = new ArrayList<>();
    batchFuture = new CompletableFuture<>();
    if (broken != null) {
      f.completeExceptionally(broken);
      return;
    }
    long id = ++nextId;
    ProduceRequest.Builder req = ProduceRequest.newBuilder().setTopic(topic).addAllRecords(records).setCorrelationId(id);
    if (partition != null) {
      req.setPartition(partition);
    }
    inFlight.put(id, f);
    requests.onNext(req.build());
  }

  /** The stream is gone: fail everything not acknowledged. */
  private void breakWith(Throwable t) {
    List<CompletableFuture<ProduceResponse>> pending;
    synchronized (this) {
      if (broken == null) {
        broken = t;
      }
      pending = new ArrayList<>(inFlight.values());
      inFlight.clear();
      if (!batch.isEmpty()) {
        pending.add(batchFuture);
        batch = new ArrayList<>();
        batchFuture = new CompletableFuture<>();
      }
    }
    pending.forEach(f -> f.completeExceptionally(t));
  }

  private final class Responses implements StreamObserver<ProduceResponse> {
    @Override
    public void onNext(ProduceResponse resp) {
      CompletableFuture<ProduceResponse> f;
      synchronized (Producer.this) {
        f = inFlight.remove(resp.getCorrelationId());
      }
      if (f == null) {
        return;
      }
      if (resp.hasError()) {
        Status s = Status.fromCodeValue(resp.getError().getCode()).withDescription(resp.getError().getMessage());
        ProduceException e = new ProduceException(s);
        synchronized (Producer.this) {
          if (rejected == null) {
            rejected = e;
          }
        }
        f.completeExceptionally(e);
      } else {
        f.complete(resp);
      }
    }

    @Override
    public void onError(Throwable t) {
      breakWith(t);
      finished.countDown();
    }

    @Override
    public void onCompleted() {
      breakWith(Status.UNAVAILABLE.withDescription("the produce stream ended").asRuntimeException());
      finished.countDown();
    }
  }
}
