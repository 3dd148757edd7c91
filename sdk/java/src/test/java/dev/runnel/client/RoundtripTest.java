package dev.runnel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.runnel.examples.Roundtrip;
import dev.runnel.v1.StartPosition;
import dev.runnel.v1.SubscribeRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Java example's round trip against a real broker process ($RUNNEL_BIN). */
class RoundtripTest {
  private static TestBroker broker;
  private static String address;

  @BeforeAll
  static void startBroker() throws Exception {
    broker = TestBroker.start();
    address = broker.address();
  }

  @AfterAll
  static void stopBroker() throws InterruptedException {
    broker.stop();
  }

  @Test
  void exampleRoundTrip() {
    Roundtrip.Result r = Roundtrip.run(address);
    assertEquals(6, r.first().size());
    assertEquals(4, r.rest().size());
    List<Message> all = new ArrayList<>(r.first());
    all.addAll(r.rest());
    assertEquals(10, all.stream().map(m -> m.value().toStringUtf8()).distinct().count());
    Map<String, Integer> partitionOfKey = new HashMap<>();
    for (Message m : all) {
      int i = Integer.parseInt(m.value().toStringUtf8().split(" ")[1]);
      assertEquals("customer-" + (i % 3), m.key().toStringUtf8());
      assertEquals(List.of(Map.entry("source", ByteString.copyFromUtf8("java"))), m.headers());
      assertTrue(m.timestampMs() > 0);
      // One key, one partition.
      assertEquals(partitionOfKey.computeIfAbsent(m.key().toStringUtf8(), k -> m.partition()), m.partition());
    }
    // Offsets dense from 0 within each partition.
    for (int p : partitionOfKey.values()) {
      List<Long> offsets = all.stream().filter(m -> m.partition() == p).map(Message::offset).sorted().toList();
      for (int i = 0; i < offsets.size(); i++) {
        assertEquals(i, offsets.get(i));
      }
    }
    // The second consumer started exactly where the first committed.
    Map<Integer, Long> committed = new HashMap<>();
    r.first().forEach(m -> committed.put(m.partition(), m.offset() + 1));
    committed.forEach((p, start) -> r.rest().stream().filter(m -> m.partition() == p).map(Message::offset).min(Long::compare)
        .ifPresent(min -> assertEquals(start, min)));
    assertEquals(Status.Code.NOT_FOUND, r.notFound());
  }

  @Test
  void errorsAreStatusCodes() {
    try (RunnelClient client = new RunnelClient(address)) {
      client.createTopic("errors", 1, Map.of(), true);
      StatusRuntimeException exists = assertThrows(StatusRuntimeException.class, () -> client.createTopic("errors", 1, Map.of(), false));
      assertEquals(Status.Code.ALREADY_EXISTS, exists.getStatus().getCode());
      StatusRuntimeException range = assertThrows(StatusRuntimeException.class, () -> client.subscribe.subscribe(
          SubscribeRequest.newBuilder().setTopic("errors").setStartPosition(StartPosition.START_POSITION_OFFSET).setStartOffset(99).build())
          .forEachRemaining(x -> {}));
      assertEquals(Status.Code.OUT_OF_RANGE, range.getStatus().getCode());
      Producer producer = client.producer("errors", 7);
      CompletableFuture<?> sent = producer.send(ByteString.EMPTY, ByteString.copyFromUtf8("x"), Map.of());
      ProduceException pe = assertThrows(ProduceException.class, producer::flush);
      assertEquals(Status.Code.INVALID_ARGUMENT, pe.status().getCode());
      assertTrue(pe.status().getDescription().contains("partition 7"));
      assertTrue(sent.isCompletedExceptionally());
      producer.flush(); // reported once
      producer.close();
    }
  }

  @Test
  void flushReportsRequestsRejectedEarlier() {
    try (RunnelClient client = new RunnelClient(address)) {
      client.createTopic("rejected", 1, Map.of(), true);
      Producer producer = new Producer(client, "rejected", 5, 1);
      CompletableFuture<?> first = producer.send(ByteString.EMPTY, ByteString.copyFromUtf8("a"), Map.of());
      CompletionException e = assertThrows(CompletionException.class, first::join);
      assertTrue(e.getCause() instanceof ProduceException);
      assertThrows(ProduceException.class, producer::flush); // nothing pending, but reported
      producer.close();
    }
  }

  @Test
  void aBrokerGoneForGoodFailsWhatItDidNotAcknowledge() throws Exception {
    TestBroker own = TestBroker.start();
    try (RunnelClient client = new RunnelClient(own.address())) {
      client.createTopic("t", 1, Map.of(), false);
      Producer producer = client.producer("t", new Producer.Options().deliveryTimeout(Duration.ofSeconds(1)));
      producer.send(ByteString.EMPTY, ByteString.copyFromUtf8("acked"), Map.of());
      producer.flush();
      CompletableFuture<?> batched = producer.send(ByteString.EMPTY, ByteString.copyFromUtf8("still batched"), Map.of());
      own.stop(); // the stream ends with UNAVAILABLE, and so does every retry
      ProduceException pe = assertThrows(ProduceException.class, producer::flush); // after the delivery timeout
      assertEquals(Status.Code.UNAVAILABLE, pe.status().getCode());
      assertTrue(pe.status().getDescription().contains("delivery timeout"), pe.status().getDescription());
      assertTrue(batched.isCompletedExceptionally());
      CompletableFuture<?> after = producer.send(ByteString.EMPTY, ByteString.copyFromUtf8("after"), Map.of());
      assertThrows(ProduceException.class, producer::close); // fails what it could not deliver, and returns
      assertTrue(after.isCompletedExceptionally());
    } finally {
      own.stop();
    }
  }
}
