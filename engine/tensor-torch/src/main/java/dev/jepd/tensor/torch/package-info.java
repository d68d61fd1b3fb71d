/**
 * The libtorch implementation of the tensor SPI, through libtorch's stable C ABI only: Panama downcalls into
 * the AOTInductor shim ({@code aoti_torch_*}) and {@code aoti_torch_call_dispatcher}, no JNI, no C++ symbols,
 * no DJL code. Raw bindings stay apart from the SPI: {@link dev.jepd.tensor.torch.LibTorchLocator} finds a
 * libtorch (explicit directory, {@code JEPD_PYTHON}'s torch, or the embedded {@code pytorch-native-cpu} jar's
 * {@code .so} files), {@link dev.jepd.tensor.torch.AotiShim} binds its functions and dtype/device codes, and
 * {@code StableIValues} encodes the dispatcher's stack. {@code TorchOps} implements every op and is the one
 * place a result joins its scope; {@link dev.jepd.tensor.torch.TorchBackend} adds the per-thread scopes.
 * BF16 tensors stay BF16 (bf16 GEMM/GEMV), F16 is converted to F32 on load.
 */
package dev.jepd.tensor.torch;
