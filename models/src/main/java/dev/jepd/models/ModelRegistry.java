package dev.jepd.models;

import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.ModelLoadException;
import dev.jepd.engine.model.MultimodalModel;
import dev.jepd.models.qwen25vl.Qwen25VlArchitecture;
import dev.jepd.models.qwen2vl.Qwen2VlArchitecture;
import dev.jepd.models.qwen3vl.Qwen3VlArchitecture;
import dev.jepd.tensor.TensorBackend;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/** config.json {@code architectures} → the code that loads it. */
public final class ModelRegistry {
    /** Loads one architecture from a snapshot. */
    @FunctionalInterface
    public interface Loader {
        MultimodalModel load(HfSnapshot snapshot, TensorBackend backend, ModelParts parts);
    }

    private static final Map<String, Loader> LOADERS = new LinkedHashMap<>();
    /** Architectures vLLM serves in this family that JEPD does not implement yet: a clearer error. */
    private static final Set<String> PLANNED = Set.of("Qwen3VLMoeForConditionalGeneration");

    static {
        LOADERS.put("Qwen2_5_VLForConditionalGeneration", Qwen25VlArchitecture::load);
        LOADERS.put(Qwen2VlArchitecture.NAME, Qwen2VlArchitecture::load);
        LOADERS.put(Qwen3VlArchitecture.NAME, Qwen3VlArchitecture::load);
    }

    private ModelRegistry() {}

    /** The architectures JEPD implements; each has a tiny fixture and goldens (ModelRegistryFixturesTest). */
    public static Set<String> supported() {
        return LOADERS.keySet();
    }

    /** Architectures named here only to fail with "not implemented yet"; none of them loads. */
    public static Set<String> planned() {
        return PLANNED;
    }

    public static MultimodalModel load(HfSnapshot snapshot, TensorBackend backend, ModelParts parts) {
        for (String arch : snapshot.architectures()) {
            Loader l = LOADERS.get(arch);
            if (l != null) {
                return l.load(snapshot, backend, parts);
            }
        }
        for (String arch : snapshot.architectures()) {
            if (PLANNED.contains(arch)) {
                throw new ModelLoadException("architecture " + arch + " (in " + snapshot.dir()
                        + "/config.json) is not implemented in JEPD yet; supported: " + supported());
            }
        }
        throw new ModelLoadException("unknown architectures " + snapshot.architectures() + " in " + snapshot.dir()
                + "/config.json; supported: " + supported());
    }
}
