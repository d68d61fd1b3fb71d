/**
 * The DJL (PyTorch engine, libtorch CPU) implementation of the tensor SPI. DJL runs offline: the native
 * libtorch comes from {@code pytorch-native-cpu} on the classpath and is extracted under
 * {@code DJL_CACHE_DIR}. Only float32 and int64 tensors are made here — a BFLOAT16 tensor aborts the JVM in
 * this JNI build, so bf16 weights are widened in Java before they arrive.
 */
package dev.jepd.tensor.djl;
