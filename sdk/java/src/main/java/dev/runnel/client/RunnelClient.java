package dev.runnel.client;

import dev.runnel.v1.AdminServiceGrpc;
import dev.runnel.v1.CommitServiceGrpc;
import dev.runnel.v1.CreateTopicRequest;
import dev.runnel.v1.ProduceServiceGrpc;
import dev.runnel.v1.SubscribeServiceGrpc;
import io.grpc.Channel;
import io.grpc.ClientInterceptors;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.shaded.io.grpc.netty.GrpcSslContexts;
import io.grpc.netty.shaded.io.grpc.netty.NettyChannelBuilder;
import io.grpc.netty.shaded.io.netty.handler.ssl.SslContextBuilder;
import io.grpc.stub.MetadataUtils;
import java.io.File;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import javax.net.ssl.SSLException;

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
    this(address, new Options());
  }

  /**
   * A client of the broker at address, reached as options say: plaintext by default; TLS with
   * {@link Options#tls}, a CA to trust ({@link Options#tlsCa}), a client certificate ({@link
   * Options#tlsCert}); a bearer token on every call ({@link Options#token}).
   */
  public RunnelClient(String address, Options options) {
    // Runnel accepts records up to 32 MiB: let responses that large through.
    NettyChannelBuilder b = NettyChannelBuilder.forTarget(address).maxInboundMessageSize(64 << 20);
    if (options.secure()) {
      try {
        SslContextBuilder ssl = GrpcSslContexts.forClient();
        if (options.tlsCa != null) {
          ssl.trustManager(options.tlsCa);
        }
        if (options.tlsCert != null) {
          ssl.keyManager(options.tlsCert, options.tlsKey);
        }
        b.useTransportSecurity().sslContext(ssl.build());
      } catch (SSLException e) {
        throw new IllegalArgumentException("TLS settings: " + e.getMessage(), e);
      }
      if (options.tlsServerName != null) {
        b.overrideAuthority(options.tlsServerName);
      }
    } else {
      b.usePlaintext();
    }
    if (options.token != null) {
      Metadata headers = new Metadata();
      headers.put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer " + options.token);
      b.intercept(MetadataUtils.newAttachHeadersInterceptor(headers));
    }
    channel = b.build();
    Channel calls = ClientInterceptors.intercept(channel, new Redial(channel));
    admin = AdminServiceGrpc.newBlockingStub(calls);
    produce = ProduceServiceGrpc.newStub(calls);
    subscribe = SubscribeServiceGrpc.newBlockingStub(calls);
    commit = CommitServiceGrpc.newBlockingStub(calls);
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
  /**
   * How a client reaches a broker. For a broker serving TLS ({@code runnel serve --tls-cert}): {@link
   * #tls} (trusting the JVM's CAs) or {@link #tlsCa}, a PEM file of the CAs to trust; {@link #tlsCert}
   * and its key, the client certificate a broker with {@code --tls-client-ca} requires; {@link
   * #tlsServerName}, the name the broker's certificate must hold instead of the address's host. {@link
   * #token} authenticates every call with a bearer token (a broker with {@code --token-file}; {@code
   * runnel token create} makes one): over plaintext it crosses the network in the clear.
   */
  public static final class Options {
    private boolean tls;
    private File tlsCa, tlsCert, tlsKey;
    private String tlsServerName, token;

    /** Connect over TLS, trusting the JVM's CAs unless {@link #tlsCa}. */
    public Options tls(boolean tls) {
      this.tls = tls;
      return this;
    }

    /** A PEM file of the CAs to trust for the broker's certificate. */
    public Options tlsCa(File caFile) {
      this.tlsCa = caFile;
      return this;
    }

    /** The client certificate (PEM, a chain) and its PKCS #8 key. */
    public Options tlsCert(File certFile, File keyFile) {
      if ((certFile == null) != (keyFile == null)) {
        throw new IllegalArgumentException("tlsCert takes the client certificate and its key together");
      }
      this.tlsCert = certFile;
      this.tlsKey = keyFile;
      return this;
    }

    /** The name the broker's certificate must hold, instead of the address's host. */
    public Options tlsServerName(String name) {
      this.tlsServerName = name;
      return this;
    }

    /** A bearer token for every call. */
    public Options token(String token) {
      this.token = token;
      return this;
    }

    boolean secure() {
      return tls || tlsCa != null || tlsCert != null || tlsServerName != null;
    }
  }
}
