/**
 * The PD node: the language model behind the OpenAI API. {@link dev.jepd.pd.PdAssembly} composes it: small
 * routes ({@code ChatRoute}, {@code CompletionRoute}, {@code ModelsRoute}) parse requests, resolve images
 * (encoder cache first, local encode on a miss) and hand a prepared request to the engine through
 * {@link dev.jepd.engine.generate.EngineClient}; HTTP worker threads then wait on a per-request event queue
 * while one {@link dev.jepd.pd.EngineLoop} thread steps the engine for all of them (continuous batching).
 */
package dev.jepd.pd;
