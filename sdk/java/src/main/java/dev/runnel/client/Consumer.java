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
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.TreeMap;

/**
 * Iterates a topic's records as a member of a consumer group: from the group's committed offsets
 * (the earliest where it has none). {@link #commit} stores the position after the last record
 * handed out, so a consumer created later resumes there. With follow it waits for new records;
 * without, iteration ends at the end of the topic as it was when iteration started.
 */
public final class Consumer implements Iterable<Message>, AutoCloseable {
  private final RunnelClient client;
  private final SubscribeRequest request;
  private final Map<Integer, Long> positions = new TreeMap<>();
  private final Context.CancellableContext context = Context.current().withCancellation();

  Consumer(RunnelClient client, String topic, String group, List<Integer> partitions, boolean follow) {
    this.client = client;
    this.request =
        SubscribeRequest.newBuilder()
            .setTopic(topic)
            .setGroup(group)
            .addAllPartitions(partitions)
            .setFollow(follow)
            .setStartPosition(StartPosition.START_POSITION_COMMITTED)
            .build();
  }

  @Override
  public Iterator<Message> iterator() {
    Iterator<SubscribeResponse> stream;
    Context previous = context.attach();
    try {
      stream = client.subscribe.subscribe(request);
    } finally {
      context.detach(previous);
    }
    return new Iterator<>() {
      private final Deque<Message> ready = new ArrayDeque<>();

      @Override
      public boolean hasNext() {
        while (ready.isEmpty()) {
          try {
            if (!stream.hasNext()) {
              return false;
            }
          } catch (StatusRuntimeException e) {
            if (e.getStatus().getCode() == Status.Code.CANCELLED && context.isCancelled()) {
              return false;
            }
            throw e;
          }
          RecordBatch b = stream.next().getBatch();
          for (dev.runnel.v1.Record r : b.getRecordsList()) {
            ready.add(new Message(b.getTopic(), b.getPartition(), r.getOffset(), r.getKey(), r.getValue(),
                r.getHeadersList().stream().map(h -> Map.entry(h.getKey(), h.getValue())).toList(),
                r.getTimestamp().getSeconds() * 1000 + r.getTimestamp().getNanos() / 1_000_000));
          }
        }
        return true;
      }

      @Override
      public Message next() {
        if (!hasNext()) {
          throw new NoSuchElementException();
        }
        Message m = ready.removeFirst();
        positions.put(m.partition(), m.offset() + 1);
        return m;
      }
    };
  }

  /** Commits the position after the last record handed out, per partition. */
  public void commit() {
    if (positions.isEmpty()) {
      return;
    }
    CommitRequest.Builder req = CommitRequest.newBuilder().setGroup(request.getGroup()).setTopic(request.getTopic());
    positions.forEach((p, o) -> req.addOffsets(PartitionOffset.newBuilder().setPartition(p).setOffset(o)));
    client.commit.commit(req.build());
  }

  /** The group's committed offsets, by partition. */
  public Map<Integer, Long> committed() {
    Map<Integer, Long> out = new TreeMap<>();
    client.commit
        .fetchCommitted(FetchCommittedRequest.newBuilder().setGroup(request.getGroup()).setTopic(request.getTopic()).build())
        .getOffsetsList()
        .forEach(o -> out.put(o.getPartition(), o.getOffset()));
    return out;
  }

  @Override
  public void close() {
    context.cancel(null);
  }
}
