package dev.jepd.engine.model;

import dev.jepd.engine.safetensors.TensorInfo;
import dev.jepd.engine.safetensors.TensorSource;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Pattern;

/**
 * Checks a checkpoint against the declared weights and loads them as float32 tensors. The check comes
 * first and is complete: one {@link WeightLoadException} names every missing, unexpected and mis-shaped
 * tensor, with the file it lives in and the shape expected, before a byte of weights is read.
 */
public final class WeightLoader {
    private final Map<String, String> prefixAliases;
    private final List<Pattern> ignored;

    /**
     * @param prefixAliases checkpoint name prefixes to rewrite to the canonical ones (e.g. transformers 5's
     *     {@code model.language_model.} to {@code model.}), tried in order
     * @param ignored checkpoint names to skip silently (e.g. stale rotary {@code inv_freq} buffers)
     */
    public WeightLoader(Map<String, String> prefixAliases, List<Pattern> ignored) {
        this.prefixAliases = new LinkedHashMap<>(prefixAliases);
        this.ignored = List.copyOf(ignored);
    }

    /** Canonical name → checkpoint name, for every tensor the checkpoint holds and we do not ignore. */
    private Map<String, String> canonicalNames(TensorSource src) {
        Map<String, String> out = new HashMap<>();
        for (String stored : src.names()) {
            if (ignored.stream().anyMatch(p -> p.matcher(stored).matches())) {
                continue;
            }
            String canonical = stored;
            for (var alias : prefixAliases.entrySet()) {
                if (stored.startsWith(alias.getKey())) {
                    canonical =
                            alias.getValue() + stored.substring(alias.getKey().length());
                    break;
                }
            }
            out.put(canonical, stored);
        }
        return out;
    }

    /** Verifies names and shapes; returns canonical → stored name for the expected tensors. */
    public Map<String, String> check(TensorSource src, List<WeightSpec> specs, String what) {
        Map<String, String> present = canonicalNames(src);
        List<String> missing = new ArrayList<>();
        List<String> misShaped = new ArrayList<>();
        Map<String, String> resolved = new LinkedHashMap<>();
        TreeSet<String> unexpected = new TreeSet<>(present.keySet());
        for (WeightSpec spec : specs) {
            for (WeightSpec.Expected e : spec.expand()) {
                String stored = present.get(e.name());
                unexpected.remove(e.name());
                if (stored == null) {
                    missing.add(e.toString());
                    continue;
                }
                TensorInfo info = src.info(stored);
                if (!Arrays.equals(info.shape(), e.shape())) {
                    misShaped.add(stored + " in " + src.location(stored) + ": expected " + Arrays.toString(e.shape())
                            + ", found " + info.shapeString());
                } else if (!info.dtype().isFloatingPoint()) {
                    misShaped.add(stored + " in " + src.location(stored) + ": expected a floating-point dtype, found "
                            + info.dtype());
                }
                resolved.put(e.name(), stored);
            }
        }
        if (!missing.isEmpty() || !misShaped.isEmpty() || !unexpected.isEmpty()) {
            StringBuilder b = new StringBuilder("cannot load " + what + ":");
            if (!missing.isEmpty()) {
                b.append("\n  missing (").append(missing.size()).append("): ").append(String.join(", ", missing));
            }
            if (!misShaped.isEmpty()) {
                b.append("\n  wrong shape (").append(misShaped.size()).append("): ");
                b.append(String.join("; ", misShaped));
            }
            if (!unexpected.isEmpty()) {
                List<String> named = unexpected.stream()
                        .map(n -> present.get(n) + " (" + src.location(present.get(n)) + ")")
                        .toList();
                b.append("\n  unexpected (")
                        .append(unexpected.size())
                        .append("): ")
                        .append(String.join(", ", named));
            }
            throw new WeightLoadException(b.toString());
        }
        return resolved;
    }

    /**
     * Checks, then loads every expected tensor into the scope of {@code ops}, straight from the
     * mapped checkpoint bytes ({@link Ops#load}: the backend widens bf16/f16 to its compute dtype);
     * only dtypes the tensor SPI has no type for (F64) go through a float[] first. Returns canonical name →
     * tensor.
     */
    public Map<String, Tensor> load(TensorSource src, List<WeightSpec> specs, Ops ops, String what) {
        Map<String, String> resolved = check(src, specs, what);
        Map<String, Tensor> out = new HashMap<>();
        for (var e : resolved.entrySet()) {
            TensorInfo info = src.info(e.getValue());
            Tensor t = info.dtype()
                    .tensorType()
                    .map(dt -> ops.load(src.segment(e.getValue()), dt, info.shape()))
                    .orElseGet(() -> ops.fromFloats(src.readFloats(e.getValue()), info.shape()));
            out.put(e.getKey(), t);
        }
        return out;
    }
}
