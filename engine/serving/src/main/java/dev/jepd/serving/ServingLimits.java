package dev.jepd.serving;

import dev.jepd.api.MediaLimits;
import java.time.Duration;

/**
 * How much a node takes on, beyond what the engine's own batching bounds.
 *
 * @param requestTimeout {@code --request-timeout}: the longest any request may run, arrival to last token
 *     (a request's own {@code request_timeout} may only shorten it); null: no node-wide deadline
 * @param maxWaitingRequests {@code --max-waiting-requests}: requests queued but not yet running beyond which
 *     new ones are refused with 503 and {@code Retry-After}; 0: unbounded
 * @param mediaLimits {@code --limit-mm-per-prompt}: the most items of each modality one request may carry
 */
public record ServingLimits(Duration requestTimeout, int maxWaitingRequests, MediaLimits mediaLimits) {
    public static final ServingLimits NONE = new ServingLimits(null, 0);

    /** Without {@code --limit-mm-per-prompt}. */
    public ServingLimits(Duration requestTimeout, int maxWaitingRequests) {
        this(requestTimeout, maxWaitingRequests, MediaLimits.NONE);
    }

    private static final long NO_DEADLINE_BEYOND = 100L * 365 * 24 * 3600 * 1_000_000_000L;

    public ServingLimits {
        mediaLimits = mediaLimits == null ? MediaLimits.NONE : mediaLimits;
        if (requestTimeout != null && (requestTimeout.isNegative() || requestTimeout.isZero())) {
            requestTimeout = null;
        }
        if (maxWaitingRequests < 0) {
            throw new IllegalArgumentException("max waiting requests must be >= 0, got " + maxWaitingRequests);
        }
    }

    /**
     * The deadline of a request that arrived at {@code arrivalNanos} and asked for {@code requested} seconds
     * (null: nothing asked), as a {@link System#nanoTime()} value; {@link Long#MAX_VALUE} when there is none.
     */
    public long deadlineNanos(long arrivalNanos, Double requested) {
        long limit = Long.MAX_VALUE;
        if (requestTimeout != null) {
            limit = requestTimeout.toNanos();
        }
        if (requested != null) {
            limit = Math.min(limit, (long) (requested * 1e9));
        }
        // Beyond a century is no deadline (and arrival + limit must not overflow).
        return limit >= NO_DEADLINE_BEYOND ? Long.MAX_VALUE : arrivalNanos + limit;
    }
}
