package dev.jepd.pd;

import dev.jepd.engine.generate.EngineClient;
import dev.jepd.engine.generate.EngineCore;
import dev.jepd.engine.generate.EngineInfo;
import dev.jepd.engine.generate.EngineRequest;
import dev.jepd.engine.generate.TokenSink;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** The one thread that steps the engine; sleeps when there is nothing to do, wakes on submit. */
public final class EngineLoop implements EngineClient, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(EngineLoop.class);

    private final EngineCore core;
    private final Object signal = new Object();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile int maxRunningSeen;

    public EngineLoop(EngineCore core) {
        this.core = core;
        core.onRemoteKvReady(this::wake);
        this.thread = Thread.ofPlatform().name("jepd-engine").daemon().start(this::run);
    }

    public EngineCore core() {
        return core;
    }

    /** Most sequences seen running in one step (tests check batching happened). */
    public int maxRunningSeen() {
        return maxRunningSeen;
    }

    @Override
    public EngineInfo info() {
        return new EngineInfo(core.config().maxModelLen());
    }

    /** Queues the request; a decode's KV pull runs on the engine's transfer threads, not the caller's. */
    @Override
    public void submit(EngineRequest request, TokenSink sink) {
        core.submit(request, sink);
        wake();
    }

    private void wake() {
        synchronized (signal) {
            signal.notifyAll();
        }
    }

    @Override
    public int numWaiting() {
        return core.numWaiting();
    }

    @Override
    public void abort(String requestId) {
        core.abort(requestId);
        wake();
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
