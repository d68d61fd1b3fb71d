/**
 * {@code jepd bench model}: throughput of the vision tower, LM prefill and LM decode through the real
 * engine path ({@link dev.jepd.serving.ModelRuntime}, {@link dev.jepd.engine.generate.EngineCore}),
 * printed next to what the same tensor backend reaches on plain GEMM, GEMV and streaming ops on this
 * machine, so every number comes with its ceiling. FLOPs and bytes are counted analytically from the
 * config ({@link dev.jepd.bench.QwenVlWork}); per-layer times come from the models' activation
 * taps, so a run with a few layers extrapolates to the full model. Results belong in docs/PERF.md, never
 * in assertions.
 */
package dev.jepd.bench;
