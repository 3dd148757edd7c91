package dev.runnel.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * SubscribeService reads records from topics.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class SubscribeServiceGrpc {

  private SubscribeServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "runnel.v1.SubscribeService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.SubscribeRequest,
      dev.runnel.v1.SubscribeResponse> getSubscribeMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "Subscribe",
      requestType = dev.runnel.v1.SubscribeRequest.class,
      responseType = dev.runnel.v1.SubscribeResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.SubscribeRequest,
      dev.runnel.v1.SubscribeResponse> getSubscribeMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.SubscribeRequest, dev.runnel.v1.SubscribeResponse> getSubscribeMethod;
    if ((getSubscribeMethod = SubscribeServiceGrpc.getSubscribeMethod) == null) {
      synchronized (SubscribeServiceGrpc.class) {
        if ((getSubscribeMethod = SubscribeServiceGrpc.getSubscribeMethod) == null) {
          SubscribeServiceGrpc.getSubscribeMethod = getSubscribeMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.SubscribeRequest, dev.runnel.v1.SubscribeResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.SERVER_STREAMING)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "Subscribe"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.SubscribeRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.SubscribeResponse.getDefaultInstance()))
              .setSchemaDescriptor(new SubscribeServiceMethodDescriptorSupplier("Subscribe"))
              .build();
        }
      }
    }
    return getSubscribeMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static SubscribeServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<SubscribeServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<SubscribeServiceStub>() {
        @java.lang.Override
        public SubscribeServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new SubscribeServiceStub(channel, callOptions);
        }
      };
    return SubscribeServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static SubscribeServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<SubscribeServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<SubscribeServiceBlockingV2Stub>() {
        @java.lang.Override
        public SubscribeServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new SubscribeServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return SubscribeServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static SubscribeServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<SubscribeServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<SubscribeServiceBlockingStub>() {
        @java.lang.Override
        public SubscribeServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new SubscribeServiceBlockingStub(channel, callOptions);
        }
      };
    return SubscribeServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static SubscribeServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<SubscribeServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<SubscribeServiceFutureStub>() {
        @java.lang.Override
        public SubscribeServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new SubscribeServiceFutureStub(channel, callOptions);
        }
      };
    return SubscribeServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * SubscribeService reads records from topics.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * Subscribe streams batches of records from the chosen partitions, each
     * partition in offset order.
     * </pre>
     */
    default void subscribe(dev.runnel.v1.SubscribeRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.SubscribeResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSubscribeMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service SubscribeService.
   * <pre>
   * SubscribeService reads records from topics.
   * </pre>
   */
  public static abstract class SubscribeServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return SubscribeServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service SubscribeService.
   * <pre>
   * SubscribeService reads records from topics.
   * </pre>
   */
  public static final class SubscribeServiceStub
      extends io.grpc.stub.AbstractAsyncStub<SubscribeServiceStub> {
    private SubscribeServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected SubscribeServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new SubscribeServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * Subscribe streams batches of records from the chosen partitions, each
     * partition in offset order.
     * </pre>
     */
    public void subscribe(dev.runnel.v1.SubscribeRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.SubscribeResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncServerStreamingCall(
          getChannel().newCall(getSubscribeMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service SubscribeService.
   * <pre>
   * SubscribeService reads records from topics.
   * </pre>
   */
  public static final class SubscribeServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<SubscribeServiceBlockingV2Stub> {
    private SubscribeServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected SubscribeServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new SubscribeServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * Subscribe streams batches of records from the chosen partitions, each
     * partition in offset order.
     * </pre>
     */
    @io.grpc.ExperimentalApi("https://github.com/grpc/grpc-java/issues/10918")
    public io.grpc.stub.BlockingClientCall<?, dev.runnel.v1.SubscribeResponse>
        subscribe(dev.runnel.v1.SubscribeRequest request) {
      return io.grpc.stub.ClientCalls.blockingV2ServerStreamingCall(
          getChannel(), getSubscribeMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service SubscribeService.
   * <pre>
   * SubscribeService reads records from topics.
   * </pre>
   */
  public static final class SubscribeServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<SubscribeServiceBlockingStub> {
    private SubscribeServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected SubscribeServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new SubscribeServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * Subscribe streams batches of records from the chosen partitions, each
     * partition in offset order.
     * </pre>
     */
    public java.util.Iterator<dev.runnel.v1.SubscribeResponse> subscribe(
        dev.runnel.v1.SubscribeRequest request) {
      return io.grpc.stub.ClientCalls.blockingServerStreamingCall(
          getChannel(), getSubscribeMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service SubscribeService.
   * <pre>
   * SubscribeService reads records from topics.
   * </pre>
   */
  public static final class SubscribeServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<SubscribeServiceFutureStub> {
    private SubscribeServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected SubscribeServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new SubscribeServiceFutureStub(channel, callOptions);
    }
  }

  private static final int METHODID_SUBSCRIBE = 0;

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
        case METHODID_SUBSCRIBE:
          serviceImpl.subscribe((dev.runnel.v1.SubscribeRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.SubscribeResponse>) responseObserver);
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
          getSubscribeMethod(),
          io.grpc.stub.ServerCalls.asyncServerStreamingCall(
            new MethodHandlers<
              dev.runnel.v1.SubscribeRequest,
              dev.runnel.v1.SubscribeResponse>(
                service, METHODID_SUBSCRIBE)))
        .build();
  }

  private static abstract class SubscribeServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    SubscribeServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.runnel.v1.Subscribe.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("SubscribeService");
    }
  }

  private static final class SubscribeServiceFileDescriptorSupplier
      extends SubscribeServiceBaseDescriptorSupplier {
    SubscribeServiceFileDescriptorSupplier() {}
  }

  private static final class SubscribeServiceMethodDescriptorSupplier
      extends SubscribeServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    SubscribeServiceMethodDescriptorSupplier(java.lang.String methodName) {
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
      synchronized (SubscribeServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new SubscribeServiceFileDescriptorSupplier())
              .addMethod(getSubscribeMethod())
              .build();
        }
      }
    }
    return result;
  }
}
