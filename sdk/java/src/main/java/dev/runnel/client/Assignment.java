package dev.runnel.client;

import dev.runnel.v1.GroupAssignment;
import dev.runnel.v1.TopicPartitions;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * A group member's assignment, as the broker's latest assignment event gave it: {@code partitions}
 * is every partition the member now reads, {@code revoked} those the event took away, each by
 * topic (sorted).
 */
public record Assignment(
    String group,
    String memberId,
    int groupEpoch,
    int memberEpoch,
    Map<String, List<Integer>> partitions,
    Map<String, List<Integer>> revoked) {

  public Assignment {
    partitions = Collections.unmodifiableMap(new TreeMap<>(partitions));
    revoked = Collections.unmodifiableMap(new TreeMap<>(revoked));
  }

  static Assignment of(GroupAssignment a) {
    return new Assignment(a.getGroup(), a.getMemberId(), a.getGroupEpoch(), a.getMemberEpoch(),
        byTopic(a.getPartitionsList()), byTopic(a.getRevokedList()));
  }

  private static Map<String, List<Integer>> byTopic(List<TopicPartitions> tps) {
    Map<String, List<Integer>> out = new TreeMap<>();
    tps.forEach(tp -> out.put(tp.getTopic(), List.copyOf(tp.getPartitionsList())));
    return out;
  }
}
