package dev.jepd.tensor.torch;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.tensor.DType;
import dev.jepd.tensor.Device;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.TensorBackendProvider;
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
    static TensorBackend backend;
    private Ops ops; // bound to the scope each test opens

    @BeforeAll
    static void init() {
        backend = new TorchBackend();
    }

    @AfterAll
    static void done() {
        backend.close();
    }

    @Test
    void nameSaysWhichLibtorchAndDevice() {
        assertTrue(backend.name().startsWith("torch (libtorch 2."), backend.name());
        assertTrue(backend.name().contains("cpu"), backend.name());
        assertTrue(backend.name().contains("JEPD kernels: AMX products "), backend.name()); // on, or why not
        assertEquals(Device.CPU, backend.device());
    }

    /** One row read in place (bf16 widened, f32 copied) or through a copy (a strided view) equals the whole's. */
    @Test
    void aRangeOfElementsReadsAsTheSameRangeOfTheWhole() {
        float[] values = new float[3 * 5];
        for (int i = 0; i < values.length; i++) {
            values[i] = 1.5f * i - 7.25f;
        }
        try (Scope scope = backend.open()) {
            Ops o = backend.ops(scope);
            Tensor f32 = o.fromFloats(values, 3, 5);
            Tensor bf16 = o.load(bf16Of(values), DType.BF16, 3, 5);
            Tensor strided = o.permute(f32, 1, 0); // [5, 3], not row-major in memory
            assertEquals(DType.BF16, bf16.dtype(), "a null compute dtype keeps the checkpoint's");
            for (Tensor t : new Tensor[] {f32, bf16, strided}) {
                float[] whole = t.toFloats();
                float[] got = new float[8];
                t.toFloats(5, got, 2, 5); // the second row of [3, 5]; elements 5..9 of the [5, 3] view
                for (int i = 0; i < 5; i++) {
                    assertEquals(whole[5 + i], got[2 + i], t + " element " + (5 + i));
                }
                assertEquals(0f, got[0]);
                assertEquals(0f, got[7]);
                assertThrows(IndexOutOfBoundsException.class, () -> t.toFloats(12, got, 0, 5));
            }
        }
    }

    private static MemorySegment bf16Of(float[] values) {
        MemorySegment m = Arena.ofAuto().allocate(2L * values.length);
        for (int i = 0; i < values.length; i++) {
            DType.BF16.setFloat(m, i, values[i]);
        }
        return m;
    }

    @Test
    void keptTensorOutlivesChildScopeAndClosedOnesAreAClearError() {
        Tensor gone;
        try (Scope outer = backend.open()) {
            Tensor kept;
            try (Scope inner = outer.child()) {
                Ops in = backend.ops(inner);
                kept = inner.keep(in.fromFloats(new float[] {7}, 1));
                gone = in.fromFloats(new float[] {8}, 1);
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
    void opOnAClosedScopeIsAClearError() {
        Scope s = backend.open();
        Ops closed = backend.ops(s);
        s.close();
        assertThrows(IllegalStateException.class, () -> closed.zeros(1));
    }

    @Test
    void aScopeClosesFromAnotherThreadWithItsOpenChildren() throws Exception {
        Scope s = backend.open();
        Tensor child = backend.ops(s.child()).zeros(1);
        Thread t = new Thread(s::close);
        t.start();
        t.join();
        assertThrows(IllegalStateException.class, () -> backend.ops(s).zeros(1));
        assertThrows(IllegalStateException.class, child::toFloats);
    }

    @Test
    void loadKeepsBf16AndConvertsF16() {
        try (Scope s = backend.open();
                Arena arena = Arena.ofConfined()) {
            ops = backend.ops(s);
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
        try (TensorBackend bfBackend = TorchBackend.cpu(DType.BF16);
                Scope s = bfBackend.open();
                Arena arena = Arena.ofConfined()) {
            Ops bf = bfBackend.ops(s);
            assertTrue(bfBackend.name().contains("dtype bf16"), bfBackend.name());
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
        try (Scope s = backend.open()) {
            ops = backend.ops(s);
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
