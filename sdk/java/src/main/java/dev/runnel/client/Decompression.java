package dev.runnel.client;

import com.github.luben.zstd.ZstdInputStream;
import com.google.protobuf.InvalidProtocolBufferException;
import dev.runnel.v1.Compression;
import dev.runnel.v1.CompressedRecords;
import dev.runnel.v1.Record;
import dev.runnel.v1.RecordBatch;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import org.apache.commons.compress.compressors.lz4.FramedLZ4CompressorInputStream;
import org.xerial.snappy.Snappy;

/**
 * Decoding the record batches a broker delivers compressed.
 *
 * <p>A subscriber lists the codecs it decompresses in {@code SubscribeRequest.accept_compression};
 * a batch stored with one of them comes as stored ({@code RecordBatch.compressed}): its data is,
 * once decompressed, each record as its length (a varint) followed by its {@code runnel.v1.Record}
 * encoding, record i having offset {@code base_offset + i}. The batch is a whole stored one, so it
 * may begin before the offset the subscription asked for: {@link #batchRecords} skips the records
 * before it.
 *
 * <p>Codecs: gzip ({@code java.util.zip}), snappy's raw block format (snappy-java), LZ4 frames
 * (commons-compress, which reads linked blocks) and Zstandard frames (zstd-jni). Every decoder stops one byte past {@link
 * #MAX_DECOMPRESSED_BYTES}, the largest batch a broker stores, so that a hostile response cannot
 * exhaust memory.
 */
public final class Decompression {
  /** The codecs this SDK decompresses: its consumers list them all. */
  public static final List<Compression> ACCEPTED =
      List.of(Compression.COMPRESSION_GZIP, Compression.COMPRESSION_SNAPPY, Compression.COMPRESSION_LZ4,
          Compression.COMPRESSION_ZSTD);

  /** The most one compressed batch may decompress to: the largest batch a broker stores. */
  public static final int MAX_DECOMPRESSED_BYTES = (32 << 20) + (64 << 10);

  private Decompression() {}

  /** data decompressed with codec, at most limit bytes. */
  public static byte[] decompress(Compression codec, byte[] data, int limit) {
    try {
      switch (codec) {
        case COMPRESSION_GZIP:
          // NB: GZIPInputStream reads every member, as RFC 1952 allows several.
          return readBounded(new GZIPInputStream(new ByteArrayInputStream(data)), codec, limit);
        case COMPRESSION_LZ4:
          // NB: frame after frame (true), as the format allows.
          return readBounded(new FramedLZ4CompressorInputStream(new ByteArrayInputStream(data), true), codec, limit);
        case COMPRESSION_ZSTD:
          // NB: zstd itself refuses a frame whose window is past 128 MiB
          // (its default windowLogMax), before allocating it.
          return readBounded(new ZstdInputStream(new ByteArrayInputStream(data)), codec, limit);
        case COMPRESSION_SNAPPY:
          return snappy(data, limit);
        default:
          throw new CompressionException("compression " + codec + " is not a codec this SDK decodes");
      }
    } catch (IOException | RuntimeException e) {
      if (e instanceof CompressionException c) {
        throw c;
      }
      throw new CompressionException("corrupt " + name(codec) + " data: " + e, e);
    }
  }

  private static byte[] snappy(byte[] data, int limit) throws IOException {
    // NB: the raw block starts with its decoded length: refuse a large one
    // before anything is allocated.
    int n = Snappy.uncompressedLength(data);
    if (n < 0 || n > limit) {
      throw tooLarge(Compression.COMPRESSION_SNAPPY, limit);
    }
    byte[] out = new byte[n];
    int got = Snappy.uncompress(data, 0, data.length, out, 0);
    if (got != n) {
      throw new CompressionException("corrupt snappy data: decoded " + got + " bytes, the block says " + n);
    }
    return out;
  }

  private static byte[] readBounded(InputStream in, Compression codec, int limit) throws IOException {
    try (in) {
      // NB: readNBytes grows its buffer as it reads, so a bomb stops one
      // byte past the limit.
      byte[] out = in.readNBytes(limit + 1);
      if (out.length > limit) {
        throw tooLarge(codec, limit);
      }
      return out;
    }
  }

  private static CompressionException tooLarge(Compression codec, int limit) {
    return new CompressionException(name(codec) + ": decompresses to more than " + limit + " bytes");
  }

  private static String name(Compression codec) {
    return codec.name().replaceFirst("^COMPRESSION_", "").toLowerCase(java.util.Locale.ROOT);
  }

  /**
   * The batch's records from offset start on, each with its offset: a plain batch's as they are, a
   * compressed one's decompressed (at most {@link #MAX_DECOMPRESSED_BYTES}).
   *
   * @throws CompressionException for a compressed batch that does not decode
   */
  public static List<Record> batchRecords(RecordBatch batch, long start) {
    return batchRecords(batch, start, MAX_DECOMPRESSED_BYTES);
  }

  /** {@link #batchRecords(RecordBatch, long)} with the bound given. */
  public static List<Record> batchRecords(RecordBatch batch, long start, int limit) {
    if (!batch.hasCompressed()) {
      return batch.getRecordsList();
    }
    CompressedRecords z = batch.getCompressed();
    String where = "runnel: " + batch.getTopic() + "/" + batch.getPartition() + " batch at offset " + z.getBaseOffset();
    if (z.getCompression() == Compression.UNRECOGNIZED) {
      throw new CompressionException(where + ": compression " + z.getCompressionValue() + " is not a codec this SDK decodes");
    }
    byte[] plain;
    try {
      plain = decompress(z.getCompression(), z.getData().toByteArray(), limit);
    } catch (CompressionException e) {
      throw new CompressionException(where + ": " + e.getMessage(), e);
    }
    List<Record> out = new ArrayList<>();
    int pos = 0;
    int i = 0;
    while (pos < plain.length) {
      // The length: an unsigned varint.
      long n = 0;
      int at = pos;
      boolean complete = false;
      for (int shift = 0; shift < 64 && at < plain.length && !complete; shift += 7) {
        int b = plain[at++] & 0xff;
        n |= (long) (b & 0x7f) << shift;
        complete = b < 0x80;
      }
      if (!complete) {
        n = -1;
      }
      if (n < 0 || n > plain.length - at || i >= z.getRecordCount()) {
        throw new CompressionException(where + ": malformed after " + i + " of its " + z.getRecordCount() + " records");
      }
      pos = at + (int) n;
      long offset = z.getBaseOffset() + i++;
      if (offset < start) {
        continue;
      }
      try {
        out.add(Record.parser().parseFrom(plain, at, (int) n).toBuilder().setOffset(offset).build());
      } catch (InvalidProtocolBufferException e) {
        throw new CompressionException("runnel: " + batch.getTopic() + "/" + batch.getPartition()
            + " record at offset " + offset + ": " + e.getMessage(), e);
      }
    }
    if (i != z.getRecordCount()) {
      throw new CompressionException(where + ": holds " + i + " records, not the " + z.getRecordCount() + " it declares");
    }
    return out;
  }
}
