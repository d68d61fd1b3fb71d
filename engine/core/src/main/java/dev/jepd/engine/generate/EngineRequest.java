package dev.jepd.engine.generate;

import java.util.Objects;

/** A runnable prompt and what happens to its KV across nodes. */
public record EngineRequest(GenerationRequest generation, KvHandoff kv) {
    public EngineRequest {
        Objects.requireNonNull(generation, "generation");
        Objects.requireNonNull(kv, "kv");
    }

    /** A request that computes its own KV and frees it at the end. */
    public static EngineRequest local(GenerationRequest generation) {
        return new EngineRequest(generation, KvHandoff.NONE);
    }

    public String id() {
        return generation.id();
    }
}
