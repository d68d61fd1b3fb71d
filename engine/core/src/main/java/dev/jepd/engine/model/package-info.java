/**
 * What the engine needs from a model, independent of the architecture: weights declared as data
 * (one layer-relative {@link dev.jepd.engine.model.WeightTable} per component, expanded to
 * {@link dev.jepd.engine.model.WeightSpec}s) and loaded with complete error reporting
 * ({@link dev.jepd.engine.model.WeightLoader}), the Hugging Face snapshot layout
 * ({@link dev.jepd.engine.model.HfSnapshot}), and the forward interface the generator and scheduler drive
 * ({@link dev.jepd.engine.model.CausalLm}, {@link dev.jepd.engine.model.SequenceChunk}).
 */
package dev.jepd.engine.model;
