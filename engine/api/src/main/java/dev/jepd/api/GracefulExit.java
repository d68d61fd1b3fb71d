package dev.jepd.api;

import sun.misc.Signal;

/**
 * SIGTERM and SIGINT end a node (or the proxy) gracefully and with exit status 0: the JVM's own handling would run the shutdown
 * hooks and exit with 143 (128 + 15) whatever they did, and hooks are a poor place to wait minutes for running
 * requests. Here the signal starts {@code drain} on its own thread (a second signal while draining is ignored),
 * then the process exits 0.
 */
public final class GracefulExit {
    private GracefulExit() {}

    public static void onSignals(Runnable drain) {
        Object once = new Object();
        boolean[] started = {false};
        for (String name : new String[] {"TERM", "INT"}) {
            Signal.handle(new Signal(name), signal -> {
                synchronized (once) {
                    if (started[0]) {
                        return;
                    }
                    started[0] = true;
                }
                Thread.ofPlatform().name("jepd-drain").start(() -> {
                    try {
                        drain.run();
                    } finally {
                        System.exit(0);
                    }
                });
            });
        }
    }
}
