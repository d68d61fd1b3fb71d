package dev.jepd.serving;

import dev.jepd.engine.connector.EcConnector;
import dev.jepd.media.MediaLoader;
import dev.jepd.media.PixelBounds;
import dev.jepd.transfer.ec.MmHasher;
import java.util.List;

/**
 * What every node is built from, whatever its {@link NodeRole}: the loaded model, the media loader and the
 * shared vision-tower batcher, the mm_hash settings, the metrics and the names it serves.
 *
 * @param modelString the model as given to {@code serve}: part of the mm_hash, so E and PD must agree
 * @param maxBodyBytes the largest request body a route reads
 * @param limits request deadlines and the bound on waiting requests
 */
public record NodeContext(
        ModelRuntime runtime,
        MediaLoader media,
        EncodeBatcher batcher,
        MmHasher hasher,
        String modelString,
        PixelBounds bounds,
        ServingMetrics metrics,
        List<String> servedNames,
        long maxBodyBytes,
        ServingLimits limits) {
    public NodeContext {
        servedNames = List.copyOf(servedNames);
    }

    /** The node's multimodal inputs over {@code ec} (null: none), reading and/or writing it as the role says. */
    public MultimodalInputs inputs(EcConnector ec, boolean consume, boolean produce) {
        return new MultimodalInputs(runtime, media, batcher, ec, consume, produce, hasher, modelString, bounds, metrics)
                .withMediaLimits(limits.mediaLimits());
    }
}
