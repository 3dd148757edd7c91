package dev.runnel.client;

import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.runnel.v1.ListTopicsRequest;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.util.EnumSet;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * A client whose broker was gone for a while reaches it again within a second or so of its return,
 * not after grpc-java's default backoff (which grows to two minutes, failing every call fast
 * meanwhile).
 */
class ReconnectTest {
  private static final long OUTAGE_MILLIS = 20_000;

  @Test
  void aBrokerBackAfterAnOutageIsReachedWithinASecond() throws Exception {
    TestBroker broker = TestBroker.start();
    try (RunnelClient client = new RunnelClient(broker.address())) {
      client.admin.withDeadlineAfter(10, TimeUnit.SECONDS).listTopics(ListTopicsRequest.getDefaultInstance());
      broker.kill();
      // As a consumer's retry loop would: calls fail while the broker is down, and the channel's
      // backoff grows with each failed dial.
      long downUntil = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(OUTAGE_MILLIS);
      int failures = 0;
      while (System.nanoTime() < downUntil) {
        try {
          client.admin.withDeadlineAfter(500, TimeUnit.MILLISECONDS).listTopics(ListTopicsRequest.getDefaultInstance());
        } catch (StatusRuntimeException e) {
          assertTrue(EnumSet.of(Status.Code.UNAVAILABLE, Status.Code.DEADLINE_EXCEEDED).contains(e.getStatus().getCode()),
              e.toString());
          failures++;
        }
        Thread.sleep(50);
      }
      assertTrue(failures > 0);
      broker.restart();
      long back = System.nanoTime();
      client.admin.withWaitForReady().withDeadlineAfter(30, TimeUnit.SECONDS).listTopics(ListTopicsRequest.getDefaultInstance());
      double reached = (System.nanoTime() - back) / 1e9;
      // The cap is 1 s; grpc-java's default would have waited about 6 s more here (its next dial
      // falls near 26 s).
      assertTrue(reached < 2.5, String.format("reached the broker %.1fs after it came back", reached));
    } finally {
      broker.stop();
    }
  }
}
