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
 * #flush} sends what is batched and waits for every ack.
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
  private Throwable failure;

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
      if (failure != null) {
        return CompletableFuture.failedFuture(failure);
      }
      batch.add(r.build());
      CompletableFuture<ProduceResponse> f = batchFuture;
      if (batch.size() >= batchRecords) {
        sendBatch();
      }
      return f;
    }
  }

  /** Sends what is batched and waits for every ack; throws the first failure. */
  public void flush() {
    List<CompletableFuture<ProduceResponse>> pending;
    synchronized (this) {
      sendBatch();
      pending = new ArrayList<>(inFlight.values());
    }
    CompletableFuture.allOf(pending.toArray(CompletableFuture[]::new)).join();
  }

  /** Flushes, then ends the stream and waits (up to 30 s) for the broker to end it too. */
  @Override
  public void close() {
    try {
      flush();
    } finally {
      synchronized (this) {
        requests.onCompleted();
      }
      try {
        finished.await(30, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  private void sendBatch() { // holding this
    if (batch.isEmpty()) {
      return;
    }
    long id = ++nextId;
    ProduceRequest.Builder req = ProduceRequest.newBuilder().setTopic(topic).addAllRecords(batch).setCorrelationId(id);
    if (partition != null) {
      req.setPartition(partition);
    }
    inFlight.put(id, batchFuture);
    batch = new ArrayList<>();
    batchFuture = new CompletableFuture<>();
    requests.onNext(req.build());
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
        f.completeExceptionally(new ProduceException(s));
      } else {
        f.complete(resp);
      }
    }

    @Override
    public void onError(Throwable t) {
      List<CompletableFuture<ProduceResponse>> pending;
      synchronized (Producer.this) {
        failure = t;
        pending = new ArrayList<>(inFlight.values());
        inFlight.clear();
      }
      pending.forEach(f -> f.completeExceptionally(t));
      finished.countDown();
    }

    @Override
    public void onCompleted() {
      finished.countDown();
    }
  }
}
