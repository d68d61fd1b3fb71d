package dev.jepd.engine.generate;

/** The facts about an engine a route needs: {@code max_model_len} for {@code /v1/models}. */
public record EngineInfo(int maxModelLen) {}
