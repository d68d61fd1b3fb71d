package dev.jepd.pd;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.generate.EngineCore;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.TokenSink;
import java.time.Duration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The one thread that steps the engine; sleeps when there is nothing to do, wakes on submit. */
public final class EngineLoop implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EngineLoop.class);

    private final EngineCore core;
    private final Object signal = new Object();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile int maxRunningSeen;

    public EngineLoop(EngineCore core) {
        this.core = core;
        this.thread = Thread.ofPlatform().name("jepd-engine").daemon().start(this::run);
    }

    public EngineCore core() {
        return core;
    }

    /** Most sequences seen running in one step (tests check batching happened). */
    public int maxRunningSeen() {
        return maxRunningSeen;
    }

    public void submit(GenerationRequest request, TokenSink sink) {
        core.submit(request, sink);
        synchronized (signal) {
            signal.notifyAll();
        }
    }

    /** Submits a prefill whose blocks are held for a decode node for up to {@code lease}. */
    public void submitForRemoteDecode(GenerationRequest request, TokenSink sink, Duration lease) {
        core.submitForRemoteDecode(request, sink, lease);
        wake();
    }

    /** Submits a request whose prompt KV was pulled from a prefill node. */
    public void submitWithRemoteKv(GenerationRequest request, TokenSink sink, KvBlocks pulled) {
        core.submitWithRemoteKv(request, sink, pulled);
        wake();
    }

    private void wake() {
        synchronized (signal) {
            signal.notifyAll();
        }
    }

    public void abort(String requestId) {
        core.abort(requestId);
        synchronized (signal) {
            signal.notifyAll();
        }
    }

    private void run() {
        while (running) {
            try {
                // Leases of blocks held for decode nodes run out here, between steps, even when idle.
                core.expireLeases();
                if (core.hasWork()) {
                    core.step();
                    maxRunningSeen = Math.max(maxRunningSeen, core.numRunning());
                } else {
                    synchronized (signal) {
                        if (!core.hasWork() && running) {
                            signal.wait(50);
                        }
                    }
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException | Error e) {
                // A step failure fails its batch inside EngineCore; anything escaping is a bug: log, keep serving.
                LOG.error("engine step failed", e);
            }
        }
    }

    @Override
    public void close() {
        running = false;
        thread.interrupt();
    }
}
