package dev.runnel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.github.luben.zstd.Zstd;
import com.google.protobuf.ByteString;
import com.google.protobuf.Timestamp;
import dev.runnel.v1.CommitRequest;
import dev.runnel.v1.CompressedRecords;
import dev.runnel.v1.Compression;
import dev.runnel.v1.Header;
import dev.runnel.v1.PartitionOffset;
import dev.runnel.v1.ProduceRequest;
import dev.runnel.v1.ProduceResponse;
import dev.runnel.v1.Record;
import dev.runnel.v1.RecordBatch;
import dev.runnel.v1.SubscribeRequest;
import io.grpc.stub.StreamObserver;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.IntStream;
import java.util.zip.GZIPOutputStream;
import org.apache.commons.compress.compressors.lz4.BlockLZ4CompressorOutputStream;
import org.apache.commons.compress.compressors.lz4.FramedLZ4CompressorOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.xerial.snappy.Snappy;

/**
 * Compressed batches, produced through the stub, consumed through the SDK from a real broker
 * process ($RUNNEL_BIN); and Decompression on what a broker never sends and a hostile one might.
 */
class CompressionTest {
  private static final int BATCH = 5; // records per compressed batch
  private static TestBroker broker;
  private static RunnelClient client;

  @FunctionalInterface
  interface StreamWriter {
    OutputStream wrap(OutputStream out) throws IOException;
  }

  static byte[] through(StreamWriter w, byte[] plain) {
    try {
      ByteArrayOutputStream out = new ByteArrayOutputStream();
      try (OutputStream s = w.wrap(out)) {
        s.write(plain);
      }
      return out.toByteArray();
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static byte[] compress(Compression codec, byte[] plain) {
    try {
      return switch (codec) {
        case COMPRESSION_GZIP -> through(GZIPOutputStream::new, plain);
        case COMPRESSION_SNAPPY -> Snappy.compress(plain);
        case COMPRESSION_LZ4 -> through(FramedLZ4CompressorOutputStream::new, plain);
        case COMPRESSION_ZSTD -> Zstd.compress(plain);
        default -> throw new IllegalArgumentException(codec.toString());
      };
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  static Record record(long i) {
    long ms = 1_700_000_000_000L + i;
    return Record.newBuilder().setKey(ByteString.copyFromUtf8("k" + i))
        .setValue(ByteString.copyFromUtf8(("value " + i + " ").repeat(20)))
        .addHeaders(Header.newBuilder().setKey("i").setValue(ByteString.copyFromUtf8(Long.toString(i))))
        .setTimestamp(Timestamp.newBuilder().setSeconds(ms / 1000).setNanos((int) (ms % 1000) * 1_000_000))
        .build();
  }

  static byte[] framed(List<Record> records) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    for (Record r : records) {
      byte[] b = r.toByteArray();
      for (long n = b.length; ; n >>>= 7) {
        if (n < 0x80) {
          out.write((int) n);
          break;
        }
        out.write((int) (n & 0x7f) | 0x80);
      }
      out.writeBytes(b);
    }
    return out.toByteArray();
  }

  static List<Record> records(long from, long to) {
    return IntStream.range((int) from, (int) to).mapToObj(CompressionTest::record).toList();
  }

  static CompressedRecords compressed(Compression codec, List<Record> records) {
    return CompressedRecords.newBuilder().setCompression(codec)
        .setData(ByteString.copyFrom(compress(codec, framed(records)))).setRecordCount(records.size()).build();
  }

  /** Sends reqs on one produce stream; the base offsets acknowledged, in order. */
  static List<Long> produce(List<ProduceRequest> reqs) throws Exception {
    List<Long> bases = new ArrayList<>();
    CompletableFuture<Void> done = new CompletableFuture<>();
    StreamObserver<ProduceRequest> out = client.produce.produce(new StreamObserver<ProduceResponse>() {
      @Override
      public void onNext(ProduceResponse r) {
        if (r.hasError()) {
          done.completeExceptionally(new AssertionError(r.getError().getMessage()));
        }
        synchronized (bases) {
          bases.add(r.getAcks(0).getBaseOffset());
        }
      }

      @Override
      public void onError(Throwable t) {
        done.completeExceptionally(t);
      }

      @Override
      public void onCompleted() {
        done.complete(null);
      }
    });
    reqs.forEach(out::onNext);
    out.onCompleted();
    done.get(30, TimeUnit.SECONDS);
    synchronized (bases) {
      return bases.stream().sorted().toList();
    }
  }

  /** batches compressed batches of BATCH records each to partition 0. */
  static void produceCompressed(String topic, Compression codec, int batches) throws Exception {
    List<ProduceRequest> reqs = IntStream.range(0, batches).mapToObj(b -> ProduceRequest.newBuilder()
        .setTopic(topic).setPartition(0).setCorrelationId(b + 1)
        .setCompressedRecords(compressed(codec, records((long) b * BATCH, (long) (b + 1) * BATCH))).build()).toList();
    assertEquals(IntStream.range(0, batches).mapToObj(b -> (long) b * BATCH).toList(), produce(reqs));
  }

  static String topic(Compression codec) {
    return "z-" + codec.name().toLowerCase(java.util.Locale.ROOT);
  }

  static void check(List<Message> messages, long first, long last) {
    assertEquals(IntStream.range((int) first, (int) last).mapToObj(i -> (long) i).toList(),
        messages.stream().map(Message::offset).toList());
    for (Message m : messages) {
      Record want = record(m.offset());
      assertEquals(want.getKey(), m.key());
      assertEquals(want.getValue(), m.value());
      assertEquals(List.of(Map.entry("i", ByteString.copyFromUtf8(Long.toString(m.offset())))), m.headers());
      assertEquals(1_700_000_000_000L + m.offset(), m.timestampMs());
    }
  }

  static Consumer.Options options(boolean member) {
    return new Consumer.Options().follow(false).partitions(member ? List.of() : List.of(0));
  }

  static List<Message> consumeAll(String topic, String group, boolean member) {
    try (Consumer c = client.consumer(topic, group, options(member))) {
      List<Message> got = new ArrayList<>();
      c.forEach(got::add);
      return got;
    }
  }

  @BeforeAll
  static void start() throws Exception {
    broker = TestBroker.start();
    client = new RunnelClient(broker.address());
    // A topic per codec holding three compressed batches: offsets 0-14.
    for (Compression c : Decompression.ACCEPTED) {
      client.createTopic(topic(c), 1, Map.of(), false);
      produceCompressed(topic(c), c, 3);
    }
  }

  @AfterAll
  static void stop() throws InterruptedException {
    client.close();
    broker.stop();
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"COMPRESSION_GZIP", "COMPRESSION_SNAPPY", "COMPRESSION_LZ4", "COMPRESSION_ZSTD"})
  void theBrokerDeliversTheCodecAsStoredToTheConsumersSubscription(Compression codec) {
    try (Consumer c = client.consumer(topic(codec), "raw-" + codec, options(false))) {
      assertEquals(List.of(Compression.COMPRESSION_GZIP, Compression.COMPRESSION_SNAPPY, Compression.COMPRESSION_LZ4,
          Compression.COMPRESSION_ZSTD), c.request().getAcceptCompressionList());
      List<List<Object>> batches = new ArrayList<>();
      client.subscribe.subscribe(c.request()).forEachRemaining(r -> {
        CompressedRecords z = r.getBatch().getCompressed();
        batches.add(List.of(z.getCompression(), z.getBaseOffset(), z.getRecordCount(), r.getBatch().getRecordsCount()));
      });
      assertEquals(List.of(List.of(codec, 0L, BATCH, 0), List.of(codec, 5L, BATCH, 0), List.of(codec, 10L, BATCH, 0)), batches);
    }
    // Without accept_compression, plain records.
    List<RecordBatch> plain = new ArrayList<>();
    client.subscribe.subscribe(SubscribeRequest.newBuilder().setTopic(topic(codec)).build())
        .forEachRemaining(r -> plain.add(r.getBatch()));
    assertFalse(plain.stream().anyMatch(RecordBatch::hasCompressed));
    assertEquals(15, plain.stream().mapToInt(RecordBatch::getRecordsCount).sum());
  }

  @Test
  void aMemberAcceptsEveryCodecToo() {
    try (Consumer c = client.consumer(topic(Compression.COMPRESSION_ZSTD), "member-accepts", options(true))) {
      assertEquals(Decompression.ACCEPTED, c.request().getAcceptCompressionList());
      List<Message> got = new ArrayList<>();
      c.forEach(got::add);
      check(got, 0, 15);
    }
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"COMPRESSION_GZIP", "COMPRESSION_SNAPPY", "COMPRESSION_LZ4", "COMPRESSION_ZSTD"})
  void theConsumerDecodesCompressedBatches(Compression codec) {
    check(consumeAll(topic(codec), "all-" + codec, false), 0, 15);
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"COMPRESSION_GZIP", "COMPRESSION_SNAPPY", "COMPRESSION_LZ4", "COMPRESSION_ZSTD"})
  void aConsumerStartingInsideACompressedBatchSkipsWhatIsBefore(Compression codec) {
    for (boolean member : new boolean[] {false, true}) {
      String group = "mid-" + codec + "-" + member;
      client.commit.commit(CommitRequest.newBuilder().setGroup(group).setTopic(topic(codec))
          .addOffsets(PartitionOffset.newBuilder().setPartition(0).setOffset(7)).build());
      List<Message> got = new ArrayList<>();
      try (Consumer c = client.consumer(topic(codec), group, options(member))) {
        for (Message m : c) {
          got.add(m);
          if (m.offset() == 11) {
            c.commit(); // a position inside the third batch
            break;
          }
        }
      }
      check(got, 7, 12);
      // A later consumer of the group resumes inside that batch.
      check(consumeAll(topic(codec), group, member), 12, 15);
    }
  }

  @Test
  void plainAndCompressedBatchesInterleave() throws Exception {
    client.createTopic("mixed", 1, Map.of(), false);
    produceCompressed("mixed", Compression.COMPRESSION_LZ4, 1); // 0-4
    try (Producer p = client.producer("mixed", 0)) {
      p.send(ByteString.EMPTY, ByteString.copyFromUtf8("plain 5"), Map.of());
    }
    assertEquals(List.of(6L), produce(List.of(ProduceRequest.newBuilder().setTopic("mixed").setPartition(0)
        .setCorrelationId(1).setCompressedRecords(compressed(Compression.COMPRESSION_GZIP, records(6, 8))).build())));
    List<Message> got = consumeAll("mixed", "mixed", false);
    assertEquals(List.of(0L, 1L, 2L, 3L, 4L, 5L, 6L, 7L), got.stream().map(Message::offset).toList());
    assertEquals("plain 5", got.get(5).value().toStringUtf8());
    assertEquals(record(7).getValue(), got.get(7).value());
  }

  @Test
  void anLz4FrameOfLinkedBlocks() throws Exception {
    // NB: liblz4's default (python's lz4.frame too): blocks that refer to
    // the ones before them; the broker stores such frames as they come.
    client.createTopic("linked", 1, Map.of(), false);
    FramedLZ4CompressorOutputStream.Parameters linked = new FramedLZ4CompressorOutputStream.Parameters(
        FramedLZ4CompressorOutputStream.BlockSize.K64, true, true, true, BlockLZ4CompressorOutputStream.createParameterBuilder().build());
    byte[] plain = framed(records(0, 2000));
    assertTrue(plain.length > 4 * 65536);
    byte[] data = through(out -> new FramedLZ4CompressorOutputStream(out, linked), plain);
    assertEquals(List.of(0L), produce(List.of(ProduceRequest.newBuilder().setTopic("linked").setPartition(0).setCorrelationId(1)
        .setCompressedRecords(CompressedRecords.newBuilder().setCompression(Compression.COMPRESSION_LZ4)
            .setData(ByteString.copyFrom(data)).setRecordCount(2000)).build())));
    check(consumeAll("linked", "linked", false), 0, 2000);
  }

  // Decompression on its own.

  static RecordBatch batch(Compression codec, byte[] data, int count, long base) {
    return RecordBatch.newBuilder().setTopic("t").setPartition(3).setCompressed(CompressedRecords.newBuilder()
        .setCompression(codec).setData(ByteString.copyFrom(data)).setRecordCount(count).setBaseOffset(base)).build();
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"COMPRESSION_GZIP", "COMPRESSION_SNAPPY", "COMPRESSION_LZ4", "COMPRESSION_ZSTD"})
  void batchRecordsGivesOffsetsAndSkips(Compression codec) {
    List<Record> got = Decompression.batchRecords(batch(codec, compress(codec, framed(records(0, 4))), 4, 100), 102);
    assertEquals(List.of(102L, 103L), got.stream().map(Record::getOffset).toList());
    assertEquals(List.of(record(2).getValue(), record(3).getValue()), got.stream().map(Record::getValue).toList());
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"COMPRESSION_GZIP", "COMPRESSION_SNAPPY", "COMPRESSION_LZ4", "COMPRESSION_ZSTD"})
  void aBombStopsAtTheBound(Compression codec) {
    // NB: all zeros: empty records, 1 MiB past the bound.
    byte[] data = compress(codec, new byte[Decompression.MAX_DECOMPRESSED_BYTES + (1 << 20)]);
    CompressionException e = assertThrows(CompressionException.class, () -> Decompression.batchRecords(batch(codec, data, 1, 0), 0));
    assertTrue(e.getMessage().matches("runnel: t/3 batch at offset 0: .*more than 33619968 bytes"), e.getMessage());
  }

  @ParameterizedTest
  @EnumSource(value = Compression.class, names = {"COMPRESSION_GZIP", "COMPRESSION_SNAPPY", "COMPRESSION_LZ4", "COMPRESSION_ZSTD"})
  void damageIsAClearError(Compression codec) {
    byte[] good = compress(codec, framed(records(0, 4)));
    byte[] prefixed = new byte[good.length + 5];
    System.arraycopy("\u0017not ".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1), 0, prefixed, 0, 5);
    System.arraycopy(good, 0, prefixed, 5, good.length);
    for (byte[] data : List.of(prefixed, Arrays.copyOf(good, good.length / 2), Arrays.copyOf(good, good.length - 3))) {
      CompressionException e = assertThrows(CompressionException.class, () -> Decompression.batchRecords(batch(codec, data, 4, 0), 0));
      assertTrue(e.getMessage().matches("runnel: t/3 (batch|record) at offset \\d+: .*"), e.getMessage());
    }
    assertTrue(assertThrows(CompressionException.class, () -> Decompression.batchRecords(batch(codec, good, 5, 0), 0))
        .getMessage().contains("holds 4 records, not the 5 it declares"));
    assertTrue(assertThrows(CompressionException.class, () -> Decompression.batchRecords(batch(codec, good, 3, 0), 0))
        .getMessage().contains("malformed after 3 of its 3 records"));
    byte[] garbage = compress(codec, new byte[] {3, (byte) 0xff, (byte) 0xff, (byte) 0xff});
    assertTrue(assertThrows(CompressionException.class, () -> Decompression.batchRecords(batch(codec, garbage, 1, 0), 0))
        .getMessage().contains("t/3 record at offset 0"));
  }

  @Test
  void anUnknownCodecIsAnError() {
    RecordBatch b = RecordBatch.newBuilder().setCompressed(CompressedRecords.newBuilder().setCompressionValue(9)
        .setData(ByteString.copyFromUtf8("x")).setRecordCount(1)).build();
    assertTrue(assertThrows(CompressionException.class, () -> Decompression.batchRecords(b, 0)).getMessage().contains("compression 9"));
  }
}
