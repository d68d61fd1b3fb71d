/**
 * The PD node: the language model behind the OpenAI API. HTTP worker threads parse requests, resolve images
 * (encoder cache or local encode) and wait on a per-request event queue; one {@link dev.jepd.pd.EngineLoop}
 * thread steps the engine for all of them (continuous batching).
 */
package dev.jepd.pd;
