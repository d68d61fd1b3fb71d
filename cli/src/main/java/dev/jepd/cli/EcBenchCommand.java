package dev.jepd.cli;

import dev.jepd.engine.connector.EcConnector;
import dev.jepd.engine.connector.EcEntry;
import dev.jepd.engine.connector.EcTransferParams;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.tensor.DType;
import dev.jepd.transfer.ec.EcTransferConfig;
import dev.jepd.transfer.ec.SharedStorageEcConnector;
import dev.jepd.transfer.nixl.NixlEcConnector;
import dev.jepd.transfer.vllm.VllmEcCpuConnector;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code jepd bench ec}: one image item's embeddings (default {@code [1196, 2048]}, vLLM's bf16 {@code ec_cache} of a
 * large image for a 2048-wide model) handed from an encoder to a PD node, in one process over loopback: through
 * NIXL as the {@code RblnECNixlConnector} role pair does it (bf16 packing into the registered area, the offer, one
 * UCX read, widening on the PD side), and through the shared EC directory (file write, then read); next to raw
 * loopback TCP moving the same bf16 bytes in the same run.
 */
@Command(
        name = "ec",
        mixinStandardHelpOptions = true,
        description = "EC hand-off of one item (NIXL, shared directory) vs raw loopback TCP in the same run.")
public final class EcBenchCommand implements Callable<Integer> {
    @Option(names = "--tokens", defaultValue = "1196", description = "Item rows (default ${DEFAULT-VALUE}).")
    int tokens;

    @Option(names = "--dim", defaultValue = "2048", description = "Row width (default ${DEFAULT-VALUE}).")
    int dim;

    @Option(names = "--iterations", defaultValue = "10", description = "Timed hand-offs (default ${DEFAULT-VALUE}).")
    int iterations;

    @Override
    public Integer call() throws Exception {
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        iterations = Math.clamp(iterations, 1, 1000);
        float[] rows = new float[Math.multiplyExact(tokens, dim)];
        SplittableRandom r = new SplittableRandom(7);
        for (int i = 0; i < rows.length; i++) {
            rows[i] = (float) r.nextGaussian();
        }
        long bytes = (long) rows.length * DType.BF16.byteSize();
        double[] tcp = LoopbackTcpProbe.seconds(bytes, iterations);
        double tcpGbs = bytes / tcp[iterations / 2] / 1e9;
        out.printf("jepd bench ec: one item [%d, %d] bf16, %.2f MB%n", tokens, dim, bytes / 1e6);
        out.println("| path | median s | best s | GB/s (median) | ratio to raw TCP |");
        out.println("|---|---|---|---|---|");
        out.printf(
                "| raw loopback TCP (one socket, 1 MiB writes) | %.4f | %.4f | %.2f | 1.00 |%n",
                tcp[iterations / 2], tcp[0], tcpGbs);
        var lib = NixlLibrary.find();
        if (lib.isPresent()) {
            int port;
            try (ServerSocket s = new ServerSocket(0)) {
                port = s.getLocalPort();
            }
            String extra = "\"nixl_buffer_mib\":" + Math.max(16, 2 * bytes / (1 << 20) + 1);
            try (NixlEcConnector pd = NixlEcConnector.open(
                            lib.get(),
                            EcTransferConfig.parse(config(
                                    "RblnECNixlConnector",
                                    "ec_consumer",
                                    "\"pull_host\":\"127.0.0.1\",\"pull_port\":" + port + "," + extra)));
                    NixlEcConnector encoder = NixlEcConnector.open(
                            lib.get(),
                            EcTransferConfig.parse(config(
                                    "RblnECNixlConnector",
                                    "ec_producer",
                                    "\"llm_host\":\"127.0.0.1\",\"llm_pull_port\":" + port + "," + extra)))) {
                row(out, "EC over NIXL (bf16 pack + offer + UCX read + widen)", time(encoder, pd, rows), bytes, tcpGbs);
            }
            String cpu = "\"ec_enable_nixl\":true,\"ec_cpu_bytes\":" + Math.max(1L << 24, 2 * bytes)
                    + ",\"side_channel_host\":\"127.0.0.1\",\"side_channel_port\":0";
            try (VllmEcCpuConnector pd = VllmEcCpuConnector.open(
                            lib.get(),
                            EcTransferConfig.parse(config("ECCPUConnector", "ec_consumer", cpu)),
                            "bench",
                            dim,
                            dim);
                    VllmEcCpuConnector encoder = VllmEcCpuConnector.open(
                            lib.get(),
                            EcTransferConfig.parse(config("ECCPUConnector", "ec_producer", cpu)),
                            "bench",
                            dim,
                            dim)) {
                row(
                        out,
                        "vLLM's ECCPUConnector over NIXL (bf16 into blocks + XferReq over ZMQ + UCX read + widen)",
                        time(encoder, pd, rows),
                        bytes,
                        tcpGbs);
            }
        } else {
            out.println("| EC over NIXL | not measured: " + NixlLibrary.absentReason() + " | | | |");
        }
        Path dir = Files.createTempDirectory("jepd-bench-ec");
        try {
            SharedStorageEcConnector shared = SharedStorageEcConnector.open(
                    EcTransferConfig.parse(
                            config("ECExampleConnector", "ec_both", "\"shared_storage_path\":\"" + dir + "\"")),
                    dev.jepd.engine.safetensors.DType.BF16);
            row(out, "EC directory (safetensors write + read, page cache)", time(shared, shared, rows), bytes, tcpGbs);
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder())
                        .forEach(p -> p.toFile().delete());
            }
        }
        return 0;
    }

    private static String config(String connector, String role, String extra) {
        return "{\"ec_connector\":\"" + connector + "\",\"ec_role\":\"" + role + "\",\"ec_connector_extra_config\":{"
                + extra + "}}";
    }

    /** Seconds of each timed hand-off (save on the producer, then the load the PD node's request makes), sorted. */
    private double[] time(EcConnector producer, EcConnector consumer, float[] rows) {
        double[] seconds = new double[iterations];
        for (int i = -2; i < iterations; i++) {
            String key = "bench-" + (i + 2);
            long t = System.nanoTime();
            EcTransferParams published = producer.publish(key, rows, tokens, dim);
            EcEntry e = consumer.lookup(key, published, tokens, dim)
                    .orElseThrow(() -> new IllegalStateException("item " + key + " did not arrive"));
            double s = (System.nanoTime() - t) / 1e9;
            if (Math.abs(e.rows()[rows.length - 1] - rows[rows.length - 1])
                    > 0.01f * Math.abs(rows[rows.length - 1]) + 1e-3f) {
                throw new IllegalStateException("item " + key + " arrived changed beyond bf16 rounding");
            }
            if (i >= 0) {
                seconds[i] = s;
            }
        }
        Arrays.sort(seconds);
        return seconds;
    }

    private void row(PrintStream out, String path, double[] sorted, long bytes, double tcp) {
        double gbs = bytes / sorted[iterations / 2] / 1e9;
        out.printf("| %s | %.4f | %.4f | %.2f | %.2f |%n", path, sorted[iterations / 2], sorted[0], gbs, gbs / tcp);
    }
}
