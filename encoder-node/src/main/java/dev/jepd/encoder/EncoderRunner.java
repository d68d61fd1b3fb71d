package dev.jepd.encoder;

import dev.jepd.api.ApiException;
import dev.jepd.engine.connector.EcConnector;
import dev.jepd.engine.connector.EcStoreException;
import dev.jepd.engine.connector.EcTransferParams;
import dev.jepd.media.ImageGrid;
import dev.jepd.media.PixelBounds;
import dev.jepd.serving.EncodeBatcher;
import dev.jepd.serving.EncodedImage;
import dev.jepd.serving.MultimodalInputs;
import dev.jepd.serving.ServingMetrics;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The encoder node's work: makes sure every item's EC file exists. Items already in the cache are not
 * recomputed; the rest go through the shared vision-tower batcher and are saved before the node answers.
 */
public final class EncoderRunner {
    private static final Logger LOG = LoggerFactory.getLogger(EncoderRunner.class);

    /** What the encoder node did for one item: its EC key, its grid and whether it was computed now. */
    /** One item's outcome; {@code params} is what the connector published for it ({@code none()} if nothing new). */
    public record Produced(String key, ImageGrid grid, boolean computed, EcTransferParams params) {}

    private final EncodeBatcher batcher;
    private final EcConnector producer;
    private final ServingMetrics metrics;

    public EncoderRunner(EncodeBatcher batcher, EcConnector producer, ServingMetrics metrics) {
        this.batcher = batcher;
        this.producer = producer;
        this.metrics = metrics;
    }

    /**
     * An entry the store could not take (read-only or full disk, permissions, over capacity): {@code 507} with
     * {@code type "ECStoreError"}, which a proxy can treat as a miss (the decode node then encodes the item itself)
     * rather than as a failed request. The message names the key, not the server's paths.
     */
    static ApiException storeFailed(String key) {
        return new ApiException(
                507,
                STORE_ERROR_TYPE,
                "the encoder could not write the EC entry " + key + "; treat it as a miss",
                "ec_transfer_config");
    }

    /** The error type of {@link #storeFailed}. */
    public static final String STORE_ERROR_TYPE = "ECStoreError";

    public List<Produced> produce(List<MultimodalInputs.Item> items, PixelBounds bounds) {
        List<Produced> out = new ArrayList<>(items.size());
        List<CompletableFuture<EncodedImage>> pending = new ArrayList<>();
        List<MultimodalInputs.Item> todo = new ArrayList<>();
        for (MultimodalInputs.Item it : items) {
            Optional<EcTransferParams> held = producer.held(it.key());
            if (held.isPresent()) {
                out.add(new Produced(it.key(), it.grid(), false, held.get()));
            } else {
                pending.add(batcher.submit(it.image().image(), bounds));
                todo.add(it);
            }
        }
        for (int k = 0; k < pending.size(); k++) {
            EncodedImage e = EncodeBatcher.join(pending.get(k));
            MultimodalInputs.Item it = todo.get(k);
            // Written (atomically) before the node answers: the proxy calls the PD only after our 200.
            EcTransferParams params;
            try {
                params = producer.publish(it.key(), e.embeddings(), e.grid().numTokens(), e.dim());
            } catch (EcStoreException failed) {
                metrics.ecSaveFailure();
                LOG.warn("EC write for {} failed: {}", it.key(), failed.getMessage());
                throw storeFailed(it.key());
            }
            metrics.encodedImages(1);
            metrics.ecSave();
            out.add(new Produced(it.key(), e.grid(), true, params));
        }
        return out;
    }
}
