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
        double[] seconds = new double[iterations];
        byte[] chunk = new byte[1 << 20];
        try (ServerSocket ss = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            Thread sender = Thread.ofPlatform().daemon().start(() -> {
                for (int i = -2; i < iterations; i++) {
                    try (Socket s = ss.accept();
                            OutputStream os = s.getOutputStream()) {
                        for (long left = bytes; left > 0; left -= chunk.length) {
                            os.write(chunk, 0, (int) Math.min(chunk.length, left));
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
                    for (int n; (n = in.read(buf)) > 0; ) {
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
