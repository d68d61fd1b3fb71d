package dev.jepd.bench;

import dev.jepd.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.BiConsumer;

/**
 * Timestamps a forward pass at the model's activation taps ({@code Qwen2Decoder.setTap},
 * {@code Qwen25VisionTower.setTap}). The backend runs ops eagerly on the calling thread, so the moment a
 * tap sees a layer's output is the moment that layer finished. The tap only looks at names, never reads a
 * tensor, so it adds nothing but a clock read, except that the decoder computes one extra final RMSNorm
 * for its {@code final_norm} tap.
 */
final class LayerClock implements BiConsumer<String, Tensor> {
    private final String prefix;
    private final Runnable sync;
    private final List<Long> marks = new ArrayList<>();
    private long start;
    private long firstLayerStart;

    /** @param prefix the tap name of each layer's output, followed by its index ({@code "layer_out."}) */
    LayerClock(String prefix) {
        this(prefix, () -> {});
    }

    /**
     * @param sync waits for the backend's queued work (an accelerator's), run before each reading of the
     *     clock so that a layer's time is its kernels', not their launches'
     */
    LayerClock(String prefix, Runnable sync) {
        this.prefix = prefix;
        this.sync = sync;
    }

    /** Call right before the pass. */
    void start() {
        marks.clear();
        start = System.nanoTime();
        firstLayerStart = -1;
    }

    @Override
    public void accept(String name, Tensor t) {
        sync.run();
        long now = System.nanoTime();
        if (name.startsWith(prefix)) {
            if (marks.isEmpty() && firstLayerStart < 0) {
                firstLayerStart = start;
            }
            marks.add(now);
        } else if (marks.isEmpty()) {
            // A tap before the first layer (embeddings, patch embedding): layer 0 starts here.
            firstLayerStart = now;
        }
    }

    /** Seconds from {@link #start()} to the first layer's start. */
    double beforeLayers() {
        return (firstLayerStart - start) / 1e9;
    }

    /** Seconds each layer took, in order; empty when the pass had no taps. */
    double[] layers() {
        double[] out = new double[marks.size()];
        long prev = firstLayerStart;
        for (int i = 0; i < out.length; i++) {
            out[i] = (marks.get(i) - prev) / 1e9;
            prev = marks.get(i);
        }
        return out;
    }

    /** Seconds from the last layer's end to {@code end} (a {@link System#nanoTime()} taken after the pass). */
    double afterLayers(long end) {
        return (end - (marks.isEmpty() ? firstLayerStart : marks.getLast())) / 1e9;
    }
}
