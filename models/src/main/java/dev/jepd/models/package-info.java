/**
 * The model registry: config.json {@code architectures} → implementation, as vLLM's
 * {@code models/registry.py}. Each architecture lives in its own package with its config record, its
 * weight layout as data, and a tiny deterministic fixture ({@code tiny}) that the tests and the demo use.
 */
package dev.jepd.models;
