package dev.jepd.cli;

import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvRegions;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.tensor.DType;
import dev.jepd.transfer.kv.JepdKvClient;
import dev.jepd.transfer.kv.JepdKvServer;
import dev.jepd.transfer.kv.KvTransferParams;
import dev.jepd.transfer.nixl.NixlKvClient;
import dev.jepd.transfer.nixl.NixlKvProducer;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import java.util.function.IntSupplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd bench kv}: the JEPD KV transport pulling one prompt's blocks over loopback, next to raw loopback
 * TCP moving the same number of bytes in the same run; and, where {@code libnixl_capi} is installed, the NIXL
 * transport twice: staged (STAGE handshake, copy into the registered staging buffer, UCX read, copy out) and direct
 * (STAGE_DIRECT handshake, one UCX read of many descriptors from the prefill side's registered cache regions
 * straight into the decode side's, nothing copied by either process), once with both sides' blocks in order and
 * once with the decode side's in reverse (one descriptor per block, nothing coalesced). The blocks come from a
 * synthetic source with a real model's KV layout, held in native memory as the libtorch backend's f32 cache holds
 * them, so only the transport is measured, not the engine.
 */
@Command(
        name = "kv",
        mixinStandardHelpOptions = true,
        description = "KV transfer throughput (GB/s) for one prompt vs raw loopback TCP in the same run.")
public final class KvBenchCommand implements Callable<Integer> {
    @Option(names = "--prompt-tokens", defaultValue = "2000", description = "Prompt length (default ${DEFAULT-VALUE}).")
    int promptTokens;

    @Option(names = "--layers", defaultValue = "36", description = "Decoder layers (default 36: Qwen2.5-VL-3B).")
    int layers;

    @Option(names = "--kv-heads", defaultValue = "2", description = "KV heads (default 2: Qwen2.5-VL-3B).")
    int kvHeads;

    @Option(names = "--head-dim", defaultValue = "128", description = "Head dim (default 128: Qwen2.5-VL-3B).")
    int headDim;

    @Option(names = "--block-size", defaultValue = "16", description = "Tokens per block (default 16).")
    int blockSize;

    @Option(names = "--iterations", defaultValue = "10", description = "Timed pulls (default ${DEFAULT-VALUE}).")
    int iterations;

    @Override
    public Integer call() throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        KvLayout layout = new KvLayout(layers, kvHeads, headDim, blockSize);
        int blocks = (promptTokens + blockSize - 1) / blockSize;
        int floats = Math.toIntExact(layout.blockFloats(blocks));
        float[][] keys = new float[layers][];
        float[][] values = new float[layers][];
        SplittableRandom r = new SplittableRandom(7);
        for (int l = 0; l < layers; l++) {
            keys[l] = new float[floats];
            values[l] = new float[floats];
            for (int i = 0; i < floats; i++) {
                keys[l][i] = (float) r.nextDouble();
                values[l][i] = (float) r.nextDouble();
            }
        }
        KvBlocks data = new KvBlocks(layout, blocks, keys, values);
        long bytes = 2L * layers * floats * Float.BYTES;
        int[] ids = new int[blocks];
        Arrays.setAll(ids, i -> i);
        Arena arena = Arena.ofShared();
        // The prefill side's cache: per layer a K and a V region of exactly these blocks, in order, as the engine's
        // libtorch tensors hold them; the decode side's: as many blocks, empty.
        KvRegions prefillCache = regions(arena, layout, blocks, keys, values);
        KvRegions decodeCache = regions(arena, layout, blocks, null, null);
        KvBlockSource source = new KvBlockSource() {
            @Override
            public KvLayout layout() {
                return layout;
            }

            @Override
            public KvBlocks read(String requestId, int[] blockIds, int tokens) {
                return data;
            }

            @Override
            public void checkHeld(String requestId, int[] blockIds, int tokens) {}

            @Override
            public Optional<KvRegions> regions() {
                return Optional.of(prefillCache);
            }

            @Override
            public boolean release(String requestId) {
                return true;
            }
        };
        double[] kvSeconds;
        try (JepdKvServer server = new JepdKvServer(source, "bench", "127.0.0.1", 0, Duration.ofSeconds(120))) {
            JepdKvClient client = new JepdKvClient(Duration.ofSeconds(5), Duration.ofSeconds(120));
            KvTransferParams p = KvTransferParams.held("bench", ids, "bench-request", "127.0.0.1", server.port());
            kvSeconds = time(() -> client.pull(p, promptTokens, layout).numBlocks(), blocks);
        }
        Optional<NixlLibrary> nixl = NixlLibrary.find();
        double[] nixlSeconds = null;
        double[] directSeconds = null;
        double[] scatteredSeconds = null;
        if (nixl.isPresent()) {
            List<String> ucx = List.of("UCX");
            try (NixlKvProducer producer = new NixlKvProducer(
                            nixl.get(), "bench-prefill", ucx, source, 2 * bytes + (1 << 20), Duration.ofMinutes(5));
                    JepdKvServer server =
                            new JepdKvServer(producer, producer, "bench", "127.0.0.1", 0, Duration.ofSeconds(120));
                    NixlKvClient client = new NixlKvClient(
                            nixl.get(),
                            "bench-decode",
                            ucx,
                            2 * bytes + (1 << 20),
                            decodeCache,
                            new JepdKvClient(Duration.ofSeconds(5), Duration.ofSeconds(120)),
                            Duration.ofSeconds(120))) {
                KvTransferParams p = KvTransferParams.held("bench", ids, "bench-request", "127.0.0.1", server.port());
                nixlSeconds = time(
                        () -> {
                            KvBlocks got = client.pull(p, promptTokens, layout);
                            client.confirm(p);
                            return got.numBlocks();
                        },
                        blocks);
                if (client.nixlPulls() != iterations + 2 || producer.stagedCopies() != iterations + 2) {
                    throw new IllegalStateException("only " + client.nixlPulls() + " pulls went through NIXL staging");
                }
                int[] reversed = new int[blocks];
                Arrays.setAll(reversed, i -> blocks - 1 - i);
                for (int[] into : new int[][] {ids, reversed}) {
                    clear(decodeCache);
                    double[] seconds = time(
                            () -> {
                                if (client.pullInto(p, promptTokens, layout, decodeCache, into) != null) {
                                    throw new IllegalStateException("the direct pull fell back to staging");
                                }
                                client.confirm(p);
                                return into.length;
                            },
                            blocks);
                    checkLanded(prefillCache, decodeCache, into);
                    if (into == ids) {
                        directSeconds = seconds;
                    } else {
                        scatteredSeconds = seconds;
                    }
                }
                if (producer.stagedCopies() != iterations + 2 || client.directPulls() != 2 * (iterations + 2)) {
                    throw new IllegalStateException("a direct pull was staged: " + producer.stagedCopies()
                            + " staging copies, " + client.directPulls() + " direct pulls");
                }
            }
        }
        double[] tcpSeconds = LoopbackTcpProbe.seconds(bytes, iterations, false);
        double[] tcpMemorySeconds = LoopbackTcpProbe.seconds(bytes, iterations, true);
        double[] memcpySeconds = memcpy(bytes);
        double tcp = bytes / tcpSeconds[iterations / 2] / 1e9;
        out.printf(
                "jepd bench kv: %d-token prompt, layout %d layers x %d KV heads x %d head dim, block %d ->"
                        + " %d blocks, %.1f MB of f32 K+V%n",
                promptTokens, layers, kvHeads, headDim, blockSize, blocks, bytes / 1e6);
        out.println("load average (1, 5, 15 min) at the end of the run: " + loadAverage());
        double tcpMemory = bytes / tcpMemorySeconds[iterations / 2] / 1e9;
        out.println(
                "| path | median s | best s | GB/s (median) | ratio to raw TCP | ratio to raw TCP memory to memory |");
        out.println("|---|---|---|---|---|---|");
        row(out, "raw loopback TCP (one socket, 1 MiB writes of one buffer)", tcpSeconds, bytes, tcp, tcpMemory);
        row(
                out,
                "raw loopback TCP, memory to memory (one buffer of all the bytes into another)",
                tcpMemorySeconds,
                bytes,
                tcp,
                tcpMemory);
        row(
                out,
                "one memcpy of the same bytes (native buffer to native buffer, one thread)",
                memcpySeconds,
                bytes,
                tcp,
                tcpMemory);
        row(out, "JEPD KV pull (framing + copies + socket)", kvSeconds, bytes, tcp, tcpMemory);
        if (nixlSeconds != null) {
            row(
                    out,
                    "NIXL KV pull, staged (STAGE + staging copy + UCX read + copy out)",
                    nixlSeconds,
                    bytes,
                    tcp,
                    tcpMemory);
            row(
                    out,
                    "NIXL KV pull, cache registered (STAGE_DIRECT + UCX read into the cache; blocks in order)",
                    directSeconds,
                    bytes,
                    tcp,
                    tcpMemory);
            row(
                    out,
                    "NIXL KV pull, cache registered (decode blocks reversed: " + 2 * layers * blocks + " descriptors)",
                    scatteredSeconds,
                    bytes,
                    tcp,
                    tcpMemory);
        } else {
            out.println("| NIXL KV pull | not measured: " + NixlLibrary.absentReason() + " | | | | |");
        }
        arena.close();
        return 0;
    }

    /**
     * Per layer a K and a V region of {@code blocks} blocks in native memory, filled with {@code keys}/{@code values}
     * (the rows of blocks {@code 0..blocks-1}) or zero when they are null.
     */
    private static KvRegions regions(Arena arena, KvLayout layout, int blocks, float[][] keys, float[][] values) {
        long blockBytes = KvRegions.blockBytes(layout, DType.F32);
        MemorySegment[] k = new MemorySegment[layout.layers()];
        MemorySegment[] v = new MemorySegment[layout.layers()];
        for (int l = 0; l < layout.layers(); l++) {
            k[l] = arena.allocate(blocks * blockBytes, 64);
            v[l] = arena.allocate(blocks * blockBytes, 64);
            if (keys != null) {
                MemorySegment.copy(keys[l], 0, k[l], ValueLayout.JAVA_FLOAT_UNALIGNED, 0, keys[l].length);
                MemorySegment.copy(values[l], 0, v[l], ValueLayout.JAVA_FLOAT_UNALIGNED, 0, values[l].length);
            }
        }
        return new KvRegions(DType.F32, blockBytes, k, v);
    }

    private static void clear(KvRegions cache) {
        for (MemorySegment r : cache.all()) {
            r.fill((byte) 0);
        }
    }

    /** Checks that block {@code b} of every prefill region landed in block {@code into[b]} of the decode's. */
    private static void checkLanded(KvRegions from, KvRegions to, int[] into) {
        MemorySegment[] src = from.all();
        MemorySegment[] dst = to.all();
        long bb = from.blockBytes();
        for (int r = 0; r < src.length; r++) {
            for (int b = 0; b < into.length; b++) {
                if (MemorySegment.mismatch(src[r], b * bb, (b + 1) * bb, dst[r], into[b] * bb, (into[b] + 1) * bb)
                        != -1) {
                    throw new IllegalStateException("block " + b + " of region " + r + " did not land intact");
                }
            }
        }
    }

    /** Seconds of each timed pull, sorted, after two untimed warm-up pulls; {@code pull} answers its blocks. */
    private double[] time(IntSupplier pull, int blocks) {
        double[] seconds = new double[iterations];
        for (int i = -2; i < iterations; i++) {
            long t = System.nanoTime();
            int got = pull.getAsInt();
            double s = (System.nanoTime() - t) / 1e9;
            if (got != blocks) {
                throw new IllegalStateException("pulled " + got + " blocks, expected " + blocks);
            }
            if (i >= 0) {
                seconds[i] = s;
            }
        }
        Arrays.sort(seconds);
        return seconds;
    }

    private void row(PrintStream out, String path, double[] sorted, long bytes, double tcp, double tcpMemory) {
        double gbs = bytes / sorted[iterations / 2] / 1e9;
        out.printf(
                "| %s | %.4f | %.4f | %.2f | %.2f | %.2f |%n",
                path, sorted[iterations / 2], sorted[0], gbs, gbs / tcp, gbs / tcpMemory);
    }

    private static String loadAverage() {
        try {
            String[] f = java.nio.file.Files.readString(java.nio.file.Path.of("/proc/loadavg"))
                    .split(" ");
            return f[0] + " " + f[1] + " " + f[2] + " on "
                    + Runtime.getRuntime().availableProcessors() + " CPUs";
        } catch (java.io.IOException | RuntimeException e) {
            return "unknown";
        }
    }

    /** Seconds of one {@code bytes}-byte copy between two native buffers, each iteration, sorted. */
    private double[] memcpy(long bytes) {
        double[] seconds = new double[iterations];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment src = a.allocate(bytes, 64);
            MemorySegment dst = a.allocate(bytes, 64);
            src.fill((byte) 1);
            for (int i = -2; i < iterations; i++) {
                long t = System.nanoTime();
                MemorySegment.copy(src, 0, dst, 0, bytes);
                if (i >= 0) {
                    seconds[i] = (System.nanoTime() - t) / 1e9;
                }
            }
        }
        Arrays.sort(seconds);
        return seconds;
    }
}
