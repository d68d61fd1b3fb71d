package dev.jepd.engine.model;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * One expected checkpoint tensor: a name template ({@code {}} stands for the layer index) and its shape.
 * Architectures declare their weights as lists of these, the way vLLM's and gpt-fast's weight maps do.
 */
public record WeightSpec(String template, long[] shape, int layers) {
    /** A tensor that occurs once. */
    public static WeightSpec single(String name, long... shape) {
        return new WeightSpec(name, shape, 0);
    }

    /** A tensor that occurs once per layer, {@code {}} in the template standing for the layer index. */
    public static WeightSpec perLayer(int layers, String template, long... shape) {
        if (!template.contains("{}")) {
            throw new IllegalArgumentException("per-layer template without {}: " + template);
        }
        return new WeightSpec(template, shape, layers);
    }

    public String name(int layer) {
        return template.replace("{}", Integer.toString(layer));
    }

    /** Every concrete name this spec stands for, with its shape. */
    public List<Expected> expand() {
        if (layers == 0) {
            return List.of(new Expected(template, shape));
        }
        List<Expected> out = new ArrayList<>(layers);
        for (int i = 0; i < layers; i++) {
            out.add(new Expected(name(i), shape));
        }
        return out;
    }

    /** A concrete expected tensor. */
    public record Expected(String name, long[] shape) {
        @Override
        public String toString() {
            return name + Arrays.toString(shape);
        }
    }
}
