/**
 * The OpenAI wire format as JEPD nodes speak it: parsing and validating {@code /v1/chat/completions} and
 * {@code /v1/completions} bodies into engine inputs (messages, image items with their {@code uuid},
 * sampling parameters), and building responses and stream chunks the way vLLM writes them.
 */
package dev.jepd.engine.api;
