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
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** The Java example's round trip against a real broker process ($RUNNEL_BIN). */
class RoundtripTest {
  // The ready file (runnel serve --ready-file) is one flat JSON object of
  // strings and numbers: a pattern reads its "grpc" field without a JSON
  // library the SDK does not need otherwise.
  private static final Pattern GRPC_FIELD = Pattern.compile("\"grpc\"\\s*:\\s*\"([^\"]+)\"");
  private static Started broker;
  private static String address;

  /** A broker process and the address it serves on. */
  private record Started(Process process, String address) {
    void stop() throws InterruptedException {
      process.destroy(); // SIGTERM: graceful
      if (!process.waitFor(30, TimeUnit.SECONDS)) {
        process.destroyForcibly();
      }
    }
  }

  /** Starts a broker and returns once it serves: once it has written its ready file. */
  private static Started start() throws IOException, InterruptedException {
    String bin = System.getenv().getOrDefault("RUNNEL_BIN", "../../bin/runnel");
    Path dir = Files.createTempDirectory("runnel-java-");
    Path readyFile = dir.resolve("ready.json");
    Process p = new ProcessBuilder(bin, "serve", "--data-dir", dir.resolve("data").toString(),
        "--ready-file", readyFile.toString(), "--listen", "127.0.0.1:0",
        "--http-listen", "127.0.0.1:0", "--peer-listen", "127.0.0.1:0").redirectErrorStream(true).start();
    StringBuffer log = new StringBuffer();
    Thread reader = new Thread(() -> {
      try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
        for (String line; (line = r.readLine()) != null; ) {
          log.append(line).append('\n');
        }
      } catch (IOException e) {
        log.append("(reading the broker's output: ").append(e).append(")\n");
      }
    });
    reader.setDaemon(true);
    reader.start();
    Duration timeout = Duration.ofSeconds(60);
    long deadline = System.nanoTime() + timeout.toNanos();
    // NB: the broker writes the file whole or not at all (a rename): its
    // absence is the only reason to wait.
    while (!Files.exists(readyFile)) {
      if (!p.isAlive()) {
        reader.join(1000);
        throw new IllegalStateException("broker exited (" + p.exitValue() + ") before writing its ready file; stderr:\n" + log);
      }
      if (System.nanoTime() > deadline) {
        p.destroyForcibly();
        throw new IllegalStateException("broker wrote no ready file (" + readyFile + ") within " + timeout
            + ", so it did not serve; stderr:\n" + log);
      }
      Thread.sleep(20);
    }
    String ready = Files.readString(readyFile);
    Matcher m = GRPC_FIELD.matcher(ready);
    if (!m.find()) {
      p.destroyForcibly();
      throw new IllegalStateException("ready file " + readyFile + " has no grpc address: " + ready);
    }
    return new Started(p, m.group(1));
  }

  @BeforeAll
  static void startBroker() throws IOException, InterruptedException {
    broker = start();
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
  void brokerGoingAwayFailsEverything() throws Exception {
    Started own = start();
    try (RunnelClient client = new RunnelClient(own.address())) {
      client.createTopic("t", 1, Map.of(), false);
      Producer producer = client.producer("t");
      producer.send(ByteString.EMPTY, ByteString.copyFromUtf8("acked"), Map.of());
      producer.flush();
      CompletableFuture<?> batched = producer.send(ByteString.EMPTY, ByteString.copyFromUtf8("still batched"), Map.of());
      own.stop(); // the stream ends with UNAVAILABLE
      assertThrows(RuntimeException.class, producer::flush);
      assertTrue(batched.isCompletedExceptionally());
      assertTrue(producer.send(ByteString.EMPTY, ByteString.copyFromUtf8("after"), Map.of()).isCompletedExceptionally());
      assertThrows(RuntimeException.class, producer::close);
    } finally {
      own.stop();
    }
  }
}
