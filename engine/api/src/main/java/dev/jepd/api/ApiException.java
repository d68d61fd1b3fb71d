package dev.jepd.api;

import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A request that fails with an HTTP status and an OpenAI error body:
 * {@code {"error":{"message":…,"type":…,"param":…,"code":<status>}}}.
 */
public class ApiException extends RuntimeException {
    private final int status;
    private final String type;
    private final String param;
    private int retryAfterSeconds;

    public ApiException(int status, String message, String param) {
        this(status, typeFor(status), message, param);
    }

    public ApiException(int status, String type, String message, String param) {
        super(message);
        this.status = status;
        this.type = type;
        this.param = param;
    }

    public static ApiException badRequest(String message, String param) {
        return new ApiException(400, message, param);
    }

    public static ApiException badRequest(String message) {
        return new ApiException(400, message, null);
    }

    /** Adds {@code Retry-After: seconds} to the response (overload, draining). */
    public ApiException withRetryAfter(int seconds) {
        this.retryAfterSeconds = seconds;
        return this;
    }

    /** Seconds for {@code Retry-After}, or 0 for none. */
    public int retryAfterSeconds() {
        return retryAfterSeconds;
    }

    public int status() {
        return status;
    }

    public String type() {
        return type;
    }

    public String param() {
        return param;
    }

    /** vLLM's error type names by status. */
    public static String typeFor(int status) {
        return switch (status) {
            case 400, 413, 422 -> "BadRequestError";
            case 401 -> "AuthenticationError";
            case 403 -> "PermissionDeniedError";
            case 404 -> "NotFoundError";
            case 408, 504 -> "TimeoutError";
            case 429 -> "RateLimitError";
            case 502 -> "BadGatewayError";
            case 503 -> "ServiceUnavailableError";
            default -> status >= 500 ? "InternalServerError" : "BadRequestError";
        };
    }

    /** The error body. */
    public ObjectNode body() {
        return errorBody(status, type, getMessage(), param);
    }

    public static ObjectNode errorBody(int status, String type, String message, String param) {
        ObjectNode root = Json.MAPPER.createObjectNode();
        ObjectNode err = root.putObject("error");
        err.put("message", message);
        err.put("type", type);
        if (param == null) {
            err.putNull("param");
        } else {
            err.put("param", param);
        }
        err.put("code", status);
        return root;
    }
}
