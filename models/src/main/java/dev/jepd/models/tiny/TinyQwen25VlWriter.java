package dev.jepd.models.tiny;

import com.fasterxml.jackson.core.util.DefaultIndenter;
import com.fasterxml.jackson.core.util.DefaultPrettyPrinter;
import com.fasterxml.jackson.core.util.Separators;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.ObjectWriter;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.jepd.engine.io.AtomicFiles;
import dev.jepd.engine.safetensors.Checkpoint;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.models.qwen25vl.Qwen25VlConfig;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Writes a deterministic Qwen2.5-VL snapshot directory in Hugging Face's layout: config.json,
 * generation_config.json, preprocessor_config.json, tokenizer.json, tokenizer_config.json and the weights
 * (one file, or shards with {@code model.safetensors.index.json}).
 *
 * <p>With {@link Options#golden()} the result is byte-identical to shared/golden/tiny-qwen2.5-vl. The
 * non-weight files are the golden's own, shipped as resources under {@value #RESOURCES}; a variant's
 * config.json is the golden config with the variant's changes applied. Tensor names and shapes are derived
 * from that config by the model's own weight tables ({@link Qwen25VlLayout}), so the fixture, the config and
 * the loader cannot disagree.
 */
public final class TinyQwen25VlWriter {
    public static final String RESOURCES = "/dev/jepd/models/tiny/";
    public static final String CONFIG = "config.json";
    /** Copied verbatim for every variant. */
    public static final List<String> COPIED_FILES =
            List.of("generation_config.json", "preprocessor_config.json", "tokenizer.json", "tokenizer_config.json");

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final Pattern SHARD_NAME = Pattern.compile("model-\\d{5}-of-\\d{5}\\.safetensors");

    /** The dimensions to write. */
    public sealed interface ModelShape permits Tiny, Qwen3BShaped {}

    /** The golden tiny model: text hidden 64, 2 layers; vision hidden 80, 4 blocks. */
    public record Tiny() implements ModelShape {}

    /**
     * Qwen2.5-VL-3B's dimensions (text hidden 2048, intermediate 11008, 16 heads, 2 KV heads, vocab 151936,
     * M-RoPE sections [16, 24, 24], rope theta 1e6; vision hidden 1280, intermediate 3420, 16 heads, out 2048,
     * window 112, full attention in blocks 7, 15, 23, 31) with fewer layers, for benchmarks. The real model
     * has 36 text layers and 32 vision blocks. At BF16 the embedding alone is 622 MB (1.24 GB at F32); each
     * text layer adds 155 MB (311 MB) and each vision block 39 MB (79 MB).
     */
    public record Qwen3BShaped(int textLayers, int visionLayers) implements ModelShape {
        public Qwen3BShaped {
            if (textLayers < 1 || visionLayers < 1) {
                throw new IllegalArgumentException(
                        "a 3B-shaped model needs at least one text layer and one vision block, got " + textLayers
                                + " and " + visionLayers);
            }
        }
    }

    /**
     * What to write.
     *
     * @param dtype BF16 (the golden's) or F32 (the bf16 values widened, so both load to identical floats)
     * @param shards 1 for {@code model.safetensors}; more for {@code model-0000i-of-0000K.safetensors} + index
     * @param tiedEmbeddings false adds {@code lm_head.weight} and sets {@code tie_word_embeddings} false
     */
    public record Options(DType dtype, int shards, boolean tiedEmbeddings, ModelShape shape) {
        public Options {
            if (dtype != DType.BF16 && dtype != DType.F32) {
                throw new IllegalArgumentException("generated checkpoints are BF16 or F32, not " + dtype);
            }
            if (shards < 1) {
                throw new IllegalArgumentException("shards must be at least 1, got " + shards);
            }
        }

        /** The golden tiny checkpoint: BF16, one file, tied embeddings. */
        public static Options golden() {
            return new Options(DType.BF16, 1, true, new Tiny());
        }

        public Options withDtype(DType d) {
            return new Options(d, shards, tiedEmbeddings, shape);
        }

        public Options withShards(int k) {
            return new Options(dtype, k, tiedEmbeddings, shape);
        }

        public Options withTiedEmbeddings(boolean tied) {
            return new Options(dtype, shards, tied, shape);
        }

        public Options withShape(ModelShape s) {
            return new Options(dtype, shards, tiedEmbeddings, s);
        }

        /** Whether config.json is the golden one unchanged. */
        boolean goldenConfig() {
            return dtype == DType.BF16 && tiedEmbeddings && shape instanceof Tiny;
        }
    }

    private TinyQwen25VlWriter() {}

    /** The config.json for {@code options}: the golden config with the variant's changes. */
    public static ObjectNode config(Options options) {
        ObjectNode c = (ObjectNode) readTree(resource(CONFIG));
        if (options.dtype() == DType.F32) {
            c.put("torch_dtype", "float32");
        }
        if (!options.tiedEmbeddings()) {
            c.put("tie_word_embeddings", false);
        }
        if (options.shape() instanceof Qwen3BShaped s) {
            c.put("hidden_size", 2048);
            c.put("intermediate_size", 11008);
            c.put("num_attention_heads", 16);
            c.put("num_key_value_heads", 2);
            c.put("num_hidden_layers", s.textLayers());
            c.put("vocab_size", 151936);
            c.put("rope_theta", 1000000.0);
            ints(((ObjectNode) c.get("rope_scaling")).putArray("mrope_section"), 16, 24, 24);
            ObjectNode v = (ObjectNode) c.get("vision_config");
            v.put("depth", s.visionLayers());
            v.put("hidden_size", 1280);
            v.put("intermediate_size", 3420);
            v.put("num_heads", 16);
            v.put("out_hidden_size", 2048);
            v.put("window_size", 112);
            // The 3B's full-attention blocks, kept even past a shortened depth (indexes beyond it never match).
            ints(v.putArray("fullatt_block_indexes"), 7, 15, 23, 31);
        }
        return c;
    }

    /** Every tensor {@code options} produces, sorted by name. */
    public static List<TensorSpec> tensors(Options options) {
        try {
            return Qwen25VlLayout.tensors(Qwen25VlConfig.fromJson(config(options)));
        } catch (IOException e) {
            throw new UncheckedIOException("the generated config.json does not parse", e);
        }
    }

    /** Writes the snapshot into {@code dir} (created if needed), replacing an earlier one; returns {@code dir}. */
    public static Path write(Path dir, Options options) throws IOException {
        Files.createDirectories(dir);
        byte[] config = options.goldenConfig() ? resource(CONFIG) : pretty(config(options));
        AtomicFiles.write(dir.resolve(CONFIG), config);
        for (String f : COPIED_FILES) {
            AtomicFiles.write(dir.resolve(f), resource(f));
        }
        List<TensorSpec> tensors = tensors(options);
        List<String> weightFiles = new ArrayList<>();
        if (options.shards() == 1) {
            GeneratedSafetensors.write(
                    dir.resolve(Checkpoint.SINGLE), tensors, options.dtype(), CounterWeights.GOLDEN_SEED);
            weightFiles.add(Checkpoint.SINGLE);
        } else {
            List<List<TensorSpec>> shards = shard(tensors, options.shards(), options.dtype());
            Map<String, String> weightMap = new TreeMap<>();
            for (int i = 0; i < shards.size(); i++) {
                String file = String.format("model-%05d-of-%05d.safetensors", i + 1, shards.size());
                GeneratedSafetensors.write(
                        dir.resolve(file), shards.get(i), options.dtype(), CounterWeights.GOLDEN_SEED);
                shards.get(i).forEach(t -> weightMap.put(t.name(), file));
                weightFiles.add(file);
            }
            ObjectNode index = JSON.createObjectNode();
            index.putObject("metadata").put("total_size", GeneratedSafetensors.dataBytes(tensors, options.dtype()));
            ObjectNode map = index.putObject("weight_map");
            weightMap.forEach(map::put);
            AtomicFiles.write(dir.resolve(Checkpoint.INDEX), pretty(index));
            weightFiles.add(Checkpoint.INDEX);
        }
        removeStaleWeights(dir, Set.copyOf(weightFiles));
        return dir;
    }

    /**
     * Splits the name-sorted tensors into {@code k} contiguous, non-empty groups of roughly equal bytes: a
     * shard is closed once it reaches {@code total / k}, or when the tensors left are just enough to give
     * every remaining shard one.
     */
    static List<List<TensorSpec>> shard(List<TensorSpec> sorted, int k, DType dtype) {
        if (k > sorted.size()) {
            throw new IllegalArgumentException(
                    "cannot split " + sorted.size() + " tensors into " + k + " non-empty shards");
        }
        long target = GeneratedSafetensors.dataBytes(sorted, dtype) / k;
        List<List<TensorSpec>> shards = new ArrayList<>();
        List<TensorSpec> current = new ArrayList<>();
        long bytes = 0;
        for (int i = 0; i < sorted.size(); i++) {
            TensorSpec t = sorted.get(i);
            current.add(t);
            bytes += t.numel() * dtype.byteSize();
            int shardsLeft = k - shards.size() - 1; // after the current one
            int tensorsLeft = sorted.size() - i - 1;
            boolean last = shardsLeft == 0;
            if (!last && (bytes >= target || tensorsLeft == shardsLeft)) {
                shards.add(current);
                current = new ArrayList<>();
                bytes = 0;
            }
        }
        shards.add(current);
        return shards;
    }

    private static void removeStaleWeights(Path dir, Set<String> keep) throws IOException {
        List<Path> stale;
        try (Stream<Path> s = Files.list(dir)) {
            stale = s.filter(p -> {
                        String n = p.getFileName().toString();
                        boolean weights = n.equals(Checkpoint.SINGLE)
                                || n.equals(Checkpoint.INDEX)
                                || SHARD_NAME.matcher(n).matches();
                        return weights && !keep.contains(n);
                    })
                    // The index first: while it exists, readers follow it to the old shards, still present.
                    .sorted((a, b) -> Boolean.compare(
                            !a.getFileName().toString().equals(Checkpoint.INDEX),
                            !b.getFileName().toString().equals(Checkpoint.INDEX)))
                    .toList();
        }
        for (Path p : stale) {
            Files.deleteIfExists(p);
        }
    }

    static byte[] resource(String name) {
        try (InputStream in = TinyQwen25VlWriter.class.getResourceAsStream(RESOURCES + name)) {
            if (in == null) {
                throw new IllegalStateException("classpath resource " + RESOURCES + name + " is missing");
            }
            return in.readAllBytes();
        } catch (IOException e) {
            throw new UncheckedIOException("reading classpath resource " + RESOURCES + name, e);
        }
    }

    private static com.fasterxml.jackson.databind.JsonNode readTree(byte[] json) {
        try {
            return JSON.readTree(json);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Indented like Python's {@code json.dumps(indent=2)}, which wrote the golden files. */
    static byte[] pretty(ObjectNode node) {
        DefaultPrettyPrinter printer = new DefaultPrettyPrinter()
                .withObjectIndenter(new DefaultIndenter("  ", "\n"))
                .withArrayIndenter(new DefaultIndenter("  ", "\n"))
                .withSeparators(
                        Separators.createDefaultInstance().withObjectFieldValueSpacing(Separators.Spacing.AFTER));
        ObjectWriter writer = JSON.writer(printer);
        try {
            return (writer.writeValueAsString(node) + "\n").getBytes(StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void ints(ArrayNode array, int... values) {
        for (int v : values) {
            array.add(v);
        }
    }
}
