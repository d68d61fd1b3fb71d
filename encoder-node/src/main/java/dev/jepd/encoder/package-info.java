/**
 * The encoder node: only the vision tower. {@link dev.jepd.encoder.EncoderAssembly} composes it; its
 * {@code EncodeRoute} loads and keys a request's images and {@link dev.jepd.encoder.EncoderRunner} encodes
 * the ones the encoder cache lacks (through the batcher shared with PD nodes) and saves them before answering.
 */
package dev.jepd.encoder;
