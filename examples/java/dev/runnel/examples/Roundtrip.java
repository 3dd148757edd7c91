package dev.runnel.examples;

import com.google.protobuf.ByteString;
import dev.runnel.client.Consumer;
import dev.runnel.client.Message;
import dev.runnel.client.Producer;
import dev.runnel.client.RunnelClient;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;

/**
 * Runnel from Java: produce keyed records, consume them as a member of a group, commit, and resume
 * where the group left off.
 *
 * <pre>
 * cd sdk/java &amp;&amp; mvn -q compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
 * java -cp target/classes:$(cat target/classpath.txt) dev.runnel.examples.Roundtrip 127.0.0.1:7400
 * </pre>
 */
public final class Roundtrip {
  /** What the round trip saw. */
  public record Result(String topic, List<Message> first, List<Message> rest, Status.Code notFound) {}

  public static Result run(String address) {
    String topic = "orders-" + UUID.randomUUID().toString().substring(0, 8);
    try (RunnelClient client = new RunnelClient(address)) {
      client.createTopic(topic, 3, Map.of(), false);

      // Produce: ten records over three keys, each with a header.
      try (Producer producer = client.producer(topic)) {
        for (int i = 0; i < 10; i++) {
          producer.send(ByteString.copyFromUtf8("customer-" + (i % 3)), ByteString.copyFromUtf8("order " + i),
              Map.of("source", ByteString.copyFromUtf8("java")));
        }
      }

      // Consume six records as a member of group "billing", commit, stop. The broker assigns the
      // member every partition (it is alone in the group); leaving the loop keeps its stream open,
      // so it commits as that member.
      List<Message> first = new ArrayList<>();
      try (Consumer consumer = client.consumer(topic, "billing", true)) {
        for (Message m : consumer) {
          first.add(m);
          if (first.size() == 6) {
            break;
          }
        }
        consumer.commit();
      }

      // A reader of the group's partitions (manual assignment: no membership) resumes after what
      // was committed, and stops at the end.
      List<Message> rest = new ArrayList<>();
      try (Consumer consumer = client.consumer(topic, "billing", new Consumer.Options().partitions(List.of(0, 1, 2)).follow(false))) {
        consumer.forEach(rest::add);
      }

      // Errors are gRPC status codes.
      Status.Code notFound = null;
      try (Consumer consumer = client.consumer("no-such-topic", "billing", false)) {
        consumer.forEach(m -> {});
      } catch (StatusRuntimeException e) {
        notFound = e.getStatus().getCode();
      }
      return new Result(topic, first, rest, notFound);
    }
  }

  public static void main(String[] args) {
    Result r = run(args.length > 0 ? args[0] : RunnelClient.DEFAULT_ADDRESS);
    for (Message m : r.first()) {
      print("first", m);
    }
    for (Message m : r.rest()) {
      print("rest", m);
    }
    System.out.println("an unknown topic gives " + r.notFound());
  }

  private static void print(String label, Message m) {
    System.out.printf("%s: partition %d offset %d key=%s value=%s headers=%s%n", label, m.partition(), m.offset(),
        m.key().toStringUtf8(), m.value().toStringUtf8(),
        m.headers().stream().map(h -> h.getKey() + "=" + h.getValue().toStringUtf8()).toList());
  }

  private Roundtrip() {}
}
