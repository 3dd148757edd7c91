package dev.runnel.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import dev.runnel.examples.Groups;
import dev.runnel.v1.CommitRequest;
import dev.runnel.v1.PartitionOffset;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.UUID;
import java.util.function.BiConsumer;
import java.util.function.BooleanSupplier;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Consumer groups coordinated by the broker, against a real broker process: members split a
 * topic's partitions, every group reads every record, and a revoked partition moves to its new
 * owner right after what the old one read.
 */
class GroupsTest {
  // Well below the broker's rebalance timeout (30 s), after which a revoked
  // partition moves whether or not its old owner committed it.
  private static final long WAIT_MS = 15_000;
  private static TestBroker broker;
  private static RunnelClient client;

  @BeforeAll
  static void startBroker() throws Exception {
    broker = TestBroker.start();
    client = new RunnelClient(broker.address());
  }

  @AfterAll
  static void stopBroker() throws InterruptedException {
    client.close();
    broker.stop();
  }

  private static String name(String prefix) {
    return prefix + "-" + UUID.randomUUID().toString().substring(0, 8);
  }

  /** A consumer iterated on its own thread, keeping what it was given. */
  private static final class Running {
    final Consumer consumer;
    final List<Message> messages = new ArrayList<>();
    final List<Assignment> events = new ArrayList<>();
    volatile Throwable error;
    private final Thread thread;

    Running(List<String> topics, String group, Consumer.Options options, BiConsumer<Running, Assignment> callback) {
      consumer = client.consumer(topics, group, options.onAssignment(a -> {
        if (callback != null) {
          callback.accept(this, a);
        }
        synchronized (this) {
          events.add(a);
        }
      }));
      thread = new Thread(() -> {
        try {
          for (Message m : consumer) {
            synchronized (this) {
              messages.add(m);
            }
          }
        } catch (Throwable e) {
          error = e;
        }
      });
      thread.start();
    }

    Running(String topic, String group) {
      this(List.of(topic), group, new Consumer.Options(), null);
    }

    synchronized int count() {
      return messages.size();
    }

    synchronized List<Message> messages() {
      return List.copyOf(messages);
    }

    synchronized List<Assignment> events() {
      return List.copyOf(events);
    }

    Set<String> owned() {
      Set<String> out = new TreeSet<>();
      consumer.assignment().ifPresent(a -> a.partitions().forEach((t, ps) -> ps.forEach(p -> out.add(t + "/" + p))));
      return out;
    }

    void stop() throws InterruptedException {
      consumer.close();
      thread.join(10_000);
      assertFalse(thread.isAlive());
      assertNull(error);
    }
  }

  private static void await(String what, List<Running> members, BooleanSupplier done) throws InterruptedException {
    long deadline = System.currentTimeMillis() + WAIT_MS;
    while (!done.getAsBoolean()) {
      for (Running m : members) {
        if (m.error != null) {
          throw new AssertionError("a consumer failed while waiting for " + what, m.error);
        }
      }
      if (System.currentTimeMillis() > deadline) {
        throw new AssertionError(what + " within " + WAIT_MS + " ms; events "
            + members.stream().map(Running::events).toList() + ", messages " + members.stream().map(Running::count).toList());
      }
      Thread.sleep(20);
    }
  }

  private static void produce(String topic, int partitions, int perPartition, int start) {
    for (int p = 0; p < partitions; p++) {
      try (Producer producer = client.producer(topic, p)) {
        for (int i = start; i < start + perPartition; i++) {
          producer.send(ByteString.EMPTY, ByteString.copyFromUtf8(p + ":" + i), Map.of());
        }
      }
    }
  }

  private static Set<String> all(String topic, int n) {
    return IntStream.range(0, n).mapToObj(p -> topic + "/" + p).collect(Collectors.toCollection(TreeSet::new));
  }

  private static Set<String> union(Set<String> a, Set<String> b) {
    Set<String> out = new TreeSet<>(a);
    out.addAll(b);
    return out;
  }

  private static boolean disjoint(Set<String> a, Set<String> b) {
    return a.stream().noneMatch(b::contains);
  }

  private static String at(Message m) {
    return m.partition() + "@" + m.offset();
  }

  private static List<String> sorted(List<String> xs) {
    return xs.stream().sorted().toList();
  }

  private static int partitionOf(String owned) {
    return Integer.parseInt(owned.substring(owned.lastIndexOf('/') + 1));
  }

  @Test
  void twoMembersSplitThePartitionsAndAnotherGroupReadsEverything() throws InterruptedException {
    String topic = name("split");
    String group = name("g");
    client.createTopic(topic, 4, Map.of(), false);
    Running a = new Running(topic, group);
    await("the first member to own every partition", List.of(a), () -> a.owned().size() == 4);
    Assignment first = a.consumer.assignment().orElseThrow();
    assertEquals(group, first.group());
    assertTrue(!first.memberId().isEmpty() && first.memberEpoch() > 0);
    assertEquals(Map.of(topic, List.of(0, 1, 2, 3)), first.partitions());
    assertEquals(Map.of(), first.revoked());

    Running b = new Running(topic, group);
    await("the members to split the partitions", List.of(a, b), () -> !a.owned().isEmpty() && !b.owned().isEmpty()
        && disjoint(a.owned(), b.owned()) && union(a.owned(), b.owned()).size() == 4);
    assertEquals(2, a.owned().size());
    assertEquals(2, b.owned().size());
    assertEquals(all(topic, 4), union(a.owned(), b.owned()));
    assertNotEquals(a.consumer.assignment().orElseThrow().memberId(), b.consumer.assignment().orElseThrow().memberId());
    // The listener sees every event, the accessor the latest (once the
    // listeners of the events in flight have run).
    await("the listeners to catch up", List.of(a, b), () -> List.of(a, b).stream().allMatch(m -> {
      List<Assignment> events = m.events();
      return !events.isEmpty() && events.get(events.size() - 1) == m.consumer.assignment().orElse(null);
    }));
    // The first member was told what it lost: just what the second got.
    Set<String> revoked = new TreeSet<>();
    a.events().forEach(e -> e.revoked().forEach((t, ps) -> ps.forEach(p -> revoked.add(t + "/" + p))));
    assertEquals(b.owned(), revoked);

    produce(topic, 4, 10, 0);
    await("every record", List.of(a, b), () -> a.count() + b.count() >= 40);
    for (Running m : List.of(a, b)) {
      for (Message x : m.messages()) {
        assertTrue(m.owned().contains(x.topic() + "/" + x.partition()));
      }
    }
    List<String> seen = new ArrayList<>();
    a.messages().forEach(m -> seen.add(at(m)));
    b.messages().forEach(m -> seen.add(at(m)));
    assertEquals(40, seen.size());
    assertEquals(sorted(IntStream.range(0, 40).mapToObj(i -> (i % 4) + "@" + (i / 4)).toList()), sorted(seen));
    a.stop();
    b.stop();

    // Another group reads every record, whatever the first committed.
    List<String> got = new ArrayList<>();
    try (Consumer other = client.consumer(topic, name("other"), false)) {
      other.forEach(m -> got.add(at(m)));
      assertEquals(Map.of(topic, List.of(0, 1, 2, 3)), other.assignment().orElseThrow().partitions());
    }
    assertEquals(sorted(seen), sorted(got));
  }

  @ParameterizedTest(name = "commitOnRevoke={0}")
  @ValueSource(booleans = {true, false})
  void aRevokedPartitionMovesRightAfterWhatItsOwnerRead(boolean commitOnRevoke) throws InterruptedException {
    String topic = name("handoff");
    String group = name("g");
    client.createTopic(topic, 4, Map.of(), false);
    produce(topic, 4, 10, 0);
    Running a = new Running(List.of(topic), group, new Consumer.Options().commitOnRevoke(commitOnRevoke),
        commitOnRevoke ? null : (r, e) -> {
          if (!e.revoked().isEmpty()) {
            r.consumer.commit(); // still covers the revoked partitions
          }
        });
    await("the first member to read every record", List.of(a), () -> a.count() == 40);
    assertEquals(Map.of(), a.consumer.committed()); // nothing committed by hand

    Running b = new Running(topic, group);
    // The revoked partitions move at once: their commit releases them, long
    // before the rebalance timeout would.
    await("the second member to get its partitions", List.of(a, b), () -> b.owned().size() == 2);
    List<Integer> moved = b.owned().stream().map(GroupsTest::partitionOf).toList();
    assertTrue(disjoint(a.owned(), b.owned()));
    assertEquals(all(topic, 4), union(a.owned(), b.owned()));
    Map<Integer, Long> committed = a.consumer.committed();
    for (int p : moved) {
      assertEquals(10L, committed.get(p));
    }

    produce(topic, 4, 5, 10);
    await("the new records", List.of(a, b), () -> a.count() == 50 && b.count() == 10);
    // The new owner started right after what the old one read: nothing
    // twice, and nothing of a moved partition read by both.
    List<String> expected = new ArrayList<>();
    moved.forEach(p -> IntStream.range(10, 15).forEach(o -> expected.add(p + "@" + o)));
    assertEquals(sorted(expected), sorted(b.messages().stream().map(GroupsTest::at).toList()));
    for (Message x : a.messages()) {
      if (moved.contains(x.partition())) {
        assertTrue(x.offset() < 10, at(x));
      }
    }
    // The old owner commits as the member it is now: the partitions it kept.
    a.consumer.commit();
    Map<Integer, Long> after = a.consumer.committed();
    for (String k : a.owned()) {
      assertEquals(15L, after.get(partitionOf(k)));
    }
    a.stop();
    b.stop();
  }

  @Test
  void aCommitOfAPartitionTakenAwayIsRefused() throws InterruptedException {
    String topic = name("fenced");
    String group = name("g");
    client.createTopic(topic, 2, Map.of(), false);
    Running a = new Running(topic, group);
    await("the member to own both partitions", List.of(a), () -> a.owned().size() == 2);
    produce(topic, 2, 1, 0);
    await("both records", List.of(a), () -> a.count() == 2);
    Assignment stale = a.consumer.assignment().orElseThrow();
    Running b = new Running(topic, group);
    await("the second member's partition", List.of(a, b), () -> b.owned().size() == 1);
    int lost = partitionOf(b.owned().iterator().next());
    // Done with the revocation: committed and forgotten, then the listener.
    await("the first member's revocation", List.of(a), () -> a.events().stream().anyMatch(e -> !e.revoked().isEmpty()));
    // A member's commit carries its id and epoch: the broker refuses a
    // partition the member no longer owns, here moving it back (committing
    // again the committed offset, 1, would change nothing, and passes).
    StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> client.commit.commit(CommitRequest.newBuilder()
        .setGroup(group).setTopic(topic).setMemberId(stale.memberId()).setMemberEpoch(stale.memberEpoch())
        .addOffsets(PartitionOffset.newBuilder().setPartition(lost).setOffset(0)).build()));
    assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode());
    // Its own commit covers only what it still owns (it committed the other
    // when it lost it): accepted.
    a.consumer.commit();
    assertEquals(Map.of(0, 1L, 1, 1L), a.consumer.committed());
    a.stop();
    b.stop();
  }

  @Test
  void severalTopicsAndAStaticMember() throws InterruptedException {
    String t1 = name("multi-a");
    String t2 = name("multi-b");
    String group = name("g");
    client.createTopic(t1, 2, Map.of(), false);
    client.createTopic(t2, 2, Map.of(), false);
    produce(t1, 2, 3, 0);
    produce(t2, 2, 3, 0);
    Running a = new Running(List.of(t1, t2), group, new Consumer.Options().instanceId("worker-1"), null);
    await("every record of both topics", List.of(a), () -> a.count() == 12);
    assertEquals(Map.of(t1, List.of(0, 1), t2, List.of(0, 1)), a.consumer.assignment().orElseThrow().partitions());
    Set<String> expected = new HashSet<>();
    for (String t : List.of(t1, t2)) {
      for (int p = 0; p < 2; p++) {
        for (int o = 0; o < 3; o++) {
          expected.add(t + "/" + p + "@" + o);
        }
      }
    }
    assertEquals(expected, a.messages().stream().map(m -> m.topic() + "/" + at(m)).collect(Collectors.toSet()));
    a.consumer.commit(); // one commit per topic
    assertEquals(Map.of(0, 3L, 1, 3L), a.consumer.committed(t1));
    assertEquals(Map.of(0, 3L, 1, 3L), a.consumer.committed(t2));
    String memberId = a.consumer.assignment().orElseThrow().memberId();
    a.stop();

    // The same instance, back within the session timeout: the same member
    // with the same partitions, resuming after its commit.
    produce(t2, 2, 1, 3);
    Running again = new Running(List.of(t1, t2), group, new Consumer.Options().instanceId("worker-1"), null);
    await("the restarted member's new records", List.of(again), () -> again.count() == 2);
    assertEquals(memberId, again.consumer.assignment().orElseThrow().memberId());
    assertEquals(Map.of(t1, List.of(0, 1), t2, List.of(0, 1)), again.consumer.assignment().orElseThrow().partitions());
    assertEquals(List.of(t2 + "/0@3", t2 + "/1@3"), sorted(again.messages().stream().map(m -> m.topic() + "/" + at(m)).toList()));
    again.stop();
  }

  @Test
  void manualAssignmentReadsJustItsPartitions() {
    String topic = name("manual");
    String group = name("g");
    client.createTopic(topic, 3, Map.of(), false);
    produce(topic, 3, 2, 0);
    List<String> got = new ArrayList<>();
    try (Consumer consumer = client.consumer(topic, group, new Consumer.Options().partitions(List.of(1)).follow(false))) {
      consumer.forEach(m -> got.add(at(m)));
      assertTrue(consumer.assignment().isEmpty()); // no membership
      consumer.commit();
      assertEquals(Map.of(1, 2L), consumer.committed());
    }
    assertEquals(List.of("1@0", "1@1"), got);
    try (Consumer again = client.consumer(topic, group, new Consumer.Options().partitions(List.of(1)).follow(false))) {
      assertFalse(again.iterator().hasNext());
    }
  }

  @Test
  void exampleGroups() throws InterruptedException {
    Groups.Result r = Groups.run(broker.address());
    assertEquals(2, r.members().size());
    Set<Integer> p0 = new TreeSet<>(r.members().get(0).partitions());
    Set<Integer> p1 = new TreeSet<>(r.members().get(1).partitions());
    assertFalse(p0.isEmpty() || p1.isEmpty());
    assertTrue(p0.stream().noneMatch(p1::contains));
    Set<Integer> both = new TreeSet<>(p0);
    both.addAll(p1);
    assertEquals(Set.of(0, 1, 2, 3), both);
    List<String> split = new ArrayList<>();
    for (Groups.Member m : r.members()) {
      for (Message x : m.messages()) {
        assertTrue(m.partitions().contains(x.partition()));
        split.add(at(x));
      }
    }
    assertEquals(r.produced(), split.size());
    assertEquals(r.produced(), new HashSet<>(split).size());
    assertEquals(sorted(split), sorted(r.audit().stream().map(GroupsTest::at).toList()));
  }
}
