package dev.runnel.client;

import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall;
import io.grpc.ForwardingClientCallListener;
import io.grpc.ManagedChannel;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Dials a broker that went away again at most a second apart, as the Go and Python SDKs do (and as
 * Kafka's {@code reconnect.backoff.max.ms}). grpc-java's reconnect backoff grows to two minutes and
 * has no public setting, and every call fails fast {@code UNAVAILABLE} while it waits: a client
 * would reach its brokers that long after they came back. So a call that fails {@code UNAVAILABLE}
 * cuts the channel's backoff short ({@link ManagedChannel#resetConnectBackoff}), at most once per
 * {@link #MAX_DELAY_NANOS}.
 */
final class Redial implements ClientInterceptor {
  static final long MAX_DELAY_NANOS = TimeUnit.SECONDS.toNanos(1);

  private final ManagedChannel channel;
  private final AtomicLong lastReset = new AtomicLong(System.nanoTime() - MAX_DELAY_NANOS);

  Redial(ManagedChannel channel) {
    this.channel = channel;
  }

  @Override
  public <ReqT, RespT> ClientCall<ReqT, RespT> interceptCall(
      MethodDescriptor<ReqT, RespT> method, CallOptions options, Channel next) {
    return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
      @Override
      public void start(Listener<RespT> listener, Metadata headers) {
        super.start(new ForwardingClientCallListener.SimpleForwardingClientCallListener<>(listener) {
          @Override
          public void onClose(Status status, Metadata trailers) {
            if (status.getCode() == Status.Code.UNAVAILABLE) {
              redial();
            }
            super.onClose(status, trailers);
          }
        }, headers);
      }
    };
  }

  private void redial() {
    long now = System.nanoTime();
    long last = lastReset.get();
    if (now - last >= MAX_DELAY_NANOS && lastReset.compareAndSet(last, now)) {
      channel.resetConnectBackoff();
    }
  }
}
