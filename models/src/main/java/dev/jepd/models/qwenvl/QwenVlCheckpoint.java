package dev.jepd.models.qwenvl;

import dev.jepd.engine.model.WeightLoader;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Where a Qwen-VL checkpoint (Qwen2-VL, Qwen2.5-VL; Qwen3-VL's use transformers 5's spelling below) keeps its
 * two components, as a prefix map onto
 * the names the components' tables use: the vision tower under {@value #VISION}, the text decoder under
 * Qwen2ForCausalLM's {@code model.} and {@code lm_head.}.
 *
 * <p>Both of Hugging Face's layouts load, as {@code Qwen2_5_VLForConditionalGeneration}'s
 * {@code _checkpoint_conversion_mapping} accepts them ({@code ^visual → model.visual},
 * {@code ^model(?!\.(language_model|visual)) → model.language_model}): the published flat one
 * ({@code visual.}, {@code model.}, {@code lm_head.}) and transformers 5's ({@code model.visual.},
 * {@code model.language_model.}, {@code lm_head.}); so does the older {@code language_model.model.} /
 * {@code language_model.lm_head.} nesting.
 */
public final class QwenVlCheckpoint {
    /** The vision tower's prefix in the published layout. */
    public static final String VISION = "visual.";

    /** Stored prefix → the prefix the tables use, tried in order (the longest, most specific first). */
    private static final Map<String, String> PREFIXES = prefixes();

    private static final Pattern ROTARY_BUFFER = Pattern.compile(".*\\.rotary_emb\\.inv_freq");
    private static final Pattern TEXT_PART =
            Pattern.compile("(model\\.language_model\\.|language_model\\.|model\\.(?!visual\\.)|lm_head\\.).*");
    private static final Pattern VISION_PART = Pattern.compile("(model\\.visual\\.|visual\\.).*");

    private QwenVlCheckpoint() {}

    private static Map<String, String> prefixes() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("model.language_model.", "model.");
        m.put("model.visual.", VISION);
        m.put("language_model.model.", "model.");
        m.put("language_model.lm_head.", "lm_head.");
        return m;
    }

    /**
     * A loader for the vision tower alone. The text decoder's tensors are ignored, not "unexpected", so an
     * encoder-only node loads the tower from a full checkpoint.
     */
    public static WeightLoader visionLoader() {
        return new WeightLoader(PREFIXES, List.of(ROTARY_BUFFER, TEXT_PART));
    }

    /** A loader for the text decoder alone; the vision tower's tensors are ignored. */
    public static WeightLoader languageLoader() {
        return new WeightLoader(PREFIXES, List.of(ROTARY_BUFFER, VISION_PART));
    }
}
