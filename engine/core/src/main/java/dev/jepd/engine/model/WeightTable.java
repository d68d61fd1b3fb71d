package dev.jepd.engine.model;

import dev.jepd.engine.safetensors.TensorSource;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One component's checkpoint tensors as data: top-level names and layer-relative names (e.g.
 * {@code self_attn.q_proj.weight} under {@code model.layers.{}.}), each with its shape. The same table checks
 * a checkpoint ({@link #specs()} through {@link WeightLoader}), binds the loaded tensors ({@link Bound}), and
 * drives a fixture writer ({@link #expand()}), so the three cannot disagree.
 *
 * @param layerPrefix the prefix of every per-layer name, {@code {}} standing for the layer index
 * @param layers how many layers the component has
 */
public record WeightTable(String layerPrefix, int layers, List<Entry> top, List<Entry> perLayer) {
    /** One tensor: its name (top-level, or relative to {@link #layerPrefix()}) and shape. */
    public record Entry(String name, long[] shape) {
        @Override
        public String toString() {
            return name + Arrays.toString(shape);
        }
    }

    public WeightTable {
        if (!layerPrefix.contains("{}")) {
            throw new IllegalArgumentException("layer prefix without {}: " + layerPrefix);
        }
        top = List.copyOf(top);
        perLayer = List.copyOf(perLayer);
    }

    public static Builder builder(String layerPrefix, int layers) {
        return new Builder(layerPrefix, layers);
    }

    /** The checkpoint name of a per-layer entry in layer {@code layer}. */
    public String layerName(int layer, String relative) {
        return layerPrefix.replace("{}", Integer.toString(layer)) + relative;
    }

    /** The table as the loader's specs: top-level entries first, then one per-layer spec per entry. */
    public List<WeightSpec> specs() {
        List<WeightSpec> out = new ArrayList<>(top.size() + perLayer.size());
        for (Entry e : top) {
            out.add(WeightSpec.single(e.name(), e.shape()));
        }
        for (Entry e : perLayer) {
            out.add(WeightSpec.perLayer(layers, layerPrefix + e.name(), e.shape()));
        }
        return out;
    }

    /** Every concrete tensor name with its shape. */
    public List<WeightSpec.Expected> expand() {
        List<WeightSpec.Expected> out = new ArrayList<>();
        for (WeightSpec s : specs()) {
            out.addAll(s.expand());
        }
        return out;
    }

    /** Checks the checkpoint against the table (one error for every problem), then loads and binds it. */
    public Bound load(WeightLoader loader, TensorSource src, Ops ops, String what) {
        return new Bound(loader.load(src, specs(), ops, what));
    }

    /** Loaded tensors, looked up by the table's own names; asking for a name not in the table is a bug. */
    public final class Bound {
        private final Map<String, Tensor> byName;

        private Bound(Map<String, Tensor> byName) {
            this.byName = byName;
        }

        /** A top-level tensor. */
        public Tensor top(String name) {
            return get(name);
        }

        /** A per-layer tensor of layer {@code layer}. */
        public Tensor layer(int layer, String relative) {
            if (layer < 0 || layer >= layers) {
                throw new IndexOutOfBoundsException("layer " + layer + " of " + layers);
            }
            return get(layerName(layer, relative));
        }

        private Tensor get(String name) {
            Tensor t = byName.get(name);
            if (t == null) {
                throw new IllegalStateException("weight " + name + " is not in the table (or was not loaded)");
            }
            return t;
        }
    }

    /** Collects entries in declaration order. */
    public static final class Builder {
        private final String layerPrefix;
        private final int layers;
        private final Map<String, Entry> top = new LinkedHashMap<>();
        private final Map<String, Entry> perLayer = new LinkedHashMap<>();

        private Builder(String layerPrefix, int layers) {
            this.layerPrefix = layerPrefix;
            this.layers = layers;
        }

        public Builder top(String name, long... shape) {
            add(top, name, shape);
            return this;
        }

        public Builder layer(String relative, long... shape) {
            add(perLayer, relative, shape);
            return this;
        }

        private static void add(Map<String, Entry> into, String name, long[] shape) {
            if (into.putIfAbsent(name, new Entry(name, shape.clone())) != null) {
                throw new IllegalArgumentException("weight " + name + " declared twice");
            }
        }

        public WeightTable build() {
            return new WeightTable(layerPrefix, layers, List.copyOf(top.values()), List.copyOf(perLayer.values()));
        }
    }
}
