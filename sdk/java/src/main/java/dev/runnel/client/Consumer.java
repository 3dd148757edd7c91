package dev.runnel.client;

import dev.runnel.v1.CommitRequest;
import dev.runnel.v1.FetchCommittedRequest;
import dev.runnel.v1.PartitionOffset;
import dev.runnel.v1.RecordBatch;
import dev.runnel.v1.StartPosition;
import dev.runnel.v1.SubscribeRequest;
import dev.runnel.v1.SubscribeResponse;
import io.grpc.Context;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Iterates records of a consumer group, and commits its position.
 *
 * <p>Without {@link Options#partitions} the consumer is a member of the group: the broker assigns
 * the topics' partitions among the group's live members (each partition to one member; every group
 * reads every record) and tells the member each change with an assignment event, which the
 * consumer keeps ({@link #assignment}) and passes to {@link Options#onAssignment}, on the thread
 * iterating it. Each partition starts at the group's committed offset (without one: the earliest,
 * or the latest with {@code START_POSITION_LATEST}). With partitions (one topic) it reads just
 * those from the group's committed offsets: manual assignment, no membership, no events.
 *
 * <p>{@link #commit} stores, per partition, the position after the last record handed out, so
 * whoever reads the partition next resumes there; a member commits as itself (its id and epoch),
 * and the broker refuses ({@code FAILED_PRECONDITION}) a partition it no longer owns. On an event
 * that revokes partitions the consumer first commits their positions (unless {@link
 * Options#commitOnRevoke} is false), which hands them to their new owner at once with nothing read
 * twice, then forgets them and calls the listener. With commitOnRevoke false it calls the listener
 * first, while {@link #commit} still covers the revoked partitions (the last chance to commit
 * them, as in Kafka's onPartitionsRevoked), and forgets them after; a revoked partition left
 * uncommitted moves only after the group's rebalance timeout, which also removes this member.
 *
 * <p>With follow it waits for new records; without, iteration ends at the end of the topics as
 * they were when iteration started (for a member: once it owns its whole share and has read it to
 * that end; the member then leaves its group, and can no longer commit). One stream serves the
 * consumer from its first iteration to {@link #close}: leaving a loop early keeps it, and a
 * member's membership, so that the consumer can still commit.
 */
public final class Consumer implements Iterable<Message>, AutoCloseable {
  /** What to read and how; the setters return this. */
  public static final class Options {
    private boolean follow = true;
    private List<Integer> partitions = List.of();
    private String instanceId = "";
    private AssignmentListener onAssignment;
    private boolean commitOnRevoke = true;
    private StartPosition startPosition = StartPosition.START_POSITION_COMMITTED;
    private int maxBatchBytes;

    /** Wait for new records (the default); false: stop at the end of the topics as they were. */
    public Options follow(boolean follow) {
      this.follow = follow;
      return this;
    }

    /** Read just these partitions of the one topic: manual assignment, no membership. */
    public Options partitions(List<Integer> partitions) {
      this.partitions = List.copyOf(partitions);
      return this;
    }

    /** A static member's id (Kafka's group.instance.id): it keeps its partitions across a quick restart. */
    public Options instanceId(String instanceId) {
      this.instanceId = instanceId;
      return this;
    }

    /** Told each assignment event. */
    public Options onAssignment(AssignmentListener listener) {
      this.onAssignment = listener;
      return this;
    }

    /** On a revocation, commit the revoked partitions before the listener (the default). */
    public Options commitOnRevoke(boolean commitOnRevoke) {
      this.commitOnRevoke = commitOnRevoke;
      return this;
    }

    /** Where a member starts without a committed offset: LATEST, or the earliest (the default). */
    public Options startPosition(StartPosition startPosition) {
      this.startPosition = startPosition;
      return this;
    }

    /** The most record bytes per response (the broker's default: 1 MiB). */
    public Options maxBatchBytes(int maxBatchBytes) {
      this.maxBatchBytes = maxBatchBytes;
      return this;
    }
  }

  private final RunnelClient client;
  private final SubscribeRequest request;
  private final List<String> topics;
  private final boolean member;
  private final AssignmentListener listener;
  private final boolean commitOnRevoke;
  // Guarded by itself: topic -> partition -> the next offset to read.
  private final Map<String, Map<Integer, Long>> positions = new TreeMap<>();
  private volatile Assignment assignment;
  private final Context.CancellableContext context = Context.current().withCancellation();
  // The stream and the records received but not handed out: the iterating thread's.
  private Iterator<SubscribeResponse> stream;
  private final Deque<Message> ready = new ArrayDeque<>();
  private boolean ended;
  // Where the stream is in each partition it has sent a batch of (topic ->
  // partition -> the offset after that batch): a compressed batch comes
  // whole, so the first one may begin before where the read started.
  private final Map<String, Map<Integer, Long>> streamNext = new HashMap<>();

  Consumer(RunnelClient client, List<String> topics, String group, Options options) {
    if (topics.isEmpty()) {
      throw new IllegalArgumentException("a consumer reads at least one topic");
    }
    this.client = client;
    this.topics = List.copyOf(topics);
    this.member = options.partitions.isEmpty();
    if (!member && (topics.size() > 1 || !options.instanceId.isEmpty())) {
      throw new IllegalArgumentException("several topics and instanceId are for a group member: no partitions");
    }
    this.listener = options.onAssignment;
    this.commitOnRevoke = options.commitOnRevoke;
    this.request =
        SubscribeRequest.newBuilder()
            .setTopic(topics.get(0))
            .addAllTopics(topics.subList(1, topics.size()))
            .setGroup(group)
            .addAllPartitions(options.partitions)
            .setFollow(options.follow)
            .setStartPosition(options.startPosition)
            .setInstanceId(options.instanceId)
            .setMaxBatchBytes(options.maxBatchBytes)
            .addAllAcceptCompression(Decompression.ACCEPTED)
            .build();
  }

  /** The subscription the consumer asks for (its stream's request): for tests. */
  SubscribeRequest request() {
    return request;
  }

  /** The latest assignment event: empty before the first, and for a consumer that named its partitions. */
  public Optional<Assignment> assignment() {
    return Optional.ofNullable(assignment);
  }

  /**
   * The consumer's records. Every iterator reads the one stream the first opened, until {@link
   * #close}: leaving a loop early keeps it (and a member's membership), and iterating again goes on
   * where the last loop stopped. Iterate on one thread at a time.
   */
  @Override
  public Iterator<Message> iterator() {
    return new Iterator<>() {
      @Override
      public boolean hasNext() {
        return more();
      }

      @Override
      public Message next() {
        if (!more()) {
          throw new NoSuchElementException();
        }
        Message m = ready.removeFirst();
        synchronized (positions) {
          positions.computeIfAbsent(m.topic(), t -> new TreeMap<>()).put(m.partition(), m.offset() + 1);
        }
        return m;
      }
    };
  }

  /** Whether a record is ready, reading the stream (and handling its events) until one is. */
  private boolean more() {
    while (ready.isEmpty()) {
      if (ended || context.isCancelled()) {
        return false;
      }
      try {
        if (stream == null) {
          Context previous = context.attach();
          try {
            stream = client.subscribe.subscribe(request);
          } finally {
            context.detach(previous);
          }
        }
        if (!stream.hasNext()) {
          ended = true;
          return false;
        }
      } catch (StatusRuntimeException e) {
        if (e.getStatus().getCode() == Status.Code.CANCELLED && context.isCancelled()) {
          ended = true;
          return false;
        }
        throw e;
      }
      SubscribeResponse resp = stream.next();
      if (resp.hasAssignment()) {
        assigned(Assignment.of(resp.getAssignment()));
        continue;
      }
      RecordBatch b = resp.getBatch();
      Map<Integer, Long> next = streamNext.computeIfAbsent(b.getTopic(), t -> new HashMap<>());
      // NB: the broker sends a batch as stored only from its start at or after the read's
      // position; what the stream sent before is skipped, should a batch repeat it.
      List<dev.runnel.v1.Record> records = Decompression.batchRecords(b, next.getOrDefault(b.getPartition(), 0L));
      if (b.hasCompressed()) {
        next.put(b.getPartition(), b.getCompressed().getBaseOffset() + b.getCompressed().getRecordCount());
      } else if (!records.isEmpty()) {
        next.put(b.getPartition(), records.get(records.size() - 1).getOffset() + 1);
      }
      for (dev.runnel.v1.Record r : records) {
        ready.add(new Message(b.getTopic(), b.getPartition(), r.getOffset(), r.getKey(), r.getValue(),
            r.getHeadersList().stream().map(h -> Map.entry(h.getKey(), h.getValue())).toList(),
            r.getTimestamp().getSeconds() * 1000 + r.getTimestamp().getNanos() / 1_000_000));
      }
    }
    return true;
  }

  private void assigned(Assignment a) {
    assignment = a;
    Map<String, Set<Integer>> revoked = new HashMap<>();
    a.revoked().forEach((t, ps) -> revoked.put(t, new HashSet<>(ps)));
    // No batch of a revoked partition follows; if it comes back, it starts anew.
    revoked.forEach((t, ps) -> streamNext.getOrDefault(t, new HashMap<>()).keySet().removeAll(ps));
    if (!revoked.isEmpty() && commitOnRevoke) {
      // NB: before the listener, so that the partitions move to their new
      // owner at once, which starts after the last record handed out here.
      try {
        commit(revoked);
      } catch (StatusRuntimeException e) {
        // The group moved them on already (its rebalance timeout): their
        // new owner resumes at the last commit.
        if (e.getStatus().getCode() != Status.Code.FAILED_PRECONDITION) {
          throw e;
        }
      }
      forget(revoked);
    }
    try {
      if (listener != null) {
        listener.onAssignment(a);
      }
    } finally {
      forget(revoked);
    }
  }

  private void forget(Map<String, Set<Integer>> partitions) {
    synchronized (positions) {
      partitions.forEach((t, ps) -> {
        Map<Integer, Long> byPartition = positions.get(t);
        if (byPartition != null) {
          byPartition.keySet().removeAll(ps);
          if (byPartition.isEmpty()) {
            positions.remove(t);
          }
        }
      });
    }
  }

  /** Commits the position after the last record handed out, per partition (one request per topic). */
  public void commit() {
    commit(null);
  }

  private void commit(Map<String, Set<Integer>> only) {
    List<CommitRequest> requests = new ArrayList<>();
    Assignment a = member ? assignment : null;
    synchronized (positions) {
      positions.forEach((t, byPartition) -> {
        CommitRequest.Builder req = CommitRequest.newBuilder().setGroup(request.getGroup()).setTopic(t);
        if (a != null) {
          req.setMemberId(a.memberId()).setMemberEpoch(a.memberEpoch());
        }
        byPartition.forEach((p, o) -> {
          if (only == null || only.getOrDefault(t, Set.of()).contains(p)) {
            req.addOffsets(PartitionOffset.newBuilder().setPartition(p).setOffset(o));
          }
        });
        if (req.getOffsetsCount() > 0) {
          requests.add(req.build());
        }
      });
    }
    requests.forEach(client.commit::commit);
  }

  /** The group's committed offsets in the first topic, by partition. */
  public Map<Integer, Long> committed() {
    return committed(topics.get(0));
  }

  /** The group's committed offsets in topic, by partition. */
  public Map<Integer, Long> committed(String topic) {
    Map<Integer, Long> out = new TreeMap<>();
    client.commit
        .fetchCommitted(FetchCommittedRequest.newBuilder().setGroup(request.getGroup()).setTopic(topic).build())
        .getOffsetsList()
        .forEach(o -> out.put(o.getPartition(), o.getOffset()));
    return out;
  }

  /** Ends the stream (a member leaves its group). */
  @Override
  public void close() {
    context.cancel(null);
  }
}
