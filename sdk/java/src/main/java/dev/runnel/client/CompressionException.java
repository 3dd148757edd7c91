package dev.runnel.client;

/**
 * A compressed batch that does not decode: corrupt, over the size bound, in an unknown codec, or not
 * holding the records it declares.
 */
public final class CompressionException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  public CompressionException(String message) {
    super(message);
  }

  public CompressionException(String message, Throwable cause) {
    super(message, cause);
  }
}
