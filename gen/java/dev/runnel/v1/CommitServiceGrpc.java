package dev.runnel.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * CommitService stores consumer groups' positions, as Kafka's offset commits.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class CommitServiceGrpc {

  private CommitServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "runnel.v1.CommitService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.CommitRequest,
      dev.runnel.v1.CommitResponse> getCommitMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Commit",
      requestType = dev.runnel.v1.CommitRequest.class,
      responseType = dev.runnel.v1.CommitResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.CommitRequest,
      dev.runnel.v1.CommitResponse> getCommitMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.CommitRequest, dev.runnel.v1.CommitResponse> getCommitMethod;
    if ((getCommitMethod = CommitServiceGrpc.getCommitMethod) == null) {
      synchronized (CommitServiceGrpc.class) {
        if ((getCommitMethod = CommitServiceGrpc.getCommitMethod) == null) {
          CommitServiceGrpc.getCommitMethod = getCommitMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.CommitRequest, dev.runnel.v1.CommitResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Commit"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.CommitRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.CommitResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CommitServiceMethodDescriptorSupplier("Commit"))
              .build();
        }
      }
    }
    return getCommitMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.FetchCommittedRequest,
      dev.runnel.v1.FetchCommittedResponse> getFetchCommittedMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "FetchCommitted",
      requestType = dev.runnel.v1.FetchCommittedRequest.class,
      responseType = dev.runnel.v1.FetchCommittedResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.FetchCommittedRequest,
      dev.runnel.v1.FetchCommittedResponse> getFetchCommittedMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.FetchCommittedRequest, dev.runnel.v1.FetchCommittedResponse> getFetchCommittedMethod;
    if ((getFetchCommittedMethod = CommitServiceGrpc.getFetchCommittedMethod) == null) {
      synchronized (CommitServiceGrpc.class) {
        if ((getFetchCommittedMethod = CommitServiceGrpc.getFetchCommittedMethod) == null) {
          CommitServiceGrpc.getFetchCommittedMethod = getFetchCommittedMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.FetchCommittedRequest, dev.runnel.v1.FetchCommittedResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "FetchCommitted"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.FetchCommittedRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.FetchCommittedResponse.getDefaultInstance()))
              .setSchemaDescriptor(new CommitServiceMethodDescriptorSupplier("FetchCommitted"))
              .build();
        }
      }
    }
    return getFetchCommittedMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static CommitServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<CommitServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<CommitServiceStub>() {
        @java.lang.Override
        public CommitServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new CommitServiceStub(channel, callOptions);
        }
      };
    return CommitServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static CommitServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<CommitServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<CommitServiceBlockingV2Stub>() {
        @java.lang.Override
        public CommitServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new CommitServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return CommitServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static CommitServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<CommitServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<CommitServiceBlockingStub>() {
        @java.lang.Override
        public CommitServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new CommitServiceBlockingStub(channel, callOptions);
        }
      };
    return CommitServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static CommitServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<CommitServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<CommitServiceFutureStub>() {
        @java.lang.Override
        public CommitServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new CommitServiceFutureStub(channel, callOptions);
        }
      };
    return CommitServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * CommitService stores consumer groups' positions, as Kafka's offset commits.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Commit stores the group's next offset to read for some partitions of a
     * topic. It returns once the commit is durable.
     * </pre>
     */
    default void commit(dev.runnel.v1.CommitRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.CommitResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCommitMethod(), responseObserver);
    }

    /**
     * <pre>
     * FetchCommitted returns the group's committed offsets for a topic.
     * </pre>
     */
    default void fetchCommitted(dev.runnel.v1.FetchCommittedRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.FetchCommittedResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getFetchCommittedMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service CommitService.
   * <pre>
   * CommitService stores consumer groups' positions, as Kafka's offset commits.
   * </pre>
   */
  public static abstract class CommitServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return CommitServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service CommitService.
   * <pre>
   * CommitService stores consumer groups' positions, as Kafka's offset commits.
   * </pre>
   */
  public static final class CommitServiceStub
      extends io.grpc.stub.AbstractAsyncStub<CommitServiceStub> {
    private CommitServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected CommitServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new CommitServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Commit stores the group's next offset to read for some partitions of a
     * topic. It returns once the commit is durable.
     * </pre>
     */
    public void commit(dev.runnel.v1.CommitRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.CommitResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCommitMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * FetchCommitted returns the group's committed offsets for a topic.
     * </pre>
     */
    public void fetchCommitted(dev.runnel.v1.FetchCommittedRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.FetchCommittedResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getFetchCommittedMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service CommitService.
   * <pre>
   * CommitService stores consumer groups' positions, as Kafka's offset commits.
   * </pre>
   */
  public static final class CommitServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<CommitServiceBlockingV2Stub> {
    private CommitServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected CommitServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new CommitServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Commit stores the group's next offset to read for some partitions of a
     * topic. It returns once the commit is durable.
     * </pre>
     */
    public dev.runnel.v1.CommitResponse commit(dev.runnel.v1.CommitRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCommitMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * FetchCommitted returns the group's committed offsets for a topic.
     * </pre>
     */
    public dev.runnel.v1.FetchCommittedResponse fetchCommitted(dev.runnel.v1.FetchCommittedRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getFetchCommittedMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service CommitService.
   * <pre>
   * CommitService stores consumer groups' positions, as Kafka's offset commits.
   * </pre>
   */
  public static final class CommitServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<CommitServiceBlockingStub> {
    private CommitServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected CommitServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new CommitServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Commit stores the group's next offset to read for some partitions of a
     * topic. It returns once the commit is durable.
     * </pre>
     */
    public dev.runnel.v1.CommitResponse commit(dev.runnel.v1.CommitRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCommitMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * FetchCommitted returns the group's committed offsets for a topic.
     * </pre>
     */
    public dev.runnel.v1.FetchCommittedResponse fetchCommitted(dev.runnel.v1.FetchCommittedRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getFetchCommittedMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service CommitService.
   * <pre>
   * CommitService stores consumer groups' positions, as Kafka's offset commits.
   * </pre>
   */
  public static final class CommitServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<CommitServiceFutureStub> {
    private CommitServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected CommitServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new CommitServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * Commit stores the group's next offset to read for some partitions of a
     * topic. It returns once the commit is durable.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.CommitResponse> commit(
        dev.runnel.v1.CommitRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCommitMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * FetchCommitted returns the group's committed offsets for a topic.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.FetchCommittedResponse> fetchCommitted(
        dev.runnel.v1.FetchCommittedRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getFetchCommittedMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_COMMIT = 0;
  private static final int METHODID_FETCH_COMMITTED = 1;

  private static final class MethodHandlers<Req, Resp> implements
      io.grpc.stub.ServerCalls.UnaryMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ServerStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.ClientStreamingMethod<Req, Resp>,
      io.grpc.stub.ServerCalls.BidiStreamingMethod<Req, Resp> {
    private final AsyncService serviceImpl;
    private final int methodId;

    MethodHandlers(AsyncService serviceImpl, int methodId) {
      this.serviceImpl = serviceImpl;
      this.methodId = methodId;
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public void invoke(Req request, io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        case METHODID_COMMIT:
          serviceImpl.commit((dev.runnel.v1.CommitRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.CommitResponse>) responseObserver);
          break;
        case METHODID_FETCH_COMMITTED:
          serviceImpl.fetchCommitted((dev.runnel.v1.FetchCommittedRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.FetchCommittedResponse>) responseObserver);
          break;
        default:
          throw new AssertionError();
      }
    }

    @java.lang.Override
    @java.lang.SuppressWarnings("unchecked")
    public io.grpc.stub.StreamObserver<Req> invoke(
        io.grpc.stub.StreamObserver<Resp> responseObserver) {
      switch (methodId) {
        default:
          throw new AssertionError();
      }
    }
  }

  public static final io.grpc.ServerServiceDefinition bindService(AsyncService service) {
    return io.grpc.ServerServiceDefinition.builder(getServiceDescriptor())
        .addMethod(
          getCommitMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.CommitRequest,
              dev.runnel.v1.CommitResponse>(
                service, METHODID_COMMIT)))
        .addMethod(
          getFetchCommittedMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.FetchCommittedRequest,
              dev.runnel.v1.FetchCommittedResponse>(
                service, METHODID_FETCH_COMMITTED)))
        .build();
  }

  private static abstract class CommitServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    CommitServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.runnel.v1.Commit.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("CommitService");
    }
  }

  private static final class CommitServiceFileDescriptorSupplier
      extends CommitServiceBaseDescriptorSupplier {
    CommitServiceFileDescriptorSupplier() {}
  }

  private static final class CommitServiceMethodDescriptorSupplier
      extends CommitServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    CommitServiceMethodDescriptorSupplier(java.lang.String methodName) {
      this.methodName = methodName;
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.MethodDescriptor getMethodDescriptor() {
      return getServiceDescriptor().findMethodByName(methodName);
    }
  }

  private static volatile io.grpc.ServiceDescriptor serviceDescriptor;

  public static io.grpc.ServiceDescriptor getServiceDescriptor() {
    io.grpc.ServiceDescriptor result = serviceDescriptor;
    if (result == null) {
      synchronized (CommitServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new CommitServiceFileDescriptorSupplier())
              .addMethod(getCommitMethod())
              .addMethod(getFetchCommittedMethod())
              .build();
        }
      }
    }
    return result;
  }
}
