package dev.runnel.client;

import io.grpc.Status;

/** A produce request the broker rejected; {@link #status()} says why. */
public final class ProduceException extends RuntimeException {
  private static final long serialVersionUID = 1L;
  private final transient Status status;

  ProduceException(Status status) {
    super(status.getCode() + ": " + status.getDescription());
    this.status = status;
  }

  public Status status() {
    return status;
  }
}
