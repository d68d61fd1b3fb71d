/**
 * The encoder node ({@code ec_producer}): runs only the vision tower for every image of a request and writes
 * each image's embeddings to the encoder cache before answering, as vLLM's encoder instance does.
 */
package dev.jepd.encoder;
