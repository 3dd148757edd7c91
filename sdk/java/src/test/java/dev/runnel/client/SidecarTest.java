package dev.runnel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.runnel.v1.Acks;
import dev.runnel.v1.ProduceAck;
import dev.runnel.v1.ProduceRequest;
import dev.runnel.v1.ProduceResponse;
import dev.runnel.v1.Record;
import dev.runnel.v1.StartPosition;
import dev.runnel.v1.SubscribeRequest;
import dev.runnel.v1.SubscribeResponse;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

/**
 * The SDK's idempotent producer through a real {@code runnel sidecar} process in front of a real
 * broker process: acks left to the receiver are the sidecar's (spooled, base_offset -1, a success),
 * InitProducer and the sequences are the sidecar's, a resent batch is appended once, ACKS_ALL gets
 * the cluster's offsets, and everything reaches the broker once, in order, including what was
 * produced while the broker was down.
 */
class SidecarTest {
  private static ByteString utf8(String s) {
    return ByteString.copyFromUtf8(s);
  }

  /** Every record of topic, by partition, in log order. */
  private static List<List<Record>> readAll(RunnelClient client, String topic, int partitions) {
    List<List<Record>> out = new ArrayList<>();
    IntStream.range(0, partitions).forEach(p -> out.add(new ArrayList<>()));
    Iterator<SubscribeResponse> it = client.subscribe.subscribe(SubscribeRequest.newBuilder().setTopic(topic)
        .addAllPartitions(IntStream.range(0, partitions).boxed().toList()).setFollow(false)
        .setStartPosition(StartPosition.START_POSITION_EARLIEST).build());
    it.forEachRemaining(r -> {
      if (r.hasBatch()) {
        out.get(r.getBatch().getPartition()).addAll(r.getBatch().getRecordsList());
      }
    });
    return out;
  }

  /** One request on its own stream, and its response. */
  private static ProduceResponse produceOnce(RunnelClient client, ProduceRequest req) throws Exception {
    CompletableFuture<ProduceResponse> resp = new CompletableFuture<>();
    StreamObserver<ProduceRequest> requests = client.produce.produce(new StreamObserver<>() {
      @Override
      public void onNext(ProduceResponse r) {
        resp.complete(r);
      }

      @Override
      public void onError(Throwable t) {
        resp.completeExceptionally(t);
      }

      @Override
      public void onCompleted() {
        resp.completeExceptionally(new IllegalStateException("no response"));
      }
    });
    requests.onNext(req);
    ProduceResponse r = resp.get(30, TimeUnit.SECONDS);
    requests.onCompleted();
    return r;
  }

  @Test
  void theIdempotentProducerThroughASidecarTheBrokerDownForAWhile() throws Exception {
    int records = 600;
    int partitions = 3;
    TestBroker broker = TestBroker.start();
    try (TestSidecar sidecar = TestSidecar.start(broker.address());
        RunnelClient local = new RunnelClient(sidecar.address());
        RunnelClient direct = new RunnelClient(broker.address())) {
      local.createTopic("sc-orders", partitions, Map.of(), false);
      Producer producer = local.producer("sc-orders", new Producer.Options().batchRecords(50));
      List<CompletableFuture<ProduceResponse>> sent = new ArrayList<>();
      for (int i = 0; i < records; i++) {
        sent.add(producer.send(utf8("k" + (i % 7)), utf8(String.valueOf(i)), Map.of()));
        if (i == records / 2) {
          producer.flush();
          broker.stop(); // SIGTERM, its data kept: the sidecar goes on acknowledging
        }
      }
      producer.flush();
      assertTrue(producer.producerId() > 0, "the sidecar's InitProducer gave it an id");
      // Each batch is acknowledged as spooled: its whole record count at base offset -1, a success.
      Map<ProduceResponse, Integer> byResponse = new IdentityHashMap<>();
      for (int i = 0; i < records; i++) {
        ProduceResponse resp = sent.get(i).join();
        assertEquals(1, resp.getAcksCount());
        ProduceAck ack = resp.getAcks(0);
        assertEquals(-1L, ack.getBaseOffset());
        assertEquals(Producer.partitionForKey(("k" + (i % 7)).getBytes(StandardCharsets.UTF_8), partitions), ack.getPartition());
        byResponse.merge(resp, 1, Integer::sum);
      }
      byResponse.forEach((resp, n) -> assertEquals((int) n, resp.getAcks(0).getRecordCount()));
      assertTrue(sidecar.recordsWaiting() > 0, "the broker was down: nothing after it went was forwarded");
      producer.close();

      broker.restart();
      sidecar.waitForwarded();
      List<List<Record>> log = readAll(direct, "sc-orders", partitions);
      List<Integer> values = log.stream().flatMap(List::stream).map(r -> Integer.parseInt(r.getValue().toStringUtf8()))
          .sorted().toList();
      assertEquals(IntStream.range(0, records).boxed().toList(), values, "each record exactly once");
      for (int p = 0; p < partitions; p++) {
        List<Record> recs = log.get(p);
        Map<String, List<Integer>> byKey = new HashMap<>();
        for (int i = 0; i < recs.size(); i++) {
          Record r = recs.get(i);
          assertEquals(i, r.getOffset());
          assertEquals(p, Producer.partitionForKey(r.getKey().toByteArray(), partitions));
          byKey.computeIfAbsent(r.getKey().toStringUtf8(), k -> new ArrayList<>()).add(Integer.parseInt(r.getValue().toStringUtf8()));
        }
        for (Map.Entry<String, List<Integer>> e : byKey.entrySet()) {
          assertEquals(e.getValue().stream().sorted().toList(), e.getValue(), e.getKey() + " out of order in partition " + p);
        }
      }
      assertEquals(log, readAll(local, "sc-orders", partitions));
    } finally {
      broker.stop();
    }
  }

  @Test
  void aBatchResentToTheSidecarIsAppendedOnce() throws Exception {
    TestBroker broker = TestBroker.start();
    try (TestSidecar sidecar = TestSidecar.start(broker.address());
        RunnelClient local = new RunnelClient(sidecar.address());
        RunnelClient direct = new RunnelClient(broker.address())) {
      local.createTopic("sc-idem", 1, Map.of(), false);
      Producer producer = local.producer("sc-idem", 0);
      producer.send(ByteString.EMPTY, utf8("before"), Map.of());
      producer.flush();
      CompletableFuture<ProduceResponse> first = producer.send(ByteString.EMPTY, utf8("a"), Map.of());
      producer.send(ByteString.EMPTY, utf8("b"), Map.of());
      producer.send(ByteString.EMPTY, utf8("c"), Map.of());
      producer.flush();
      ProduceAck ack = first.join().getAcks(0);
      assertEquals(List.of(0, -1L, 3), List.of(ack.getPartition(), ack.getBaseOffset(), ack.getRecordCount()));
      // The same batch again by hand, as a retry: the producer's id, epoch 0, and the sequence of its
      // first record (1, after "before").
      ProduceRequest.Builder retry = ProduceRequest.newBuilder().setTopic("sc-idem").setPartition(0).setCorrelationId(1)
          .setProducerId(producer.producerId()).setProducerEpoch(0).setBaseSequence(1);
      for (String v : List.of("a", "b", "c")) {
        retry.addRecords(Record.newBuilder().setValue(utf8(v)));
      }
      ProduceResponse again = produceOnce(local, retry.build());
      assertFalse(again.hasError(), again.getError().getMessage());
      assertEquals(3, again.getAcks(0).getRecordCount());
      // And the producer goes on in sequence after it.
      CompletableFuture<ProduceResponse> next = producer.send(ByteString.EMPTY, utf8("d"), Map.of());
      producer.close();
      assertEquals(-1L, next.join().getAcks(0).getBaseOffset());
      sidecar.waitForwarded();
      assertEquals(List.of("before", "a", "b", "c", "d"),
          readAll(direct, "sc-idem", 1).get(0).stream().map(r -> r.getValue().toStringUtf8()).toList());
    } finally {
      broker.stop();
    }
  }

  @Test
  void acksAllThroughTheSidecarGetsTheClustersOffsets() throws Exception {
    TestBroker broker = TestBroker.start();
    try (TestSidecar sidecar = TestSidecar.start(broker.address());
        RunnelClient local = new RunnelClient(sidecar.address())) {
      local.createTopic("sc-all", 1, Map.of(), false);
      Producer spooled = local.producer("sc-all", 0);
      spooled.send(ByteString.EMPTY, utf8("spooled"), Map.of());
      spooled.close();
      Producer producer = local.producer("sc-all", new Producer.Options().partition(0).batchRecords(2).acks(Acks.ACKS_ALL));
      List<CompletableFuture<ProduceResponse>> sent = new ArrayList<>();
      for (String v : List.of("x", "y", "z")) {
        sent.add(producer.send(ByteString.EMPTY, utf8(v), Map.of()));
      }
      producer.close();
      // Each batch waited for the cluster, after the spooled record that went before it.
      assertEquals(List.of(List.of(1L, 2L), List.of(1L, 2L), List.of(3L, 1L)),
          sent.stream().map(f -> List.of(f.join().getAcks(0).getBaseOffset(), (long) f.join().getAcks(0).getRecordCount())).toList());
      assertEquals(0, sidecar.recordsWaiting());
    } finally {
      broker.stop();
    }
  }
}
