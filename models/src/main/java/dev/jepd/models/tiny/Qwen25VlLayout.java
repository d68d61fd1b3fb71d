package dev.jepd.models.tiny;

import dev.jepd.engine.model.WeightSpec;
import dev.jepd.models.qwen2.Qwen2Weights;
import dev.jepd.models.qwen25vl.Qwen25VlConfig;
import dev.jepd.models.qwen25vl.Qwen25VlWeights;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Pattern;

/**
 * How the generator initialises each tensor of a Qwen2.5-VL checkpoint. The tensors themselves (names and
 * shapes) are the model's own weight tables ({@link Qwen25VlWeights#visionTable},
 * {@link Qwen25VlWeights#languageTable}), the ones the loader checks and binds, so the fixture cannot drift
 * from what the model loads. {@link #INIT} is a table of name patterns (kind, scale) over the published
 * layout; {@code {}} in a name stands for a layer index.
 *
 * <p>Scales reproduce the golden tiny checkpoint and carry over to any dimensions: {@code fanIn(g)} means
 * {@code g / sqrt(fan_in)} with {@code fan_in = numel / shape[0]} (e.g. 1/sqrt(1176) for the patch embedding,
 * 1.5/sqrt(80) for the tiny vision qkv), {@code constant(s)} a fixed scale (embeddings, biases), {@code norm(s)}
 * norm weights {@code 1 + u * s}. The untied {@code lm_head.weight} gets the embedding's 0.5, so an untied
 * model's logits have the same statistics as the tied one's.
 */
public final class Qwen25VlLayout {
    /** One row of the init table; {@code fanInScaled} divides {@code gain} by sqrt(fan_in). */
    record InitRule(String template, Pattern pattern, TensorSpec.Kind kind, double gain, boolean fanInScaled) {
        static InitRule fanIn(String template, double gain) {
            return new InitRule(template, compile(template), TensorSpec.Kind.W, gain, true);
        }

        static InitRule constant(String template, double scale) {
            return new InitRule(template, compile(template), TensorSpec.Kind.W, scale, false);
        }

        static InitRule norm(String template, double scale) {
            return new InitRule(template, compile(template), TensorSpec.Kind.N, scale, false);
        }

        private static Pattern compile(String template) {
            return Pattern.compile(Pattern.quote(template).replace("{}", "\\E\\d+\\Q"));
        }

        double scale(long[] shape) {
            if (!fanInScaled) {
                return gain;
            }
            long fanIn = 1;
            for (int i = 1; i < shape.length; i++) {
                fanIn *= shape[i];
            }
            return gain / Math.sqrt(fanIn);
        }
    }

    public static final String LM_HEAD = Qwen2Weights.LM_HEAD;

    static final List<InitRule> INIT = List.of(
            InitRule.constant(Qwen2Weights.EMBED, 0.5),
            InitRule.constant(LM_HEAD, 0.5),
            InitRule.norm(text(Qwen2Weights.IN_NORM), 0.25),
            InitRule.norm(text(Qwen2Weights.POST_NORM), 0.25),
            InitRule.norm(Qwen2Weights.FINAL_NORM, 0.25),
            InitRule.fanIn(text(Qwen2Weights.Q_W), 1.5),
            InitRule.fanIn(text(Qwen2Weights.K_W), 1.5),
            InitRule.fanIn(text(Qwen2Weights.V_W), 1.0),
            InitRule.constant(text(Qwen2Weights.Q_B), 0.2),
            InitRule.constant(text(Qwen2Weights.K_B), 0.2),
            InitRule.constant(text(Qwen2Weights.V_B), 0.2),
            InitRule.fanIn(text(Qwen2Weights.O_W), 3.0),
            InitRule.fanIn(text(Qwen2Weights.GATE_W), 1.0),
            InitRule.fanIn(text(Qwen2Weights.UP_W), 1.0),
            InitRule.fanIn(text(Qwen2Weights.DOWN_W), 3.0),
            InitRule.fanIn(Qwen25VlWeights.PATCH_EMBED, 1.0),
            InitRule.norm(vision(Qwen25VlWeights.NORM1), 0.25),
            InitRule.norm(vision(Qwen25VlWeights.NORM2), 0.25),
            InitRule.fanIn(vision(Qwen25VlWeights.QKV_W), 1.5),
            InitRule.constant(vision(Qwen25VlWeights.QKV_B), 0.2),
            InitRule.fanIn(vision(Qwen25VlWeights.PROJ_W), 1.0),
            InitRule.constant(vision(Qwen25VlWeights.PROJ_B), 0.1),
            InitRule.fanIn(vision(Qwen25VlWeights.GATE_W), 1.0),
            InitRule.fanIn(vision(Qwen25VlWeights.UP_W), 1.0),
            InitRule.fanIn(vision(Qwen25VlWeights.DOWN_W), 1.0),
            InitRule.constant(vision(Qwen25VlWeights.GATE_B), 0.1),
            InitRule.constant(vision(Qwen25VlWeights.UP_B), 0.1),
            InitRule.constant(vision(Qwen25VlWeights.DOWN_B), 0.1),
            InitRule.norm(Qwen25VlWeights.MERGER_NORM, 0.25),
            InitRule.fanIn(Qwen25VlWeights.MERGER_FC1_W, 1.0),
            InitRule.constant(Qwen25VlWeights.MERGER_FC1_B, 0.1),
            InitRule.fanIn(Qwen25VlWeights.MERGER_FC2_W, 2.0),
            InitRule.constant(Qwen25VlWeights.MERGER_FC2_B, 0.1));

    private Qwen25VlLayout() {}

    /** Every tensor of the checkpoint, sorted by name (the order of the file). */
    public static List<TensorSpec> tensors(Qwen25VlConfig config) {
        List<TensorSpec> out = new ArrayList<>();
        for (WeightSpec.Expected e : Qwen25VlWeights.languageTable(config).expand()) {
            out.add(spec(e.name(), e.shape()));
        }
        for (WeightSpec.Expected e : Qwen25VlWeights.visionTable(config).expand()) {
            out.add(spec(e.name(), e.shape()));
        }
        out.sort(Comparator.comparing(TensorSpec::name));
        return out;
    }

    /** The init rule for a name: exactly one must match, else the table is wrong. */
    static TensorSpec spec(String name, long[] shape) {
        return match(INIT, name, shape);
    }

    /** As {@link #spec(String, long[])} over the text rules of {@link #INIT} and {@code extra}. */
    static TensorSpec spec(List<InitRule> extra, String name, long[] shape) {
        List<InitRule> rules = new ArrayList<>(extra);
        INIT.stream()
                .filter(r -> !r.template().startsWith(dev.jepd.models.qwenvl.QwenVlCheckpoint.VISION))
                .forEach(rules::add);
        return match(rules, name, shape);
    }

    private static TensorSpec match(List<InitRule> rules, String name, long[] shape) {
        List<InitRule> matching =
                rules.stream().filter(r -> r.pattern().matcher(name).matches()).toList();
        if (matching.size() != 1) {
            throw new IllegalStateException(
                    "tensor " + name + " matches " + matching.size() + " init rules (needs exactly one): "
                            + matching.stream().map(InitRule::template).toList());
        }
        InitRule r = matching.getFirst();
        return new TensorSpec(name, shape, r.kind(), r.scale(shape));
    }

    private static String text(String relative) {
        return Qwen2Weights.LAYERS + relative;
    }

    private static String vision(String relative) {
        return Qwen25VlWeights.BLOCKS + relative;
    }
}
