package dev.runnel.examples;

import com.google.protobuf.ByteString;
import dev.runnel.client.Assignment;
import dev.runnel.client.Consumer;
import dev.runnel.client.Message;
import dev.runnel.client.Producer;
import dev.runnel.client.RunnelClient;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.function.BooleanSupplier;

/**
 * Runnel from Java: two members of group "billing" split a topic's partitions between them, and
 * group "audit" reads every record. The broker assigns the partitions (each to one member of a
 * group) and tells each member with an assignment event; the SDK passes every event to the
 * consumer's {@code onAssignment} listener.
 *
 * <pre>
 * cd sdk/java &amp;&amp; mvn -q compile dependency:build-classpath -Dmdep.outputFile=target/classpath.txt
 * java -cp target/classes:$(cat target/classpath.txt) dev.runnel.examples.Groups 127.0.0.1:7400
 * </pre>
 */
public final class Groups {
  public static final int RECORDS = 20;

  /** One member of "billing": its id, the partitions it read and what it read there. */
  public record Member(String memberId, List<Integer> partitions, List<Message> messages) {}

  /** What the members and the audit group read. */
  public record Result(String topic, int produced, List<Member> members, List<Message> audit) {}

  public static Result run(String address) throws InterruptedException {
    String topic = "orders-" + UUID.randomUUID().toString().substring(0, 8);
    try (RunnelClient client = new RunnelClient(address)) {
      client.createTopic(topic, 4, Map.of(), false);

      // Two members of "billing", each iterating on its own thread.
      List<Consumer> members = new ArrayList<>();
      List<List<Message>> received = List.of(new ArrayList<>(), new ArrayList<>());
      List<Thread> threads = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        Consumer consumer = client.consumer(topic, "billing", new Consumer.Options().onAssignment(Groups::print));
        List<Message> mine = received.get(i);
        members.add(consumer);
        Thread t = new Thread(() -> {
          for (Message m : consumer) {
            synchronized (received) {
              mine.add(m);
            }
          }
        });
        t.start();
        threads.add(t);
      }

      // Wait until the broker has split the partitions: 2 each.
      await("the split", () -> owned(members.get(0), topic).size() == 2 && owned(members.get(1), topic).size() == 2);

      // Produce: keyed records, spread over the partitions.
      try (Producer producer = client.producer(topic)) {
        for (int i = 0; i < RECORDS; i++) {
          producer.send(ByteString.copyFromUtf8("customer-" + i), ByteString.copyFromUtf8("order " + i), Map.of());
        }
      }

      // Between them, the members get every record once.
      await("every record", () -> {
        synchronized (received) {
          return received.get(0).size() + received.get(1).size() >= RECORDS;
        }
      });
      List<Member> split = new ArrayList<>();
      for (int i = 0; i < 2; i++) {
        Consumer c = members.get(i);
        synchronized (received) {
          split.add(new Member(c.assignment().orElseThrow().memberId(), owned(c, topic), List.copyOf(received.get(i))));
        }
        c.commit(); // as the member it is: its id and epoch
        c.close();
      }
      for (Thread t : threads) {
        t.join(10_000);
      }

      // Another group reads every record, whatever "billing" did.
      List<Message> audit = new ArrayList<>();
      try (Consumer consumer = client.consumer(topic, "audit", false)) {
        consumer.forEach(audit::add);
      }
      return new Result(topic, RECORDS, split, audit);
    }
  }

  private static List<Integer> owned(Consumer c, String topic) {
    return c.assignment().map(a -> a.partitions().getOrDefault(topic, List.of())).orElse(List.of());
  }

  private static void await(String what, BooleanSupplier done) throws InterruptedException {
    long deadline = System.nanoTime() + 30_000_000_000L;
    while (!done.getAsBoolean()) {
      if (System.nanoTime() > deadline) {
        throw new IllegalStateException("no " + what + " within 30 s");
      }
      Thread.sleep(20);
    }
  }

  private static void print(Assignment a) {
    System.out.printf("member %s epoch %d: owns %s, lost %s%n", a.memberId().substring(0, 8), a.memberEpoch(),
        a.partitions(), a.revoked());
  }

  public static void main(String[] args) throws InterruptedException {
    Result r = run(args.length > 0 ? args[0] : RunnelClient.DEFAULT_ADDRESS);
    for (Member m : r.members()) {
      System.out.printf("billing member %s read partitions %s: %d records%n", m.memberId().substring(0, 8),
          m.partitions(), m.messages().size());
    }
    System.out.println("audit read " + r.audit().size() + " records");
  }

  private Groups() {}
}
