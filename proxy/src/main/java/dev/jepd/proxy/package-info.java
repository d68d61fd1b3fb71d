/**
 * The JEPD proxy: the OpenAI API in front of encoder, prefill and decode nodes, with the flags of vLLM's
 * {@code disagg_epd_proxy.py}. It depends only on light engine parts and never loads tensor libraries.
 */
package dev.jepd.proxy;
