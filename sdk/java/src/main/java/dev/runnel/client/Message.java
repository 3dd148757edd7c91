package dev.runnel.client;

import com.google.protobuf.ByteString;
import java.util.List;
import java.util.Map;

/** One consumed record. */
public record Message(
    String topic,
    int partition,
    long offset,
    ByteString key,
    ByteString value,
    List<Map.Entry<String, ByteString>> headers,
    long timestampMs) {}
