package dev.jepd.serving;

import dev.jepd.api.ApiException;
import dev.jepd.api.ImageItem;
import dev.jepd.api.MediaErrors;
import dev.jepd.api.MediaLimits;
import dev.jepd.engine.connector.EcConnector;
import dev.jepd.engine.connector.EcEntry;
import dev.jepd.engine.connector.EcTransferParams;
import dev.jepd.media.ImageGrid;
import dev.jepd.media.LoadedImage;
import dev.jepd.media.MediaException;
import dev.jepd.media.MediaLoader;
import dev.jepd.media.PixelBounds;
import dev.jepd.transfer.ec.EcKeys;
import dev.jepd.transfer.ec.InvalidEcKeyException;
import dev.jepd.transfer.ec.MmHasher;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;

/**
 * From a request's image items to what the nodes need: each item's bytes, its EC key (uuid or mm_hash, DESIGN
 * §4.2), its grid, and its embeddings — from the encoder cache when the file is there and well-formed, else
 * from the local vision tower. Used by the encoder node (loading and keying; its encoder-node EncoderRunner encodes and saves) and the PD node ({@link #resolve}).
 */
public final class MultimodalInputs {
    private final ModelRuntime runtime;
    private final MediaLoader media;
    private final EncodeBatcher encoder;
    private final EcConnector ec;
    private final boolean consume;
    private final boolean produce;
    private final MmHasher hasher;
    private final String modelString;
    private final PixelBounds defaultBounds;
    private final ServingMetrics metrics;

    /**
     * @param ec the encoder cache, or null when none is configured
     * @param modelString the model as given to {@code serve}: part of the mm_hash, so E and PD must agree
     */
    private MediaLimits mediaLimits = MediaLimits.NONE; // set once at assembly, before the first request

    public MultimodalInputs(
            ModelRuntime runtime,
            MediaLoader media,
            EncodeBatcher encoder,
            EcConnector ec,
            boolean consume,
            boolean produce,
            MmHasher hasher,
            String modelString,
            PixelBounds defaultBounds,
            ServingMetrics metrics) {
        this.runtime = runtime;
        this.media = media;
        this.encoder = encoder;
        this.ec = ec;
        this.consume = consume;
        this.produce = produce;
        this.hasher = hasher;
        this.modelString = modelString;
        this.defaultBounds = defaultBounds;
        this.metrics = metrics;
    }

    /** These inputs refusing requests over {@code --limit-mm-per-prompt} (before anything is loaded). */
    public MultimodalInputs withMediaLimits(MediaLimits limits) {
        this.mediaLimits = limits;
        return this;
    }

    /** An item loaded and keyed, not yet encoded. */
    public record Item(ImageItem source, LoadedImage image, String key, ImageGrid grid) {}

    /** Per-request pixel bounds: {@code mm_processor_kwargs} over the server's defaults. */
    public PixelBounds bounds(com.fasterxml.jackson.databind.JsonNode kwargs) {
        try {
            return defaultBounds.overriddenBy(kwargs);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage(), "mm_processor_kwargs");
        }
    }

    /** Loads, validates and keys every item; all input errors surface here, before any compute. */
    public List<Item> load(List<ImageItem> items, boolean hasKwargs, PixelBounds bounds) {
        mediaLimits.check("image", items.size());
        List<Item> out = new ArrayList<>(items.size());
        for (ImageItem it : items) {
            String key;
            if (it.uuid() != null) {
                try {
                    EcKeys.requireSafeUuid(it.uuid());
                } catch (InvalidEcKeyException e) {
                    throw ApiException.badRequest(e.getMessage(), it.path() + ".uuid");
                }
            }
            LoadedImage img;
            try {
                img = media.load(it.url());
            } catch (MediaException e) {
                throw MediaErrors.toApi(e, it.path() + ".image_url");
            }
            try {
                key = EcKeys.forItem(hasher, it.uuid(), hasKwargs, modelString, img.bytes(), img.convertedToRgb());
            } catch (InvalidEcKeyException e) {
                throw ApiException.badRequest(e.getMessage(), it.path() + ".uuid");
            }
            var g = gridOf(img, bounds, it.path());
            out.add(new Item(it, img, key, g));
        }
        return out;
    }

    private ImageGrid gridOf(LoadedImage img, PixelBounds bounds, String path) {
        try {
            var g = runtime.processor().grid(img.image().height(), img.image().width(), bounds);
            return new ImageGrid(
                    g.gridT(), g.gridH(), g.gridW(), runtime.model().mergeSize());
        } catch (MediaException e) {
            throw MediaErrors.toApi(e, path + ".image_url");
        } catch (IllegalArgumentException e) { // bounds the processor cannot honour (min_pixels over max_pixels ...)
            throw ApiException.badRequest("mm_processor_kwargs: " + e.getMessage(), "mm_processor_kwargs");
        }
    }

    /** PD node: embeddings for every item, EC first, local encoding on a miss (batched). */
    public List<EncodedImage> resolve(List<Item> items, PixelBounds bounds) {
        return resolve(items, bounds, Map.of());
    }

    /**
     * As {@link #resolve(List, PixelBounds)}, with what the encoders published per item key ({@code
     * ec_transfer_params}) handed to the connector's lookup.
     */
    public List<EncodedImage> resolve(List<Item> items, PixelBounds bounds, Map<String, EcTransferParams> from) {
        int dim = runtime.model()
                .vision()
                .map(v -> v.embeddingDim())
                .orElseGet(
                        () -> runtime.model().language().orElseThrow().shape().embedWidth());
        EncodedImage[] out = new EncodedImage[items.size()];
        List<CompletableFuture<EncodedImage>> pending = new ArrayList<>();
        List<Integer> pendingIdx = new ArrayList<>();
        for (int i = 0; i < items.size(); i++) {
            Item it = items.get(i);
            if (ec != null && consume) {
                Optional<EcEntry> hit = ec.lookup(
                        it.key(),
                        from.getOrDefault(it.key(), EcTransferParams.none()),
                        it.grid().numTokens(),
                        dim);
                if (hit.isPresent()) {
                    metrics.ecHit();
                    out[i] = new EncodedImage(it.grid(), hit.get().rows(), dim);
                    continue;
                }
                metrics.ecMiss();
            }
            pending.add(encoder.submit(it.image().image(), bounds));
            pendingIdx.add(i);
        }
        for (int k = 0; k < pending.size(); k++) {
            EncodedImage e = EncodeBatcher.join(pending.get(k));
            int i = pendingIdx.get(k);
            out[i] = e;
            metrics.encodedImages(1);
            if (ec != null && produce) {
                ec.save(items.get(i).key(), e.embeddings(), e.grid().numTokens(), e.dim());
                metrics.ecSave();
            }
        }
        return List.of(out);
    }
}
