/**
 * The safetensors format: an mmapped reader ({@link dev.jepd.engine.safetensors.SafetensorsFile}), a
 * writer that produces the byte layout Hugging Face's {@code safetensors} library writes, sharded
 * checkpoints ({@code model.safetensors.index.json}) and the dtype conversions (bf16/f16 to f32) that the
 * tensor backends need. Every malformed file is a {@link dev.jepd.engine.safetensors.SafetensorsException}
 * naming the file and the cause; nothing here can crash the JVM on bad input.
 */
package dev.jepd.engine.safetensors;
