package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * Where tensors live on a CUDA device: made, loaded and computed there, read back once; the device named with
 * its GPU on the backend's name; free memory reported for KV sizing.
 */
@Tag("gpu")
class CudaBackendTest {
    /** The device, never the CPU: these checks are about device memory (no dry run on the CPU). */
    private static Device gpu() {
        Device d = GpuTestDevice.require();
        org.junit.jupiter.api.Assumptions.assumeTrue(
                d.type() != Device.Type.CPU, "checks of device memory: no dry run on the CPU");
        return d;
    }

    @Test
    void tensorsLiveOnTheDeviceAndComeBackOnce() {
        Device d = gpu();
        try (TorchBackend b = TorchBackend.on(d, DType.BF16);
                Scope s = b.open();
                Arena arena = Arena.ofConfined()) {
            Ops o = b.ops(s);
            Tensor x = o.fromFloats(new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
            assertEquals(d, x.device());
            assertEquals(DType.BF16, x.dtype());
            MemorySegment w32 = arena.allocate(4L * 6);
            for (int i = 0; i < 6; i++) {
                w32.setAtIndex(ValueLayout.JAVA_FLOAT, i, 0.5f * (i + 1));
            }
            Tensor w = o.load(w32, DType.F32, 2, 3); // converted to bf16 on the way up
            assertEquals(DType.BF16, w.dtype());
            assertEquals(d, w.device());
            Tensor y = o.linear(x, w, null); // [2, 2]
            assertArrayEquals(new float[] {7, 16, 16, 38.5f}, y.toFloats(), 0f);
            MemorySegment out = arena.allocate(2L * 4);
            b.copyOut(y, out);
            assertEquals(7f, DType.BF16.getFloat(out, 0));
            assertTrue(b.registrable(y).isEmpty(), "device memory is not handed out as host memory");
            b.synchronize();
        }
    }

    @Test
    void theNameSaysWhichGpuAndTheMemoryIsReported() {
        Device d = gpu();
        try (TorchBackend b = TorchBackend.on(d, DType.BF16)) {
            String name = b.name();
            assertTrue(name.contains(d.toString()) && name.contains("driver CUDA"), name);
            long[] mem = b.deviceMemory().orElseThrow();
            assertTrue(mem[0] > 0 && mem[0] <= mem[1], "free " + mem[0] + " of " + mem[1]);
        }
    }
}
