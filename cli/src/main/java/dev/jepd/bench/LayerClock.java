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
    private final String sidePrefix;
    private final Runnable sync;
    private final List<Long> starts = new ArrayList<>();
    private final List<Long> marks = new ArrayList<>();
    private final List<Double> sides = new ArrayList<>();
    private long start;
    private long firstLayerStart;
    private long last;

    /** @param prefix the tap name of each layer's output, followed by its index ({@code "layer_out."}) */
    LayerClock(String prefix) {
        this(prefix, () -> {});
    }

    /**
     * @param sync waits for the backend's queued work (an accelerator's), run before each reading of the
     *     clock so that a layer's time is its kernels', not their launches'
     */
    LayerClock(String prefix, Runnable sync) {
        this(prefix, null, sync);
    }

    /**
     * @param sidePrefix taps of work that runs between layers and is timed apart from them (Qwen3-VL's DeepStack
     *     mergers, {@code "deepstack."}): its time is neither the layer before nor the one after; null for none
     */
    LayerClock(String prefix, String sidePrefix, Runnable sync) {
        this.prefix = prefix;
        this.sidePrefix = sidePrefix;
        this.sync = sync;
    }

    /** Call right before the pass. */
    void start() {
        starts.clear();
        marks.clear();
        sides.clear();
        start = System.nanoTime();
        firstLayerStart = -1;
        last = -1;
    }

    @Override
    public void accept(String name, Tensor t) {
        sync.run();
        long now = System.nanoTime();
        if (name.startsWith(prefix)) {
            if (marks.isEmpty() && firstLayerStart < 0) {
                firstLayerStart = start;
            }
            starts.add(last < 0 ? firstLayerStart : last);
            marks.add(now);
            last = now;
        } else if (sidePrefix != null && name.startsWith(sidePrefix) && !marks.isEmpty()) {
            sides.add((now - last) / 1e9);
            last = now;
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
        for (int i = 0; i < out.length; i++) {
            out[i] = (marks.get(i) - starts.get(i)) / 1e9;
        }
        return out;
    }

    /** Seconds of each side tap's work (from the layer or side work before it), in order. */
    double[] sides() {
        return sides.stream().mapToDouble(Double::doubleValue).toArray();
    }

    /** Seconds from the last layer's (or side work's) end to {@code end}, a {@link System#nanoTime()} after the pass. */
    double afterLayers(long end) {
        return (end - (last < 0 ? firstLayerStart : last)) / 1e9;
    }
}
