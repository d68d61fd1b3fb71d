package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.TensorBackendProvider;
import dev.jepd.tensor.TensorScope;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TorchBackendTest {
    static TensorBackend ops;

    @BeforeAll
    static void init() {
        ops = new TorchBackend();
    }

    @AfterAll
    static void done() {
        ops.close();
    }

    @Test
    void nameSaysWhichLibtorchAndDevice() {
        assertTrue(ops.name().startsWith("torch (libtorch 2."), ops.name());
        assertTrue(ops.name().contains("cpu"), ops.name());
        assertEquals(Device.CPU, ops.device());
    }

    @Test
    void keptTensorOutlivesChildScopeAndClosedOnesAreAClearError() {
        Tensor gone;
        try (TensorScope outer = ops.scope()) {
            Tensor kept;
            try (TensorScope inner = ops.scope()) {
                kept = inner.keep(ops.fromFloats(new float[] {7}, 1));
                gone = ops.fromFloats(new float[] {8}, 1);
            }
            assertEquals(7f, kept.toFloats()[0]);
            assertThrows(IllegalStateException.class, gone::toFloats);
        }
    }

    @Test
    void theLoadedLibtorchIsFoundAgainSoNoSecondCopyIsEverLoaded() throws Exception {
        Path loaded = LibTorchLocator.alreadyLoaded().orElseThrow();
        assertTrue(Files.isSameFile(loaded, AotiShim.shared().location().torchCpu()), loaded.toString());
    }

    @Test
    void opOutsideScopeIsAClearError() {
        assertThrows(IllegalStateException.class, () -> ops.zeros(1));
    }

    @Test
    void detachedScopeClosesFromAnotherThread() throws Exception {
        TensorScope s = ops.scope().detach();
        Thread t = new Thread(s::close);
        t.start();
        t.join();
        assertThrows(IllegalStateException.class, () -> ops.zeros(1), "the detached scope is not current");
    }

    @Test
    void loadKeepsBf16AndConvertsF16() {
        try (TensorScope s = ops.scope();
                Arena arena = Arena.ofConfined()) {
            MemorySegment bf = arena.allocate(4);
            DType.BF16.setFloat(bf, 0, 1.5f);
            DType.BF16.setFloat(bf, 1, -3f);
            assertEquals(DType.BF16, ops.load(bf, DType.BF16, 2).dtype());
            MemorySegment h = arena.allocate(4);
            DType.F16.setFloat(h, 0, 0.25f);
            DType.F16.setFloat(h, 1, 65504f);
            Tensor f = ops.load(h, DType.F16, 2);
            assertEquals(DType.F32, f.dtype());
            assertArrayEquals(new float[] {0.25f, 65504f}, f.toFloats());
            assertThrows(IllegalArgumentException.class, () -> ops.load(h, DType.F16, 3));
        }
    }

    @Test
    void aBf16BackendMakesAndLoadsEverythingFloatingAsBf16() {
        try (TensorBackend bf = TorchBackend.cpu(DType.BF16);
                TensorScope s = bf.scope();
                Arena arena = Arena.ofConfined()) {
            assertTrue(bf.name().contains("dtype bf16"), bf.name());
            assertEquals(DType.BF16, bf.zeros(2, 3).dtype());
            Tensor f = bf.fromFloats(new float[] {1.00390625f, 3f}, 2); // 1 + 2^-8 rounds to even: 1
            assertEquals(DType.BF16, f.dtype());
            assertArrayEquals(new float[] {1f, 3f}, f.toFloats());
            MemorySegment f32 = arena.allocate(8);
            DType.F32.setFloat(f32, 0, 0.5f);
            DType.F32.setFloat(f32, 1, -2f);
            assertEquals(DType.BF16, bf.load(f32, DType.F32, 2).dtype());
            assertEquals(DType.I64, bf.fromLongs(new long[] {1}, 1).dtype());
        }
    }

    @Test
    void varlenAttentionOnLongWindowsNeverMakesTheScoreMatrix() {
        // 4 heads × 4096² f32 scores would be 256 MiB; the flash kernel's working set is a few KiB per thread.
        try (TensorScope s = ops.scope()) {
            long n = 4096;
            Tensor q = ops.zeros(4, n, 64);
            Tensor out = ops.varlenAttention(q, q, q, new int[] {0, 2048, 4096}, 0.125f);
            assertArrayEquals(new long[] {4, n, 64}, out.shape());
        }
    }

    @Test
    void providerIsListedBelowDjl() {
        TensorBackendProvider p = TensorBackendProvider.available().stream()
                .filter(x -> x.name().equals("torch"))
                .findFirst()
                .orElseThrow();
        assertTrue(p.rank() < 100 && p.rank() > 0);
    }

    @Test
    void missingLibtorchIsOneClearLine(@TempDir Path dir) {
        var e = assertThrows(
                LibTorchUnavailableException.class,
                () -> LibTorchLocator.fromDirectory(dir, "JEPD_TORCH_LIBRARY_PATH"));
        assertTrue(e.getMessage().contains("no libtorch_cpu.so in"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    @Test
    void aPythonWithoutTorchIsOneClearLine(@TempDir Path dir) throws Exception {
        Path fake = dir.resolve("python");
        Files.writeString(fake, "#!/bin/sh\nexit 1\n");
        assertTrue(fake.toFile().setExecutable(true));
        var e = assertThrows(LibTorchUnavailableException.class, () -> LibTorchLocator.fromPython(fake.toString()));
        assertTrue(e.getMessage().contains("cannot import torch"), e.getMessage());
        var missing = assertThrows(
                LibTorchUnavailableException.class,
                () -> LibTorchLocator.fromPython(dir.resolve("no-such-python").toString()));
        assertTrue(missing.getMessage().contains("does not run"), missing.getMessage());
    }

    @Test
    void aLibtorchDistributionsTopDirectoryIsAcceptedForItsLib(@TempDir Path top) throws Exception {
        Files.createSymbolicLink(
                top.resolve("lib"), AotiShim.shared().location().libDir());
        LibTorchLocation found = LibTorchLocator.fromDirectory(top, "test");
        assertEquals(top.toAbsolutePath().normalize().resolve("lib"), found.libDir());
        assertEquals("test", found.source());
    }

    @Test
    void aLibraryWithoutTheShimIsRefusedNamingWhatIsMissing(@TempDir Path dir) throws Exception {
        // A real shared library that is not libtorch (zlib, no dependencies beyond libc) under libtorch's name.
        Path libz = Path.of("/lib/x86_64-linux-gnu/libz.so.1");
        Assumptions.assumeTrue(
                Files.isRegularFile(libz), "needs " + libz + " to stand in for a library without the shim");
        Path old = Files.createDirectory(dir.resolve("old"));
        Files.copy(libz, old.resolve("libtorch_cpu.so"));
        var e = assertThrows(
                LibTorchUnavailableException.class, () -> AotiShim.open(LibTorchLocator.fromDirectory(old, "test")));
        assertTrue(e.getMessage().contains("lacks aoti_torch_"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        Path junk = Files.createDirectory(dir.resolve("junk"));
        Files.writeString(junk.resolve("libtorch_cpu.so"), "not a library");
        var notElf = assertThrows(
                LibTorchUnavailableException.class, () -> AotiShim.open(LibTorchLocator.fromDirectory(junk, "test")));
        assertTrue(notElf.getMessage().startsWith("cannot load "), notElf.getMessage());
    }
}
