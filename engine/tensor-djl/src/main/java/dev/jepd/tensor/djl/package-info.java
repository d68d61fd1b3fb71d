/**
 * The DJL (PyTorch engine, libtorch CPU) implementation of the tensor SPI. DJL runs offline: the native
 * libtorch comes from {@code pytorch-native-cpu} on the classpath and is extracted under
 * {@code DJL_CACHE_DIR}. Only float32 and int64 tensors are made here — a BFLOAT16 tensor aborts the JVM in
 * this JNI build, so {@link dev.jepd.tensor.djl.DjlBackend#load} widens bf16 and f16 weights to float32
 * from the mapped checkpoint bytes into a buffer of its own.
 */
package dev.jepd.tensor.djl;
