/**
 * What the engine needs from a model, independent of the architecture: weights declared as data
 * ({@link dev.jepd.engine.model.WeightSpec}) and loaded with complete error reporting
 * ({@link dev.jepd.engine.model.WeightLoader}), the Hugging Face snapshot layout
 * ({@link dev.jepd.engine.model.HfSnapshot}), and the forward interface the generator and scheduler drive
 * ({@link dev.jepd.engine.model.CausalLm}, {@link dev.jepd.engine.model.SequenceChunk}).
 */
package dev.jepd.engine.model;
