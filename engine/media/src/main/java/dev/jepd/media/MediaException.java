package dev.jepd.media;

/**
 * Why an image could not be loaded, decoded or preprocessed. The serving layer maps {@link #reason()} to
 * an HTTP status (400, 403, 404, 413 ...); the message names the cause in words a client can act on.
 */
public final class MediaException extends RuntimeException {
    /** A closed set, so that the HTTP mapping can be an exhaustive switch. */
    public enum Reason {
        /** No bytes at all (empty file, empty data URL, empty HTTP body). */
        EMPTY,
        /** The URL is malformed or has a scheme other than data, file, http and https. */
        BAD_URL,
        /** A {@code data:} URL that is not {@code data:<type>;base64,<valid base64>}. */
        BAD_DATA_URL,
        /** A local path outside the allowed media directory, or local files are disabled. */
        FORBIDDEN_PATH,
        /**
         * An http(s) URL (or redirect target) whose host is not in the allowed media domains, or resolves to a
         * loopback, link-local or private address while those are not allowed.
         */
        FORBIDDEN_DOMAIN,
        /** A local file that does not exist or is not a regular file. */
        NOT_FOUND,
        /** An http(s) fetch that failed: connection, timeout or a non-2xx status. */
        FETCH_FAILED,
        /** More encoded bytes, or more decoded pixels, than the configured limits. */
        TOO_LARGE,
        /** Bytes of an image format this decoder does not read (WebP, TIFF, ...) or of no image at all. */
        UNSUPPORTED_FORMAT,
        /** Bytes of a supported format that are corrupt or truncated. */
        UNDECODABLE,
        /** An image with a zero side, which no resize can make into patches. */
        TOO_SMALL,
        /** An image whose long side is more than 200 times its short side (transformers' limit). */
        BAD_ASPECT_RATIO
    }

    private final Reason reason;

    public MediaException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public MediaException(Reason reason, String message, Throwable cause) {
        super(message, cause);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }

    @Override
    public String toString() {
        return "MediaException[" + reason + "]: " + getMessage();
    }
}
