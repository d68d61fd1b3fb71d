/**
 * The GPU suite's own launcher: {@code bin/jepd gpu-check} packs the test jars with a jlink'ed Java runtime for a
 * machine without Maven, and its {@code run.sh} runs each phase of the suite through {@link
 * dev.jepd.gpu.GpuSuiteMain}, which writes one line per test to a report file.
 */
package dev.jepd.gpu;
