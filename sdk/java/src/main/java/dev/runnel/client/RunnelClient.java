package dev.runnel.client;

import dev.runnel.v1.AdminServiceGrpc;
import dev.runnel.v1.CommitServiceGrpc;
import dev.runnel.v1.CreateTopicRequest;
import dev.runnel.v1.ProduceServiceGrpc;
import dev.runnel.v1.SubscribeServiceGrpc;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * A connection to a Runnel broker and the stubs of its four services, generated from proto/ into
 * gen/java. The stubs are the API; this package adds only what is awkward with them alone: an
 * idempotent {@link Producer} that partitions and batches records, pipelines requests on one stream
 * and retries them without duplicating or reordering, and a {@link
 * Consumer} that iterates a group's records, following the broker's assignment of its partitions
 * when it is a group member, and commits its position.
 *
 * <p>Errors are gRPC statuses: calls throw {@link StatusRuntimeException} ({@code
 * e.getStatus().getCode()} is {@code NOT_FOUND}, {@code OUT_OF_RANGE}, ...), and a produce request
 * the broker rejected fails its futures with {@link ProduceException}, which carries the same
 * status.
 */
public final class RunnelClient implements AutoCloseable {
  public static final String DEFAULT_ADDRESS = "127.0.0.1:7400";

  private final ManagedChannel channel;
  public final AdminServiceGrpc.AdminServiceBlockingStub admin;
  public final ProduceServiceGrpc.ProduceServiceStub produce;
  public final SubscribeServiceGrpc.SubscribeServiceBlockingStub subscribe;
  public final CommitServiceGrpc.CommitServiceBlockingStub commit;

  public RunnelClient(String address) {
    // Runnel accepts records up to 32 MiB: let responses that large through.
    channel = NettyChannelBuilder.forTarget(address).usePlaintext().maxInboundMessageSize(64 << 20).build();
    admin = AdminServiceGrpc.newBlockingStub(channel);
    produce = ProduceServiceGrpc.newStub(channel);
    subscribe = SubscribeServiceGrpc.newBlockingStub(channel);
    commit = CommitServiceGrpc.newBlockingStub(channel);
  }

  /** Creates a topic; with existOk, an existing one is fine. */
  public void createTopic(String name, int partitions, Map<String, String> config, boolean existOk) {
    try {
      admin.createTopic(CreateTopicRequest.newBuilder().setName(name).setPartitions(partitions).putAllConfig(config).build());
    } catch (StatusRuntimeException e) {
      if (!existOk || e.getStatus().getCode() != Status.Code.ALREADY_EXISTS) {
        throw e;
      }
    }
  }

  /** An idempotent producer whose keyed records go where Kafka's partitioner puts them. */
  public Producer producer(String topic) {
    return new Producer(this, topic, new Producer.Options());
  }

  /** An idempotent producer whose records all go to one partition. */
  public Producer producer(String topic, int partition) {
    return new Producer(this, topic, new Producer.Options().partition(partition));
  }

  /** A producer with options: {@code new Producer.Options().idempotent(false)} turns idempotence off. */
  public Producer producer(String topic, Producer.Options options) {
    return new Producer(this, topic, options);
  }

  /** A member of group that the broker assigns partitions of topic (see {@link Consumer}). */
  public Consumer consumer(String topic, String group, boolean follow) {
    return new Consumer(this, List.of(topic), group, new Consumer.Options().follow(follow));
  }

  /**
   * A consumer of group: a member that the broker assigns partitions of topic, or, with {@link
   * Consumer.Options#partitions}, a reader of just those.
   */
  public Consumer consumer(String topic, String group, Consumer.Options options) {
    return new Consumer(this, List.of(topic), group, options);
  }

  /** A member of group that the broker assigns partitions of the topics (Kafka's subscribe(List)). */
  public Consumer consumer(List<String> topics, String group, Consumer.Options options) {
    return new Consumer(this, topics, group, options);
  }

  @Override
  public void close() {
    try {
      channel.shutdownNow().awaitTermination(10, TimeUnit.SECONDS);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
