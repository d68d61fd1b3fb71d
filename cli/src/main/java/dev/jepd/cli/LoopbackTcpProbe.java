package dev.jepd.cli;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.Arrays;

/** The transfer benchmarks' yardstick: raw loopback TCP moving the same bytes, one fresh connection per run. */
final class LoopbackTcpProbe {
    private LoopbackTcpProbe() {}

    /** Seconds of each of {@code iterations} timed transfers of {@code bytes} (after two untimed), sorted. */
    static double[] seconds(long bytes, int iterations) throws Exception {
        return seconds(bytes, iterations, false);
    }

    /**
     * Moves {@code bytes} over a fresh loopback connection per iteration (after two untimed) and answers the
     * seconds of each, sorted. With {@code wholeBuffers} the sender writes them from one buffer of that size and
     * the receiver reads them into another, as a transport moves a cache's bytes from memory to memory; without,
     * it writes one 1 MiB buffer again and again and reads into another, both staying in the CPU's caches.
     */
    static double[] seconds(long bytes, int iterations, boolean wholeBuffers) throws Exception {
        double[] seconds = new double[iterations];
        byte[] chunk = new byte[1 << 20];
        byte[] whole = wholeBuffers ? new byte[Math.toIntExact(bytes)] : null;
        byte[] into = wholeBuffers ? new byte[Math.toIntExact(bytes)] : null;
        if (whole != null) {
            Arrays.fill(whole, (byte) 1);
        }
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread sender = Thread.ofPlatform().daemon().start(() -> {
                for (int i = -2; i < iterations; i++) {
                    try (Socket s = ss.accept();
                            OutputStream os = s.getOutputStream()) {
                        for (long off = 0; off < bytes; off += chunk.length) {
                            int n = (int) Math.min(chunk.length, bytes - off);
                            os.write(whole != null ? whole : chunk, whole != null ? (int) off : 0, n);
                        }
                    } catch (Exception e) {
                        return;
                    }
                }
            });
            byte[] buf = new byte[1 << 20];
            for (int i = -2; i < iterations; i++) {
                long t = System.nanoTime();
                try (Socket s = new Socket(InetAddress.getLoopbackAddress(), ss.getLocalPort());
                        InputStream in = s.getInputStream()) {
                    long got = 0;
                    for (int n;
                            (n = into != null
                                            ? in.read(into, (int) got, (int) Math.min(buf.length, bytes - got))
                                            : in.read(buf))
                                    > 0; ) {
                        got += n;
                    }
                    if (got != bytes) {
                        throw new IllegalStateException("raw TCP moved " + got + " of " + bytes + " bytes");
                    }
                }
                if (i >= 0) {
                    seconds[i] = (System.nanoTime() - t) / 1e9;
                }
            }
            sender.join();
        }
        Arrays.sort(seconds);
        return seconds;
    }
}
