package io.eventgrpc.client;

/**
 * The error codes of the Connect protocol (the gRPC codes, spelled as
 * Connect spells them on the wire).
 */
public enum Code {
  CANCELED("canceled", 499),
  UNKNOWN("unknown", 500),
  INVALID_ARGUMENT("invalid_argument", 400),
  DEADLINE_EXCEEDED("deadline_exceeded", 504),
  NOT_FOUND("not_found", 404),
  ALREADY_EXISTS("already_exists", 409),
  PERMISSION_DENIED("permission_denied", 403),
  RESOURCE_EXHAUSTED("resource_exhausted", 429),
  FAILED_PRECONDITION("failed_precondition", 400),
  ABORTED("aborted", 409),
  OUT_OF_RANGE("out_of_range", 400),
  UNIMPLEMENTED("unimplemented", 501),
  INTERNAL("internal", 500),
  UNAVAILABLE("unavailable", 503),
  DATA_LOSS("data_loss", 500),
  UNAUTHENTICATED("unauthenticated", 401);

  private final String wire;
  private final int httpStatus;

  Code(String wire, int httpStatus) {
    this.wire = wire;
    this.httpStatus = httpStatus;
  }

  /** The code as the Connect protocol writes it, e.g. {@code "resource_exhausted"}. */
  public String wireName() {
    return wire;
  }

  /** The HTTP status a Connect server answers with for this code. */
  public int httpStatus() {
    return httpStatus;
  }

  /**
   * Whether a request that failed with this code may be sent again as it
   * is: the service was overloaded ({@code resource_exhausted}), down or
   * restarting ({@code unavailable}), or did not answer in time
   * ({@code deadline_exceeded}; the events carry their ids, so a request
   * that did reach the service is stored once).
   */
  public boolean retryable() {
    return this == UNAVAILABLE || this == RESOURCE_EXHAUSTED || this == DEADLINE_EXCEEDED;
  }

  /** The code of a Connect wire name, or {@code null} when the name is not one. */
  public static Code fromWireName(String name) {
    if (name == null) {
      return null;
    }
    for (Code c : values()) {
      if (c.wire.equals(name)) {
        return c;
      }
    }
    return null;
  }

  /**
   * The code of an HTTP status whose body is not a Connect error (a proxy,
   * a load balancer, or middleware in front of the handler answered), as
   * the Connect protocol specifies: 400 internal, 401 unauthenticated, 403
   * permission_denied, 404 unimplemented, 429/502/503/504 unavailable,
   * anything else unknown.
   */
  public static Code fromHttpStatus(int status) {
    switch (status) {
      case 400:
        return INTERNAL;
      case 401:
        return UNAUTHENTICATED;
      case 403:
        return PERMISSION_DENIED;
      case 404:
        return UNIMPLEMENTED;
      case 429:
      case 502:
      case 503:
      case 504:
        return UNAVAILABLE;
      default:
        return UNKNOWN;
    }
  }
}
