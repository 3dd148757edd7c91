package dev.runnel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.runnel.v1.ProduceAck;
import dev.runnel.v1.ProduceRequest;
import dev.runnel.v1.ProduceResponse;
import dev.runnel.v1.Record;
import dev.runnel.v1.StartPosition;
import dev.runnel.v1.SubscribeRequest;
import dev.runnel.v1.SubscribeResponse;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The idempotent producer against a real broker process: it sends its producer fields, and a broker
 * killed and restarted under it ends with every record acknowledged once, in order per partition.
 */
class IdempotenceTest {
  private static TestBroker broker;

  @BeforeAll
  static void startBroker() throws Exception {
    broker = TestBroker.start();
  }

  @AfterAll
  static void stopBroker() throws InterruptedException {
    broker.stop();
  }

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
  void murmur2MatchesKafka() {
    // Kafka's own vectors (UtilsTest.testMurmur2), as partitioner's Go test.
    Map<String, Integer> vectors = Map.ofEntries(Map.entry("21", -973932308), Map.entry("foobar", -790332482),
        Map.entry("a-little-bit-long-string", -985981536), Map.entry("a-little-bit-longer-string", -1486304829),
        Map.entry("lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971), Map.entry("abc", 479470107),
        Map.entry("1", -1993445489), Map.entry("12", 126087238), Map.entry("123", -267702483),
        Map.entry("1234", -1614185708), Map.entry("12345", -1188365604));
    vectors.forEach((k, want) -> assertEquals(want, Producer.murmur2(k.getBytes(StandardCharsets.UTF_8)), k));
    assertEquals(1173551340 % 6, Producer.partitionForKey("21".getBytes(StandardCharsets.UTF_8), 6));
  }

  @Test
  void aBatchSentAgainGetsItsFirstOffsets() throws Exception {
    try (RunnelClient client = new RunnelClient(broker.address())) {
      client.createTopic("idem-fields", 1, Map.of(), false);
      Producer producer = client.producer("idem-fields", 0);
      producer.send(ByteString.EMPTY, utf8("before"), Map.of());
      producer.flush();
      CompletableFuture<ProduceResponse> first = producer.send(ByteString.EMPTY, utf8("a"), Map.of());
      producer.send(ByteString.EMPTY, utf8("b"), Map.of());
      producer.send(ByteString.EMPTY, utf8("c"), Map.of());
      producer.flush();
      assertTrue(producer.producerId() > 0);
      ProduceAck ack = first.join().getAcks(0);
      assertEquals(List.of(0, 1L, 3), List.of(ack.getPartition(), ack.getBaseOffset(), ack.getRecordCount()));
      // The same batch again by hand, as a retry: the producer's id, epoch 0, and the sequence of
      // its first record (1, after "before").
      ProduceRequest.Builder again = ProduceRequest.newBuilder().setTopic("idem-fields").setPartition(0).setCorrelationId(1)
          .setProducerId(producer.producerId()).setProducerEpoch(0).setBaseSequence(1);
      List.of("a", "b", "c").forEach(v -> again.addRecords(Record.newBuilder().setValue(utf8(v))));
      ProduceResponse resp = produceOnce(client, again.build());
      assertFalse(resp.hasError(), resp.getError().toString());
      assertEquals(List.of(1L, 3), List.of(resp.getAcks(0).getBaseOffset(), resp.getAcks(0).getRecordCount()));
      // And the producer goes on in sequence after it.
      CompletableFuture<ProduceResponse> next = producer.send(ByteString.EMPTY, utf8("d"), Map.of());
      producer.close();
      assertEquals(4L, next.join().getAcks(0).getBaseOffset());
      assertEquals(List.of("before", "a", "b", "c", "d"),
          readAll(client, "idem-fields", 1).get(0).stream().map(r -> r.getValue().toStringUtf8()).toList());
    }
  }

  @Test
  void withoutIdempotenceNoProducerId() throws Exception {
    try (RunnelClient client = new RunnelClient(broker.address())) {
      client.createTopic("idem-off", 1, Map.of(), false);
      Producer producer = client.producer("idem-off", new Producer.Options().idempotent(false));
      CompletableFuture<ProduceResponse> sent = producer.send(ByteString.EMPTY, utf8("x"), Map.of());
      producer.close();
      assertEquals(0, producer.producerId());
      assertEquals(0L, sent.join().getAcks(0).getBaseOffset());
      // A raw request without a producer id is appended each time.
      ProduceRequest raw = ProduceRequest.newBuilder().setTopic("idem-off").setPartition(0)
          .addRecords(Record.newBuilder().setValue(utf8("x"))).build();
      for (int i = 0; i < 2; i++) {
        assertFalse(produceOnce(client, raw).hasError());
      }
      assertEquals(3, readAll(client, "idem-off", 1).get(0).size());
    }
  }

  @Test
  void aBrokerKilledAndRestartedUnderTheProducerLosesAndDuplicatesNothing() throws Exception {
    int records = 3000;
    int partitions = 3;
    TestBroker own = TestBroker.start();
    try (RunnelClient client = new RunnelClient(own.address())) {
      client.createTopic("restart", partitions, Map.of(), false);
      Producer producer = client.producer("restart", new Producer.Options().batchRecords(10));
      List<CompletableFuture<ProduceResponse>> sent = new ArrayList<>();
      long unacked = 0;
      for (int i = 0; i < records; i++) {
        sent.add(producer.send(utf8("k" + (i % 11)), utf8(String.valueOf(i)), Map.of()));
        if (i == records / 3) {
          // Kill it once it acknowledges, while batches are in flight and queued behind them.
          sent.get(0).get(30, TimeUnit.SECONDS);
          own.kill();
          unacked = sent.stream().filter(f -> !f.isDone()).count();
          own.restart();
        }
      }
      producer.close();
      assertTrue(unacked > 0, "the broker was killed after everything was acknowledged: nothing was retried");
      for (CompletableFuture<ProduceResponse> f : sent) {
        assertTrue(f.join().getAcks(0).getRecordCount() > 0);
      }
      List<List<Record>> log = readAll(client, "restart", partitions);
      List<Integer> values = log.stream().flatMap(List::stream).map(r -> Integer.parseInt(r.getValue().toStringUtf8()))
          .sorted().toList();
      Map<Integer, Long> copies = values.stream().collect(Collectors.groupingBy(v -> v, Collectors.counting()));
      List<Integer> wrong = IntStream.range(0, records).filter(v -> copies.getOrDefault(v, 0L) != 1).boxed().toList();
      assertEquals(records, values.size(), "each record exactly once; not once: " + wrong);
      assertEquals(List.of(), wrong, "each record exactly once");
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
    } finally {
      own.stop();
    }
  }

  @Test
  void aBatchStalledPastItsDeliveryTimeoutFailsAndTheNextStartsANewEpoch() throws Exception {
    TestBroker own = TestBroker.start();
    try (RunnelClient client = new RunnelClient(own.address())) {
      client.createTopic("stalled", 1, Map.of(), false);
      // NB: the broker, once it goes on, has as long to answer the next batch: 1 s was once too
      // short on CI (its acks after SIGCONT take milliseconds here), so 3 s.
      Producer producer = client.producer("stalled", new Producer.Options().partition(0)
          .deliveryTimeout(Duration.ofSeconds(3)).requestTimeout(Duration.ofMillis(500)));
      producer.send(ByteString.EMPTY, utf8("first"), Map.of());
      producer.flush();
      own.pause(); // the connection stays up; nothing answers
      CompletableFuture<ProduceResponse> stalled;
      ProduceException pe;
      try {
        stalled = producer.send(ByteString.EMPTY, utf8("stalled"), Map.of());
        pe = assertThrows(ProduceException.class, producer::flush);
      } finally {
        own.resume();
      }
      assertEquals(Status.Code.DEADLINE_EXCEEDED, pe.status().getCode());
      assertTrue(pe.status().getDescription().contains("delivery timeout"), pe.status().getDescription());
      assertTrue(stalled.isCompletedExceptionally());
      // Its outcome is unknown: the next batch starts the partition's sequence again, at 0 in epoch 1.
      CompletableFuture<ProduceResponse> next = producer.send(ByteString.EMPTY, utf8("after"), Map.of());
      producer.close();
      long offset = next.join().getAcks(0).getBaseOffset();
      ProduceResponse again = produceOnce(client, ProduceRequest.newBuilder().setTopic("stalled").setPartition(0)
          .addRecords(Record.newBuilder().setValue(utf8("after"))).setProducerId(producer.producerId())
          .setProducerEpoch(1).setBaseSequence(0).build());
      assertFalse(again.hasError(), again.getError().toString());
      assertEquals(offset, again.getAcks(0).getBaseOffset());
      // The stalled batch went out in the broker's buffers: appended once the broker went on, or
      // not at all; never twice.
      List<String> values = readAll(client, "stalled", 1).get(0).stream().map(r -> r.getValue().toStringUtf8()).toList();
      assertTrue(values.equals(List.of("first", "after")) || values.equals(List.of("first", "stalled", "after")), values.toString());
    } finally {
      own.stop();
    }
  }

  @Test
  void aRefusedSequenceIsSentAgainOnceInANewEpoch() throws Exception {
    try (RunnelClient client = new RunnelClient(broker.address())) {
      client.createTopic("idem-refused", 1, Map.of(), false);
      Producer producer = client.producer("idem-refused", 0);
      producer.send(ByteString.EMPTY, utf8("a"), Map.of());
      producer.flush();
      // Two records by hand at the producer's next sequence (1): its own next batch, one record at
      // sequence 1, overlaps them without being a retry of them, and is refused
      // (FAILED_PRECONDITION), appending nothing. The producer sends it again at 0 in epoch 1.
      asProducer(client, producer, 0, 1, "x", "y");
      CompletableFuture<ProduceResponse> b = producer.send(ByteString.EMPTY, utf8("b"), Map.of());
      producer.flush();
      assertEquals(3L, b.join().getAcks(0).getBaseOffset());
      CompletableFuture<ProduceResponse> c = producer.send(ByteString.EMPTY, utf8("c"), Map.of());
      producer.flush();
      assertEquals(4L, asProducer(client, producer, 1, 1, "c").getAcks(0).getBaseOffset());
      assertEquals(4L, c.join().getAcks(0).getBaseOffset());
      // Refused again in the new epoch (fenced: epoch 5 was seen), a batch fails rather than go
      // round for ever.
      asProducer(client, producer, 5, 0, "z");
      CompletableFuture<ProduceResponse> d = producer.send(ByteString.EMPTY, utf8("d"), Map.of());
      ProduceException pe = assertThrows(ProduceException.class, producer::flush);
      assertEquals(Status.Code.FAILED_PRECONDITION, pe.status().getCode());
      assertTrue(d.isCompletedExceptionally());
      producer.close();
      assertEquals(List.of("a", "x", "y", "b", "c", "z"),
          readAll(client, "idem-refused", 1).get(0).stream().map(r -> r.getValue().toStringUtf8()).toList());
    }
  }

  /** Records sent by hand as producer's id, in epoch at sequence. */
  private static ProduceResponse asProducer(RunnelClient client, Producer producer, int epoch, long sequence, String... values)
      throws Exception {
    ProduceRequest.Builder req = ProduceRequest.newBuilder().setTopic("idem-refused").setPartition(0)
        .setProducerId(producer.producerId()).setProducerEpoch(epoch).setBaseSequence(sequence);
    for (String v : values) {
      req.addRecords(Record.newBuilder().setValue(utf8(v)));
    }
    ProduceResponse resp = produceOnce(client, req.build());
    assertFalse(resp.hasError(), resp.getError().toString());
    return resp;
  }
}
