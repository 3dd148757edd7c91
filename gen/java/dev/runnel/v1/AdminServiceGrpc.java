package dev.runnel.v1;

import static io.grpc.MethodDescriptor.generateFullMethodName;

/**
 * <pre>
 * AdminService manages topics and describes the cluster.
 * </pre>
 */
@io.grpc.stub.annotations.GrpcGenerated
public final class AdminServiceGrpc {

  private AdminServiceGrpc() {}

  public static final java.lang.String SERVICE_NAME = "runnel.v1.AdminService";

  // Static method descriptors that strictly reflect the proto.
  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.CreateTopicRequest,
      dev.runnel.v1.CreateTopicResponse> getCreateTopicMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CreateTopic",
      requestType = dev.runnel.v1.CreateTopicRequest.class,
      responseType = dev.runnel.v1.CreateTopicResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.CreateTopicRequest,
      dev.runnel.v1.CreateTopicResponse> getCreateTopicMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.CreateTopicRequest, dev.runnel.v1.CreateTopicResponse> getCreateTopicMethod;
    if ((getCreateTopicMethod = AdminServiceGrpc.getCreateTopicMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getCreateTopicMethod = AdminServiceGrpc.getCreateTopicMethod) == null) {
          AdminServiceGrpc.getCreateTopicMethod = getCreateTopicMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.CreateTopicRequest, dev.runnel.v1.CreateTopicResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CreateTopic"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.CreateTopicRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.CreateTopicResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("CreateTopic"))
              .build();
        }
      }
    }
    return getCreateTopicMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.DeleteTopicRequest,
      dev.runnel.v1.DeleteTopicResponse> getDeleteTopicMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteTopic",
      requestType = dev.runnel.v1.DeleteTopicRequest.class,
      responseType = dev.runnel.v1.DeleteTopicResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.DeleteTopicRequest,
      dev.runnel.v1.DeleteTopicResponse> getDeleteTopicMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.DeleteTopicRequest, dev.runnel.v1.DeleteTopicResponse> getDeleteTopicMethod;
    if ((getDeleteTopicMethod = AdminServiceGrpc.getDeleteTopicMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getDeleteTopicMethod = AdminServiceGrpc.getDeleteTopicMethod) == null) {
          AdminServiceGrpc.getDeleteTopicMethod = getDeleteTopicMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.DeleteTopicRequest, dev.runnel.v1.DeleteTopicResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteTopic"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DeleteTopicRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DeleteTopicResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("DeleteTopic"))
              .build();
        }
      }
    }
    return getDeleteTopicMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.ListTopicsRequest,
      dev.runnel.v1.ListTopicsResponse> getListTopicsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListTopics",
      requestType = dev.runnel.v1.ListTopicsRequest.class,
      responseType = dev.runnel.v1.ListTopicsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.ListTopicsRequest,
      dev.runnel.v1.ListTopicsResponse> getListTopicsMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.ListTopicsRequest, dev.runnel.v1.ListTopicsResponse> getListTopicsMethod;
    if ((getListTopicsMethod = AdminServiceGrpc.getListTopicsMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getListTopicsMethod = AdminServiceGrpc.getListTopicsMethod) == null) {
          AdminServiceGrpc.getListTopicsMethod = getListTopicsMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.ListTopicsRequest, dev.runnel.v1.ListTopicsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListTopics"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ListTopicsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ListTopicsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ListTopics"))
              .build();
        }
      }
    }
    return getListTopicsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.DescribeTopicRequest,
      dev.runnel.v1.DescribeTopicResponse> getDescribeTopicMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DescribeTopic",
      requestType = dev.runnel.v1.DescribeTopicRequest.class,
      responseType = dev.runnel.v1.DescribeTopicResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.DescribeTopicRequest,
      dev.runnel.v1.DescribeTopicResponse> getDescribeTopicMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.DescribeTopicRequest, dev.runnel.v1.DescribeTopicResponse> getDescribeTopicMethod;
    if ((getDescribeTopicMethod = AdminServiceGrpc.getDescribeTopicMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getDescribeTopicMethod = AdminServiceGrpc.getDescribeTopicMethod) == null) {
          AdminServiceGrpc.getDescribeTopicMethod = getDescribeTopicMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.DescribeTopicRequest, dev.runnel.v1.DescribeTopicResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DescribeTopic"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DescribeTopicRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DescribeTopicResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("DescribeTopic"))
              .build();
        }
      }
    }
    return getDescribeTopicMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.DescribeClusterRequest,
      dev.runnel.v1.DescribeClusterResponse> getDescribeClusterMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DescribeCluster",
      requestType = dev.runnel.v1.DescribeClusterRequest.class,
      responseType = dev.runnel.v1.DescribeClusterResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.DescribeClusterRequest,
      dev.runnel.v1.DescribeClusterResponse> getDescribeClusterMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.DescribeClusterRequest, dev.runnel.v1.DescribeClusterResponse> getDescribeClusterMethod;
    if ((getDescribeClusterMethod = AdminServiceGrpc.getDescribeClusterMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getDescribeClusterMethod = AdminServiceGrpc.getDescribeClusterMethod) == null) {
          AdminServiceGrpc.getDescribeClusterMethod = getDescribeClusterMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.DescribeClusterRequest, dev.runnel.v1.DescribeClusterResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DescribeCluster"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DescribeClusterRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DescribeClusterResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("DescribeCluster"))
              .build();
        }
      }
    }
    return getDescribeClusterMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.ReassignPartitionRequest,
      dev.runnel.v1.ReassignPartitionResponse> getReassignPartitionMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ReassignPartition",
      requestType = dev.runnel.v1.ReassignPartitionRequest.class,
      responseType = dev.runnel.v1.ReassignPartitionResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.ReassignPartitionRequest,
      dev.runnel.v1.ReassignPartitionResponse> getReassignPartitionMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.ReassignPartitionRequest, dev.runnel.v1.ReassignPartitionResponse> getReassignPartitionMethod;
    if ((getReassignPartitionMethod = AdminServiceGrpc.getReassignPartitionMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getReassignPartitionMethod = AdminServiceGrpc.getReassignPartitionMethod) == null) {
          AdminServiceGrpc.getReassignPartitionMethod = getReassignPartitionMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.ReassignPartitionRequest, dev.runnel.v1.ReassignPartitionResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ReassignPartition"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ReassignPartitionRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ReassignPartitionResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ReassignPartition"))
              .build();
        }
      }
    }
    return getReassignPartitionMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.RemoveBrokerRequest,
      dev.runnel.v1.RemoveBrokerResponse> getRemoveBrokerMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "RemoveBroker",
      requestType = dev.runnel.v1.RemoveBrokerRequest.class,
      responseType = dev.runnel.v1.RemoveBrokerResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.RemoveBrokerRequest,
      dev.runnel.v1.RemoveBrokerResponse> getRemoveBrokerMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.RemoveBrokerRequest, dev.runnel.v1.RemoveBrokerResponse> getRemoveBrokerMethod;
    if ((getRemoveBrokerMethod = AdminServiceGrpc.getRemoveBrokerMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getRemoveBrokerMethod = AdminServiceGrpc.getRemoveBrokerMethod) == null) {
          AdminServiceGrpc.getRemoveBrokerMethod = getRemoveBrokerMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.RemoveBrokerRequest, dev.runnel.v1.RemoveBrokerResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "RemoveBroker"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.RemoveBrokerRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.RemoveBrokerResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("RemoveBroker"))
              .build();
        }
      }
    }
    return getRemoveBrokerMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.ListGroupsRequest,
      dev.runnel.v1.ListGroupsResponse> getListGroupsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListGroups",
      requestType = dev.runnel.v1.ListGroupsRequest.class,
      responseType = dev.runnel.v1.ListGroupsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.ListGroupsRequest,
      dev.runnel.v1.ListGroupsResponse> getListGroupsMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.ListGroupsRequest, dev.runnel.v1.ListGroupsResponse> getListGroupsMethod;
    if ((getListGroupsMethod = AdminServiceGrpc.getListGroupsMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getListGroupsMethod = AdminServiceGrpc.getListGroupsMethod) == null) {
          AdminServiceGrpc.getListGroupsMethod = getListGroupsMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.ListGroupsRequest, dev.runnel.v1.ListGroupsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListGroups"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ListGroupsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ListGroupsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ListGroups"))
              .build();
        }
      }
    }
    return getListGroupsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.DescribeGroupRequest,
      dev.runnel.v1.DescribeGroupResponse> getDescribeGroupMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DescribeGroup",
      requestType = dev.runnel.v1.DescribeGroupRequest.class,
      responseType = dev.runnel.v1.DescribeGroupResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.DescribeGroupRequest,
      dev.runnel.v1.DescribeGroupResponse> getDescribeGroupMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.DescribeGroupRequest, dev.runnel.v1.DescribeGroupResponse> getDescribeGroupMethod;
    if ((getDescribeGroupMethod = AdminServiceGrpc.getDescribeGroupMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getDescribeGroupMethod = AdminServiceGrpc.getDescribeGroupMethod) == null) {
          AdminServiceGrpc.getDescribeGroupMethod = getDescribeGroupMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.DescribeGroupRequest, dev.runnel.v1.DescribeGroupResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DescribeGroup"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DescribeGroupRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DescribeGroupResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("DescribeGroup"))
              .build();
        }
      }
    }
    return getDescribeGroupMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.DeleteGroupRequest,
      dev.runnel.v1.DeleteGroupResponse> getDeleteGroupMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteGroup",
      requestType = dev.runnel.v1.DeleteGroupRequest.class,
      responseType = dev.runnel.v1.DeleteGroupResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.DeleteGroupRequest,
      dev.runnel.v1.DeleteGroupResponse> getDeleteGroupMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.DeleteGroupRequest, dev.runnel.v1.DeleteGroupResponse> getDeleteGroupMethod;
    if ((getDeleteGroupMethod = AdminServiceGrpc.getDeleteGroupMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getDeleteGroupMethod = AdminServiceGrpc.getDeleteGroupMethod) == null) {
          AdminServiceGrpc.getDeleteGroupMethod = getDeleteGroupMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.DeleteGroupRequest, dev.runnel.v1.DeleteGroupResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteGroup"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DeleteGroupRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DeleteGroupResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("DeleteGroup"))
              .build();
        }
      }
    }
    return getDeleteGroupMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.ResetOffsetsRequest,
      dev.runnel.v1.ResetOffsetsResponse> getResetOffsetsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ResetOffsets",
      requestType = dev.runnel.v1.ResetOffsetsRequest.class,
      responseType = dev.runnel.v1.ResetOffsetsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.ResetOffsetsRequest,
      dev.runnel.v1.ResetOffsetsResponse> getResetOffsetsMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.ResetOffsetsRequest, dev.runnel.v1.ResetOffsetsResponse> getResetOffsetsMethod;
    if ((getResetOffsetsMethod = AdminServiceGrpc.getResetOffsetsMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getResetOffsetsMethod = AdminServiceGrpc.getResetOffsetsMethod) == null) {
          AdminServiceGrpc.getResetOffsetsMethod = getResetOffsetsMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.ResetOffsetsRequest, dev.runnel.v1.ResetOffsetsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ResetOffsets"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ResetOffsetsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ResetOffsetsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ResetOffsets"))
              .build();
        }
      }
    }
    return getResetOffsetsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.CreateAclsRequest,
      dev.runnel.v1.CreateAclsResponse> getCreateAclsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "CreateAcls",
      requestType = dev.runnel.v1.CreateAclsRequest.class,
      responseType = dev.runnel.v1.CreateAclsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.CreateAclsRequest,
      dev.runnel.v1.CreateAclsResponse> getCreateAclsMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.CreateAclsRequest, dev.runnel.v1.CreateAclsResponse> getCreateAclsMethod;
    if ((getCreateAclsMethod = AdminServiceGrpc.getCreateAclsMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getCreateAclsMethod = AdminServiceGrpc.getCreateAclsMethod) == null) {
          AdminServiceGrpc.getCreateAclsMethod = getCreateAclsMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.CreateAclsRequest, dev.runnel.v1.CreateAclsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "CreateAcls"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.CreateAclsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.CreateAclsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("CreateAcls"))
              .build();
        }
      }
    }
    return getCreateAclsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.ListAclsRequest,
      dev.runnel.v1.ListAclsResponse> getListAclsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListAcls",
      requestType = dev.runnel.v1.ListAclsRequest.class,
      responseType = dev.runnel.v1.ListAclsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.ListAclsRequest,
      dev.runnel.v1.ListAclsResponse> getListAclsMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.ListAclsRequest, dev.runnel.v1.ListAclsResponse> getListAclsMethod;
    if ((getListAclsMethod = AdminServiceGrpc.getListAclsMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getListAclsMethod = AdminServiceGrpc.getListAclsMethod) == null) {
          AdminServiceGrpc.getListAclsMethod = getListAclsMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.ListAclsRequest, dev.runnel.v1.ListAclsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListAcls"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ListAclsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ListAclsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ListAcls"))
              .build();
        }
      }
    }
    return getListAclsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.DeleteAclsRequest,
      dev.runnel.v1.DeleteAclsResponse> getDeleteAclsMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteAcls",
      requestType = dev.runnel.v1.DeleteAclsRequest.class,
      responseType = dev.runnel.v1.DeleteAclsResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.DeleteAclsRequest,
      dev.runnel.v1.DeleteAclsResponse> getDeleteAclsMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.DeleteAclsRequest, dev.runnel.v1.DeleteAclsResponse> getDeleteAclsMethod;
    if ((getDeleteAclsMethod = AdminServiceGrpc.getDeleteAclsMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getDeleteAclsMethod = AdminServiceGrpc.getDeleteAclsMethod) == null) {
          AdminServiceGrpc.getDeleteAclsMethod = getDeleteAclsMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.DeleteAclsRequest, dev.runnel.v1.DeleteAclsResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteAcls"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DeleteAclsRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DeleteAclsResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("DeleteAcls"))
              .build();
        }
      }
    }
    return getDeleteAclsMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.SetQuotaRequest,
      dev.runnel.v1.SetQuotaResponse> getSetQuotaMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "SetQuota",
      requestType = dev.runnel.v1.SetQuotaRequest.class,
      responseType = dev.runnel.v1.SetQuotaResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.SetQuotaRequest,
      dev.runnel.v1.SetQuotaResponse> getSetQuotaMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.SetQuotaRequest, dev.runnel.v1.SetQuotaResponse> getSetQuotaMethod;
    if ((getSetQuotaMethod = AdminServiceGrpc.getSetQuotaMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getSetQuotaMethod = AdminServiceGrpc.getSetQuotaMethod) == null) {
          AdminServiceGrpc.getSetQuotaMethod = getSetQuotaMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.SetQuotaRequest, dev.runnel.v1.SetQuotaResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "SetQuota"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.SetQuotaRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.SetQuotaResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("SetQuota"))
              .build();
        }
      }
    }
    return getSetQuotaMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.ListQuotasRequest,
      dev.runnel.v1.ListQuotasResponse> getListQuotasMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "ListQuotas",
      requestType = dev.runnel.v1.ListQuotasRequest.class,
      responseType = dev.runnel.v1.ListQuotasResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.ListQuotasRequest,
      dev.runnel.v1.ListQuotasResponse> getListQuotasMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.ListQuotasRequest, dev.runnel.v1.ListQuotasResponse> getListQuotasMethod;
    if ((getListQuotasMethod = AdminServiceGrpc.getListQuotasMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getListQuotasMethod = AdminServiceGrpc.getListQuotasMethod) == null) {
          AdminServiceGrpc.getListQuotasMethod = getListQuotasMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.ListQuotasRequest, dev.runnel.v1.ListQuotasResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "ListQuotas"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ListQuotasRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.ListQuotasResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("ListQuotas"))
              .build();
        }
      }
    }
    return getListQuotasMethod;
  }

  private static volatile io.grpc.MethodDescriptor<dev.runnel.v1.DeleteQuotaRequest,
      dev.runnel.v1.DeleteQuotaResponse> getDeleteQuotaMethod;

  @io.grpc.stub.annotations.RpcMethod(
      fullMethodName = SERVICE_NAME + '/' + "DeleteQuota",
      requestType = dev.runnel.v1.DeleteQuotaRequest.class,
      responseType = dev.runnel.v1.DeleteQuotaResponse.class,
      methodType = io.grpc.MethodDescriptor.MethodType.UNARY)
  public static io.grpc.MethodDescriptor<dev.runnel.v1.DeleteQuotaRequest,
      dev.runnel.v1.DeleteQuotaResponse> getDeleteQuotaMethod() {
    io.grpc.MethodDescriptor<dev.runnel.v1.DeleteQuotaRequest, dev.runnel.v1.DeleteQuotaResponse> getDeleteQuotaMethod;
    if ((getDeleteQuotaMethod = AdminServiceGrpc.getDeleteQuotaMethod) == null) {
      synchronized (AdminServiceGrpc.class) {
        if ((getDeleteQuotaMethod = AdminServiceGrpc.getDeleteQuotaMethod) == null) {
          AdminServiceGrpc.getDeleteQuotaMethod = getDeleteQuotaMethod =
              io.grpc.MethodDescriptor.<dev.runnel.v1.DeleteQuotaRequest, dev.runnel.v1.DeleteQuotaResponse>newBuilder()
              .setType(io.grpc.MethodDescriptor.MethodType.UNARY)
              .setFullMethodName(generateFullMethodName(SERVICE_NAME, "DeleteQuota"))
              .setSampledToLocalTracing(true)
              .setRequestMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DeleteQuotaRequest.getDefaultInstance()))
              .setResponseMarshaller(io.grpc.protobuf.ProtoUtils.marshaller(
                  dev.runnel.v1.DeleteQuotaResponse.getDefaultInstance()))
              .setSchemaDescriptor(new AdminServiceMethodDescriptorSupplier("DeleteQuota"))
              .build();
        }
      }
    }
    return getDeleteQuotaMethod;
  }

  /**
   * Creates a new async stub that supports all call types for the service
   */
  public static AdminServiceStub newStub(io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceStub>() {
        @java.lang.Override
        public AdminServiceStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceStub(channel, callOptions);
        }
      };
    return AdminServiceStub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports all types of calls on the service
   */
  public static AdminServiceBlockingV2Stub newBlockingV2Stub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingV2Stub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingV2Stub>() {
        @java.lang.Override
        public AdminServiceBlockingV2Stub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceBlockingV2Stub(channel, callOptions);
        }
      };
    return AdminServiceBlockingV2Stub.newStub(factory, channel);
  }

  /**
   * Creates a new blocking-style stub that supports unary and streaming output calls on the service
   */
  public static AdminServiceBlockingStub newBlockingStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceBlockingStub>() {
        @java.lang.Override
        public AdminServiceBlockingStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceBlockingStub(channel, callOptions);
        }
      };
    return AdminServiceBlockingStub.newStub(factory, channel);
  }

  /**
   * Creates a new ListenableFuture-style stub that supports unary calls on the service
   */
  public static AdminServiceFutureStub newFutureStub(
      io.grpc.Channel channel) {
    io.grpc.stub.AbstractStub.StubFactory<AdminServiceFutureStub> factory =
      new io.grpc.stub.AbstractStub.StubFactory<AdminServiceFutureStub>() {
        @java.lang.Override
        public AdminServiceFutureStub newStub(io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
          return new AdminServiceFutureStub(channel, callOptions);
        }
      };
    return AdminServiceFutureStub.newStub(factory, channel);
  }

  /**
   * <pre>
   * AdminService manages topics and describes the cluster.
   * </pre>
   */
  public interface AsyncService {

    /**
     * <pre>
     * CreateTopic creates a topic with its partitions.
     * </pre>
     */
    default void createTopic(dev.runnel.v1.CreateTopicRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.CreateTopicResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCreateTopicMethod(), responseObserver);
    }

    /**
     * <pre>
     * DeleteTopic deletes a topic and all its records.
     * </pre>
     */
    default void deleteTopic(dev.runnel.v1.DeleteTopicRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteTopicResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteTopicMethod(), responseObserver);
    }

    /**
     * <pre>
     * ListTopics lists the topics, internal ones excluded.
     * </pre>
     */
    default void listTopics(dev.runnel.v1.ListTopicsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ListTopicsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListTopicsMethod(), responseObserver);
    }

    /**
     * <pre>
     * DescribeTopic describes a topic and each of its partitions.
     * </pre>
     */
    default void describeTopic(dev.runnel.v1.DescribeTopicRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DescribeTopicResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDescribeTopicMethod(), responseObserver);
    }

    /**
     * <pre>
     * DescribeCluster lists the brokers.
     * </pre>
     */
    default void describeCluster(dev.runnel.v1.DescribeClusterRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DescribeClusterResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDescribeClusterMethod(), responseObserver);
    }

    /**
     * <pre>
     * ReassignPartition moves a partition's replicas to other brokers while
     * it keeps serving: the new replicas copy the log as learners, then one
     * raft configuration change swaps them in. It returns once the move has
     * started; DescribeTopic shows it going (adding and removing replicas)
     * and done (replicas as asked).
     * </pre>
     */
    default void reassignPartition(dev.runnel.v1.ReassignPartitionRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ReassignPartitionResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getReassignPartitionMethod(), responseObserver);
    }

    /**
     * <pre>
     * RemoveBroker decommissions a broker, as Redpanda's decommission does:
     * it is marked decommissioning (DescribeCluster shows it), so that no new
     * replica lands on it; each partition replica it holds moves to another
     * broker (see ReassignPartition); it leaves the groups every broker
     * replicates (metadata, consumer offsets); then it leaves the cluster,
     * and DescribeCluster no longer lists it. It returns once the broker is
     * marked; the rest goes on in the background. Its node id cannot join
     * again. NOT_FOUND for a node id not in the cluster; FAILED_PRECONDITION
     * when removing it would leave a partition under its replication factor
     * with no other broker to move a replica to, for the last broker, and
     * for one of the initial brokers (the voters of the metadata group).
     * Asking again for a broker being removed changes nothing.
     * </pre>
     */
    default void removeBroker(dev.runnel.v1.RemoveBrokerRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.RemoveBrokerResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getRemoveBrokerMethod(), responseObserver);
    }

    /**
     * <pre>
     * ListGroups lists the consumer groups: every group with committed
     * offsets or members.
     * </pre>
     */
    default void listGroups(dev.runnel.v1.ListGroupsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ListGroupsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListGroupsMethod(), responseObserver);
    }

    /**
     * <pre>
     * DescribeGroup describes a consumer group as its coordinator sees it:
     * its members and their assignments, and for each partition the group
     * has read, the committed offset, the high watermark and the lag.
     * </pre>
     */
    default void describeGroup(dev.runnel.v1.DescribeGroupRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DescribeGroupResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDescribeGroupMethod(), responseObserver);
    }

    /**
     * <pre>
     * DeleteGroup deletes a group's committed offsets; only a group without
     * members (FAILED_PRECONDITION otherwise).
     * </pre>
     */
    default void deleteGroup(dev.runnel.v1.DeleteGroupRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteGroupResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteGroupMethod(), responseObserver);
    }

    /**
     * <pre>
     * ResetOffsets moves a group's committed offsets in a topic; only a group
     * without members (FAILED_PRECONDITION otherwise). With dry_run it only
     * shows what it would commit.
     * </pre>
     */
    default void resetOffsets(dev.runnel.v1.ResetOffsetsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ResetOffsetsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getResetOffsetsMethod(), responseObserver);
    }

    /**
     * <pre>
     * CreateAcls adds ACLs (see Acl); ALTER on the cluster.
     * </pre>
     */
    default void createAcls(dev.runnel.v1.CreateAclsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.CreateAclsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getCreateAclsMethod(), responseObserver);
    }

    /**
     * <pre>
     * ListAcls lists ACLs; DESCRIBE on the cluster.
     * </pre>
     */
    default void listAcls(dev.runnel.v1.ListAclsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ListAclsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListAclsMethod(), responseObserver);
    }

    /**
     * <pre>
     * DeleteAcls deletes the ACLs filters select; ALTER on the cluster.
     * </pre>
     */
    default void deleteAcls(dev.runnel.v1.DeleteAclsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteAclsResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteAclsMethod(), responseObserver);
    }

    /**
     * <pre>
     * SetQuota sets a principal's quota, or the default (see Quota); ALTER
     * on the cluster.
     * </pre>
     */
    default void setQuota(dev.runnel.v1.SetQuotaRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.SetQuotaResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getSetQuotaMethod(), responseObserver);
    }

    /**
     * <pre>
     * ListQuotas lists the quotas; DESCRIBE on the cluster.
     * </pre>
     */
    default void listQuotas(dev.runnel.v1.ListQuotasRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ListQuotasResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getListQuotasMethod(), responseObserver);
    }

    /**
     * <pre>
     * DeleteQuota deletes a principal's quota, or the default; ALTER on the
     * cluster.
     * </pre>
     */
    default void deleteQuota(dev.runnel.v1.DeleteQuotaRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteQuotaResponse> responseObserver) {
      io.grpc.stub.ServerCalls.asyncUnimplementedUnaryCall(getDeleteQuotaMethod(), responseObserver);
    }
  }

  /**
   * Base class for the server implementation of the service AdminService.
   * <pre>
   * AdminService manages topics and describes the cluster.
   * </pre>
   */
  public static abstract class AdminServiceImplBase
      implements io.grpc.BindableService, AsyncService {

    @java.lang.Override public final io.grpc.ServerServiceDefinition bindService() {
      return AdminServiceGrpc.bindService(this);
    }
  }

  /**
   * A stub to allow clients to do asynchronous rpc calls to service AdminService.
   * <pre>
   * AdminService manages topics and describes the cluster.
   * </pre>
   */
  public static final class AdminServiceStub
      extends io.grpc.stub.AbstractAsyncStub<AdminServiceStub> {
    private AdminServiceStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceStub(channel, callOptions);
    }

    /**
     * <pre>
     * CreateTopic creates a topic with its partitions.
     * </pre>
     */
    public void createTopic(dev.runnel.v1.CreateTopicRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.CreateTopicResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCreateTopicMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * DeleteTopic deletes a topic and all its records.
     * </pre>
     */
    public void deleteTopic(dev.runnel.v1.DeleteTopicRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteTopicResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteTopicMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ListTopics lists the topics, internal ones excluded.
     * </pre>
     */
    public void listTopics(dev.runnel.v1.ListTopicsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ListTopicsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListTopicsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * DescribeTopic describes a topic and each of its partitions.
     * </pre>
     */
    public void describeTopic(dev.runnel.v1.DescribeTopicRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DescribeTopicResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDescribeTopicMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * DescribeCluster lists the brokers.
     * </pre>
     */
    public void describeCluster(dev.runnel.v1.DescribeClusterRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DescribeClusterResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDescribeClusterMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ReassignPartition moves a partition's replicas to other brokers while
     * it keeps serving: the new replicas copy the log as learners, then one
     * raft configuration change swaps them in. It returns once the move has
     * started; DescribeTopic shows it going (adding and removing replicas)
     * and done (replicas as asked).
     * </pre>
     */
    public void reassignPartition(dev.runnel.v1.ReassignPartitionRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ReassignPartitionResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getReassignPartitionMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * RemoveBroker decommissions a broker, as Redpanda's decommission does:
     * it is marked decommissioning (DescribeCluster shows it), so that no new
     * replica lands on it; each partition replica it holds moves to another
     * broker (see ReassignPartition); it leaves the groups every broker
     * replicates (metadata, consumer offsets); then it leaves the cluster,
     * and DescribeCluster no longer lists it. It returns once the broker is
     * marked; the rest goes on in the background. Its node id cannot join
     * again. NOT_FOUND for a node id not in the cluster; FAILED_PRECONDITION
     * when removing it would leave a partition under its replication factor
     * with no other broker to move a replica to, for the last broker, and
     * for one of the initial brokers (the voters of the metadata group).
     * Asking again for a broker being removed changes nothing.
     * </pre>
     */
    public void removeBroker(dev.runnel.v1.RemoveBrokerRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.RemoveBrokerResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getRemoveBrokerMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ListGroups lists the consumer groups: every group with committed
     * offsets or members.
     * </pre>
     */
    public void listGroups(dev.runnel.v1.ListGroupsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ListGroupsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListGroupsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * DescribeGroup describes a consumer group as its coordinator sees it:
     * its members and their assignments, and for each partition the group
     * has read, the committed offset, the high watermark and the lag.
     * </pre>
     */
    public void describeGroup(dev.runnel.v1.DescribeGroupRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DescribeGroupResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDescribeGroupMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * DeleteGroup deletes a group's committed offsets; only a group without
     * members (FAILED_PRECONDITION otherwise).
     * </pre>
     */
    public void deleteGroup(dev.runnel.v1.DeleteGroupRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteGroupResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteGroupMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ResetOffsets moves a group's committed offsets in a topic; only a group
     * without members (FAILED_PRECONDITION otherwise). With dry_run it only
     * shows what it would commit.
     * </pre>
     */
    public void resetOffsets(dev.runnel.v1.ResetOffsetsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ResetOffsetsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getResetOffsetsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * CreateAcls adds ACLs (see Acl); ALTER on the cluster.
     * </pre>
     */
    public void createAcls(dev.runnel.v1.CreateAclsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.CreateAclsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getCreateAclsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ListAcls lists ACLs; DESCRIBE on the cluster.
     * </pre>
     */
    public void listAcls(dev.runnel.v1.ListAclsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ListAclsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListAclsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * DeleteAcls deletes the ACLs filters select; ALTER on the cluster.
     * </pre>
     */
    public void deleteAcls(dev.runnel.v1.DeleteAclsRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteAclsResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteAclsMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * SetQuota sets a principal's quota, or the default (see Quota); ALTER
     * on the cluster.
     * </pre>
     */
    public void setQuota(dev.runnel.v1.SetQuotaRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.SetQuotaResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getSetQuotaMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * ListQuotas lists the quotas; DESCRIBE on the cluster.
     * </pre>
     */
    public void listQuotas(dev.runnel.v1.ListQuotasRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.ListQuotasResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getListQuotasMethod(), getCallOptions()), request, responseObserver);
    }

    /**
     * <pre>
     * DeleteQuota deletes a principal's quota, or the default; ALTER on the
     * cluster.
     * </pre>
     */
    public void deleteQuota(dev.runnel.v1.DeleteQuotaRequest request,
        io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteQuotaResponse> responseObserver) {
      io.grpc.stub.ClientCalls.asyncUnaryCall(
          getChannel().newCall(getDeleteQuotaMethod(), getCallOptions()), request, responseObserver);
    }
  }

  /**
   * A stub to allow clients to do synchronous rpc calls to service AdminService.
   * <pre>
   * AdminService manages topics and describes the cluster.
   * </pre>
   */
  public static final class AdminServiceBlockingV2Stub
      extends io.grpc.stub.AbstractBlockingStub<AdminServiceBlockingV2Stub> {
    private AdminServiceBlockingV2Stub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceBlockingV2Stub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceBlockingV2Stub(channel, callOptions);
    }

    /**
     * <pre>
     * CreateTopic creates a topic with its partitions.
     * </pre>
     */
    public dev.runnel.v1.CreateTopicResponse createTopic(dev.runnel.v1.CreateTopicRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCreateTopicMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DeleteTopic deletes a topic and all its records.
     * </pre>
     */
    public dev.runnel.v1.DeleteTopicResponse deleteTopic(dev.runnel.v1.DeleteTopicRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getDeleteTopicMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListTopics lists the topics, internal ones excluded.
     * </pre>
     */
    public dev.runnel.v1.ListTopicsResponse listTopics(dev.runnel.v1.ListTopicsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListTopicsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DescribeTopic describes a topic and each of its partitions.
     * </pre>
     */
    public dev.runnel.v1.DescribeTopicResponse describeTopic(dev.runnel.v1.DescribeTopicRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getDescribeTopicMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DescribeCluster lists the brokers.
     * </pre>
     */
    public dev.runnel.v1.DescribeClusterResponse describeCluster(dev.runnel.v1.DescribeClusterRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getDescribeClusterMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ReassignPartition moves a partition's replicas to other brokers while
     * it keeps serving: the new replicas copy the log as learners, then one
     * raft configuration change swaps them in. It returns once the move has
     * started; DescribeTopic shows it going (adding and removing replicas)
     * and done (replicas as asked).
     * </pre>
     */
    public dev.runnel.v1.ReassignPartitionResponse reassignPartition(dev.runnel.v1.ReassignPartitionRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getReassignPartitionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * RemoveBroker decommissions a broker, as Redpanda's decommission does:
     * it is marked decommissioning (DescribeCluster shows it), so that no new
     * replica lands on it; each partition replica it holds moves to another
     * broker (see ReassignPartition); it leaves the groups every broker
     * replicates (metadata, consumer offsets); then it leaves the cluster,
     * and DescribeCluster no longer lists it. It returns once the broker is
     * marked; the rest goes on in the background. Its node id cannot join
     * again. NOT_FOUND for a node id not in the cluster; FAILED_PRECONDITION
     * when removing it would leave a partition under its replication factor
     * with no other broker to move a replica to, for the last broker, and
     * for one of the initial brokers (the voters of the metadata group).
     * Asking again for a broker being removed changes nothing.
     * </pre>
     */
    public dev.runnel.v1.RemoveBrokerResponse removeBroker(dev.runnel.v1.RemoveBrokerRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getRemoveBrokerMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListGroups lists the consumer groups: every group with committed
     * offsets or members.
     * </pre>
     */
    public dev.runnel.v1.ListGroupsResponse listGroups(dev.runnel.v1.ListGroupsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListGroupsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DescribeGroup describes a consumer group as its coordinator sees it:
     * its members and their assignments, and for each partition the group
     * has read, the committed offset, the high watermark and the lag.
     * </pre>
     */
    public dev.runnel.v1.DescribeGroupResponse describeGroup(dev.runnel.v1.DescribeGroupRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getDescribeGroupMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DeleteGroup deletes a group's committed offsets; only a group without
     * members (FAILED_PRECONDITION otherwise).
     * </pre>
     */
    public dev.runnel.v1.DeleteGroupResponse deleteGroup(dev.runnel.v1.DeleteGroupRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getDeleteGroupMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ResetOffsets moves a group's committed offsets in a topic; only a group
     * without members (FAILED_PRECONDITION otherwise). With dry_run it only
     * shows what it would commit.
     * </pre>
     */
    public dev.runnel.v1.ResetOffsetsResponse resetOffsets(dev.runnel.v1.ResetOffsetsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getResetOffsetsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * CreateAcls adds ACLs (see Acl); ALTER on the cluster.
     * </pre>
     */
    public dev.runnel.v1.CreateAclsResponse createAcls(dev.runnel.v1.CreateAclsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getCreateAclsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListAcls lists ACLs; DESCRIBE on the cluster.
     * </pre>
     */
    public dev.runnel.v1.ListAclsResponse listAcls(dev.runnel.v1.ListAclsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListAclsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DeleteAcls deletes the ACLs filters select; ALTER on the cluster.
     * </pre>
     */
    public dev.runnel.v1.DeleteAclsResponse deleteAcls(dev.runnel.v1.DeleteAclsRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getDeleteAclsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * SetQuota sets a principal's quota, or the default (see Quota); ALTER
     * on the cluster.
     * </pre>
     */
    public dev.runnel.v1.SetQuotaResponse setQuota(dev.runnel.v1.SetQuotaRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getSetQuotaMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListQuotas lists the quotas; DESCRIBE on the cluster.
     * </pre>
     */
    public dev.runnel.v1.ListQuotasResponse listQuotas(dev.runnel.v1.ListQuotasRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getListQuotasMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DeleteQuota deletes a principal's quota, or the default; ALTER on the
     * cluster.
     * </pre>
     */
    public dev.runnel.v1.DeleteQuotaResponse deleteQuota(dev.runnel.v1.DeleteQuotaRequest request) throws io.grpc.StatusException {
      return io.grpc.stub.ClientCalls.blockingV2UnaryCall(
          getChannel(), getDeleteQuotaMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do limited synchronous rpc calls to service AdminService.
   * <pre>
   * AdminService manages topics and describes the cluster.
   * </pre>
   */
  public static final class AdminServiceBlockingStub
      extends io.grpc.stub.AbstractBlockingStub<AdminServiceBlockingStub> {
    private AdminServiceBlockingStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceBlockingStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceBlockingStub(channel, callOptions);
    }

    /**
     * <pre>
     * CreateTopic creates a topic with its partitions.
     * </pre>
     */
    public dev.runnel.v1.CreateTopicResponse createTopic(dev.runnel.v1.CreateTopicRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCreateTopicMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DeleteTopic deletes a topic and all its records.
     * </pre>
     */
    public dev.runnel.v1.DeleteTopicResponse deleteTopic(dev.runnel.v1.DeleteTopicRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteTopicMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListTopics lists the topics, internal ones excluded.
     * </pre>
     */
    public dev.runnel.v1.ListTopicsResponse listTopics(dev.runnel.v1.ListTopicsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListTopicsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DescribeTopic describes a topic and each of its partitions.
     * </pre>
     */
    public dev.runnel.v1.DescribeTopicResponse describeTopic(dev.runnel.v1.DescribeTopicRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDescribeTopicMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DescribeCluster lists the brokers.
     * </pre>
     */
    public dev.runnel.v1.DescribeClusterResponse describeCluster(dev.runnel.v1.DescribeClusterRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDescribeClusterMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ReassignPartition moves a partition's replicas to other brokers while
     * it keeps serving: the new replicas copy the log as learners, then one
     * raft configuration change swaps them in. It returns once the move has
     * started; DescribeTopic shows it going (adding and removing replicas)
     * and done (replicas as asked).
     * </pre>
     */
    public dev.runnel.v1.ReassignPartitionResponse reassignPartition(dev.runnel.v1.ReassignPartitionRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getReassignPartitionMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * RemoveBroker decommissions a broker, as Redpanda's decommission does:
     * it is marked decommissioning (DescribeCluster shows it), so that no new
     * replica lands on it; each partition replica it holds moves to another
     * broker (see ReassignPartition); it leaves the groups every broker
     * replicates (metadata, consumer offsets); then it leaves the cluster,
     * and DescribeCluster no longer lists it. It returns once the broker is
     * marked; the rest goes on in the background. Its node id cannot join
     * again. NOT_FOUND for a node id not in the cluster; FAILED_PRECONDITION
     * when removing it would leave a partition under its replication factor
     * with no other broker to move a replica to, for the last broker, and
     * for one of the initial brokers (the voters of the metadata group).
     * Asking again for a broker being removed changes nothing.
     * </pre>
     */
    public dev.runnel.v1.RemoveBrokerResponse removeBroker(dev.runnel.v1.RemoveBrokerRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getRemoveBrokerMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListGroups lists the consumer groups: every group with committed
     * offsets or members.
     * </pre>
     */
    public dev.runnel.v1.ListGroupsResponse listGroups(dev.runnel.v1.ListGroupsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListGroupsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DescribeGroup describes a consumer group as its coordinator sees it:
     * its members and their assignments, and for each partition the group
     * has read, the committed offset, the high watermark and the lag.
     * </pre>
     */
    public dev.runnel.v1.DescribeGroupResponse describeGroup(dev.runnel.v1.DescribeGroupRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDescribeGroupMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DeleteGroup deletes a group's committed offsets; only a group without
     * members (FAILED_PRECONDITION otherwise).
     * </pre>
     */
    public dev.runnel.v1.DeleteGroupResponse deleteGroup(dev.runnel.v1.DeleteGroupRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteGroupMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ResetOffsets moves a group's committed offsets in a topic; only a group
     * without members (FAILED_PRECONDITION otherwise). With dry_run it only
     * shows what it would commit.
     * </pre>
     */
    public dev.runnel.v1.ResetOffsetsResponse resetOffsets(dev.runnel.v1.ResetOffsetsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getResetOffsetsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * CreateAcls adds ACLs (see Acl); ALTER on the cluster.
     * </pre>
     */
    public dev.runnel.v1.CreateAclsResponse createAcls(dev.runnel.v1.CreateAclsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getCreateAclsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListAcls lists ACLs; DESCRIBE on the cluster.
     * </pre>
     */
    public dev.runnel.v1.ListAclsResponse listAcls(dev.runnel.v1.ListAclsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListAclsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DeleteAcls deletes the ACLs filters select; ALTER on the cluster.
     * </pre>
     */
    public dev.runnel.v1.DeleteAclsResponse deleteAcls(dev.runnel.v1.DeleteAclsRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteAclsMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * SetQuota sets a principal's quota, or the default (see Quota); ALTER
     * on the cluster.
     * </pre>
     */
    public dev.runnel.v1.SetQuotaResponse setQuota(dev.runnel.v1.SetQuotaRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getSetQuotaMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * ListQuotas lists the quotas; DESCRIBE on the cluster.
     * </pre>
     */
    public dev.runnel.v1.ListQuotasResponse listQuotas(dev.runnel.v1.ListQuotasRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getListQuotasMethod(), getCallOptions(), request);
    }

    /**
     * <pre>
     * DeleteQuota deletes a principal's quota, or the default; ALTER on the
     * cluster.
     * </pre>
     */
    public dev.runnel.v1.DeleteQuotaResponse deleteQuota(dev.runnel.v1.DeleteQuotaRequest request) {
      return io.grpc.stub.ClientCalls.blockingUnaryCall(
          getChannel(), getDeleteQuotaMethod(), getCallOptions(), request);
    }
  }

  /**
   * A stub to allow clients to do ListenableFuture-style rpc calls to service AdminService.
   * <pre>
   * AdminService manages topics and describes the cluster.
   * </pre>
   */
  public static final class AdminServiceFutureStub
      extends io.grpc.stub.AbstractFutureStub<AdminServiceFutureStub> {
    private AdminServiceFutureStub(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      super(channel, callOptions);
    }

    @java.lang.Override
    protected AdminServiceFutureStub build(
        io.grpc.Channel channel, io.grpc.CallOptions callOptions) {
      return new AdminServiceFutureStub(channel, callOptions);
    }

    /**
     * <pre>
     * CreateTopic creates a topic with its partitions.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.CreateTopicResponse> createTopic(
        dev.runnel.v1.CreateTopicRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCreateTopicMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * DeleteTopic deletes a topic and all its records.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.DeleteTopicResponse> deleteTopic(
        dev.runnel.v1.DeleteTopicRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteTopicMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ListTopics lists the topics, internal ones excluded.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.ListTopicsResponse> listTopics(
        dev.runnel.v1.ListTopicsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListTopicsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * DescribeTopic describes a topic and each of its partitions.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.DescribeTopicResponse> describeTopic(
        dev.runnel.v1.DescribeTopicRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDescribeTopicMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * DescribeCluster lists the brokers.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.DescribeClusterResponse> describeCluster(
        dev.runnel.v1.DescribeClusterRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDescribeClusterMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ReassignPartition moves a partition's replicas to other brokers while
     * it keeps serving: the new replicas copy the log as learners, then one
     * raft configuration change swaps them in. It returns once the move has
     * started; DescribeTopic shows it going (adding and removing replicas)
     * and done (replicas as asked).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.ReassignPartitionResponse> reassignPartition(
        dev.runnel.v1.ReassignPartitionRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getReassignPartitionMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * RemoveBroker decommissions a broker, as Redpanda's decommission does:
     * it is marked decommissioning (DescribeCluster shows it), so that no new
     * replica lands on it; each partition replica it holds moves to another
     * broker (see ReassignPartition); it leaves the groups every broker
     * replicates (metadata, consumer offsets); then it leaves the cluster,
     * and DescribeCluster no longer lists it. It returns once the broker is
     * marked; the rest goes on in the background. Its node id cannot join
     * again. NOT_FOUND for a node id not in the cluster; FAILED_PRECONDITION
     * when removing it would leave a partition under its replication factor
     * with no other broker to move a replica to, for the last broker, and
     * for one of the initial brokers (the voters of the metadata group).
     * Asking again for a broker being removed changes nothing.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.RemoveBrokerResponse> removeBroker(
        dev.runnel.v1.RemoveBrokerRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getRemoveBrokerMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ListGroups lists the consumer groups: every group with committed
     * offsets or members.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.ListGroupsResponse> listGroups(
        dev.runnel.v1.ListGroupsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListGroupsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * DescribeGroup describes a consumer group as its coordinator sees it:
     * its members and their assignments, and for each partition the group
     * has read, the committed offset, the high watermark and the lag.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.DescribeGroupResponse> describeGroup(
        dev.runnel.v1.DescribeGroupRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDescribeGroupMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * DeleteGroup deletes a group's committed offsets; only a group without
     * members (FAILED_PRECONDITION otherwise).
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.DeleteGroupResponse> deleteGroup(
        dev.runnel.v1.DeleteGroupRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteGroupMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ResetOffsets moves a group's committed offsets in a topic; only a group
     * without members (FAILED_PRECONDITION otherwise). With dry_run it only
     * shows what it would commit.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.ResetOffsetsResponse> resetOffsets(
        dev.runnel.v1.ResetOffsetsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getResetOffsetsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * CreateAcls adds ACLs (see Acl); ALTER on the cluster.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.CreateAclsResponse> createAcls(
        dev.runnel.v1.CreateAclsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getCreateAclsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ListAcls lists ACLs; DESCRIBE on the cluster.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.ListAclsResponse> listAcls(
        dev.runnel.v1.ListAclsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListAclsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * DeleteAcls deletes the ACLs filters select; ALTER on the cluster.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.DeleteAclsResponse> deleteAcls(
        dev.runnel.v1.DeleteAclsRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteAclsMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * SetQuota sets a principal's quota, or the default (see Quota); ALTER
     * on the cluster.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.SetQuotaResponse> setQuota(
        dev.runnel.v1.SetQuotaRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getSetQuotaMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * ListQuotas lists the quotas; DESCRIBE on the cluster.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.ListQuotasResponse> listQuotas(
        dev.runnel.v1.ListQuotasRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getListQuotasMethod(), getCallOptions()), request);
    }

    /**
     * <pre>
     * DeleteQuota deletes a principal's quota, or the default; ALTER on the
     * cluster.
     * </pre>
     */
    public com.google.common.util.concurrent.ListenableFuture<dev.runnel.v1.DeleteQuotaResponse> deleteQuota(
        dev.runnel.v1.DeleteQuotaRequest request) {
      return io.grpc.stub.ClientCalls.futureUnaryCall(
          getChannel().newCall(getDeleteQuotaMethod(), getCallOptions()), request);
    }
  }

  private static final int METHODID_CREATE_TOPIC = 0;
  private static final int METHODID_DELETE_TOPIC = 1;
  private static final int METHODID_LIST_TOPICS = 2;
  private static final int METHODID_DESCRIBE_TOPIC = 3;
  private static final int METHODID_DESCRIBE_CLUSTER = 4;
  private static final int METHODID_REASSIGN_PARTITION = 5;
  private static final int METHODID_REMOVE_BROKER = 6;
  private static final int METHODID_LIST_GROUPS = 7;
  private static final int METHODID_DESCRIBE_GROUP = 8;
  private static final int METHODID_DELETE_GROUP = 9;
  private static final int METHODID_RESET_OFFSETS = 10;
  private static final int METHODID_CREATE_ACLS = 11;
  private static final int METHODID_LIST_ACLS = 12;
  private static final int METHODID_DELETE_ACLS = 13;
  private static final int METHODID_SET_QUOTA = 14;
  private static final int METHODID_LIST_QUOTAS = 15;
  private static final int METHODID_DELETE_QUOTA = 16;

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
        case METHODID_CREATE_TOPIC:
          serviceImpl.createTopic((dev.runnel.v1.CreateTopicRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.CreateTopicResponse>) responseObserver);
          break;
        case METHODID_DELETE_TOPIC:
          serviceImpl.deleteTopic((dev.runnel.v1.DeleteTopicRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteTopicResponse>) responseObserver);
          break;
        case METHODID_LIST_TOPICS:
          serviceImpl.listTopics((dev.runnel.v1.ListTopicsRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.ListTopicsResponse>) responseObserver);
          break;
        case METHODID_DESCRIBE_TOPIC:
          serviceImpl.describeTopic((dev.runnel.v1.DescribeTopicRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.DescribeTopicResponse>) responseObserver);
          break;
        case METHODID_DESCRIBE_CLUSTER:
          serviceImpl.describeCluster((dev.runnel.v1.DescribeClusterRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.DescribeClusterResponse>) responseObserver);
          break;
        case METHODID_REASSIGN_PARTITION:
          serviceImpl.reassignPartition((dev.runnel.v1.ReassignPartitionRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.ReassignPartitionResponse>) responseObserver);
          break;
        case METHODID_REMOVE_BROKER:
          serviceImpl.removeBroker((dev.runnel.v1.RemoveBrokerRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.RemoveBrokerResponse>) responseObserver);
          break;
        case METHODID_LIST_GROUPS:
          serviceImpl.listGroups((dev.runnel.v1.ListGroupsRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.ListGroupsResponse>) responseObserver);
          break;
        case METHODID_DESCRIBE_GROUP:
          serviceImpl.describeGroup((dev.runnel.v1.DescribeGroupRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.DescribeGroupResponse>) responseObserver);
          break;
        case METHODID_DELETE_GROUP:
          serviceImpl.deleteGroup((dev.runnel.v1.DeleteGroupRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteGroupResponse>) responseObserver);
          break;
        case METHODID_RESET_OFFSETS:
          serviceImpl.resetOffsets((dev.runnel.v1.ResetOffsetsRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.ResetOffsetsResponse>) responseObserver);
          break;
        case METHODID_CREATE_ACLS:
          serviceImpl.createAcls((dev.runnel.v1.CreateAclsRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.CreateAclsResponse>) responseObserver);
          break;
        case METHODID_LIST_ACLS:
          serviceImpl.listAcls((dev.runnel.v1.ListAclsRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.ListAclsResponse>) responseObserver);
          break;
        case METHODID_DELETE_ACLS:
          serviceImpl.deleteAcls((dev.runnel.v1.DeleteAclsRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteAclsResponse>) responseObserver);
          break;
        case METHODID_SET_QUOTA:
          serviceImpl.setQuota((dev.runnel.v1.SetQuotaRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.SetQuotaResponse>) responseObserver);
          break;
        case METHODID_LIST_QUOTAS:
          serviceImpl.listQuotas((dev.runnel.v1.ListQuotasRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.ListQuotasResponse>) responseObserver);
          break;
        case METHODID_DELETE_QUOTA:
          serviceImpl.deleteQuota((dev.runnel.v1.DeleteQuotaRequest) request,
              (io.grpc.stub.StreamObserver<dev.runnel.v1.DeleteQuotaResponse>) responseObserver);
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
          getCreateTopicMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.CreateTopicRequest,
              dev.runnel.v1.CreateTopicResponse>(
                service, METHODID_CREATE_TOPIC)))
        .addMethod(
          getDeleteTopicMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.DeleteTopicRequest,
              dev.runnel.v1.DeleteTopicResponse>(
                service, METHODID_DELETE_TOPIC)))
        .addMethod(
          getListTopicsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.ListTopicsRequest,
              dev.runnel.v1.ListTopicsResponse>(
                service, METHODID_LIST_TOPICS)))
        .addMethod(
          getDescribeTopicMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.DescribeTopicRequest,
              dev.runnel.v1.DescribeTopicResponse>(
                service, METHODID_DESCRIBE_TOPIC)))
        .addMethod(
          getDescribeClusterMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.DescribeClusterRequest,
              dev.runnel.v1.DescribeClusterResponse>(
                service, METHODID_DESCRIBE_CLUSTER)))
        .addMethod(
          getReassignPartitionMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.ReassignPartitionRequest,
              dev.runnel.v1.ReassignPartitionResponse>(
                service, METHODID_REASSIGN_PARTITION)))
        .addMethod(
          getRemoveBrokerMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.RemoveBrokerRequest,
              dev.runnel.v1.RemoveBrokerResponse>(
                service, METHODID_REMOVE_BROKER)))
        .addMethod(
          getListGroupsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.ListGroupsRequest,
              dev.runnel.v1.ListGroupsResponse>(
                service, METHODID_LIST_GROUPS)))
        .addMethod(
          getDescribeGroupMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.DescribeGroupRequest,
              dev.runnel.v1.DescribeGroupResponse>(
                service, METHODID_DESCRIBE_GROUP)))
        .addMethod(
          getDeleteGroupMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.DeleteGroupRequest,
              dev.runnel.v1.DeleteGroupResponse>(
                service, METHODID_DELETE_GROUP)))
        .addMethod(
          getResetOffsetsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.ResetOffsetsRequest,
              dev.runnel.v1.ResetOffsetsResponse>(
                service, METHODID_RESET_OFFSETS)))
        .addMethod(
          getCreateAclsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.CreateAclsRequest,
              dev.runnel.v1.CreateAclsResponse>(
                service, METHODID_CREATE_ACLS)))
        .addMethod(
          getListAclsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.ListAclsRequest,
              dev.runnel.v1.ListAclsResponse>(
                service, METHODID_LIST_ACLS)))
        .addMethod(
          getDeleteAclsMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.DeleteAclsRequest,
              dev.runnel.v1.DeleteAclsResponse>(
                service, METHODID_DELETE_ACLS)))
        .addMethod(
          getSetQuotaMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.SetQuotaRequest,
              dev.runnel.v1.SetQuotaResponse>(
                service, METHODID_SET_QUOTA)))
        .addMethod(
          getListQuotasMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.ListQuotasRequest,
              dev.runnel.v1.ListQuotasResponse>(
                service, METHODID_LIST_QUOTAS)))
        .addMethod(
          getDeleteQuotaMethod(),
          io.grpc.stub.ServerCalls.asyncUnaryCall(
            new MethodHandlers<
              dev.runnel.v1.DeleteQuotaRequest,
              dev.runnel.v1.DeleteQuotaResponse>(
                service, METHODID_DELETE_QUOTA)))
        .build();
  }

  private static abstract class AdminServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoFileDescriptorSupplier, io.grpc.protobuf.ProtoServiceDescriptorSupplier {
    AdminServiceBaseDescriptorSupplier() {}

    @java.lang.Override
    public com.google.protobuf.Descriptors.FileDescriptor getFileDescriptor() {
      return dev.runnel.v1.Admin.getDescriptor();
    }

    @java.lang.Override
    public com.google.protobuf.Descriptors.ServiceDescriptor getServiceDescriptor() {
      return getFileDescriptor().findServiceByName("AdminService");
    }
  }

  private static final class AdminServiceFileDescriptorSupplier
      extends AdminServiceBaseDescriptorSupplier {
    AdminServiceFileDescriptorSupplier() {}
  }

  private static final class AdminServiceMethodDescriptorSupplier
      extends AdminServiceBaseDescriptorSupplier
      implements io.grpc.protobuf.ProtoMethodDescriptorSupplier {
    private final java.lang.String methodName;

    AdminServiceMethodDescriptorSupplier(java.lang.String methodName) {
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
      synchronized (AdminServiceGrpc.class) {
        result = serviceDescriptor;
        if (result == null) {
          serviceDescriptor = result = io.grpc.ServiceDescriptor.newBuilder(SERVICE_NAME)
              .setSchemaDescriptor(new AdminServiceFileDescriptorSupplier())
              .addMethod(getCreateTopicMethod())
              .addMethod(getDeleteTopicMethod())
              .addMethod(getListTopicsMethod())
              .addMethod(getDescribeTopicMethod())
              .addMethod(getDescribeClusterMethod())
              .addMethod(getReassignPartitionMethod())
              .addMethod(getRemoveBrokerMethod())
              .addMethod(getListGroupsMethod())
              .addMethod(getDescribeGroupMethod())
              .addMethod(getDeleteGroupMethod())
              .addMethod(getResetOffsetsMethod())
              .addMethod(getCreateAclsMethod())
              .addMethod(getListAclsMethod())
              .addMethod(getDeleteAclsMethod())
              .addMethod(getSetQuotaMethod())
              .addMethod(getListQuotasMethod())
              .addMethod(getDeleteQuotaMethod())
              .build();
        }
      }
    }
    return result;
  }
}
