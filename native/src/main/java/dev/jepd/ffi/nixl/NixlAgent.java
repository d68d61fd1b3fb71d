package dev.jepd.ffi.nixl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.locks.LockSupport;

/**
 * One NIXL agent ({@code nixlAgent}): backends, registered DRAM, metadata exchange, one-sided reads and
 * notifications. Created with a progress thread and {@code NIXL_THREAD_SYNC_STRICT}, so any Java thread may call
 * any method at any time; {@link #close()} must come last.
 */
public final class NixlAgent implements AutoCloseable {
    private static final int MEM_DRAM = 0;
    private static final int XFER_READ = 0;
    private static final int THREAD_SYNC_STRICT = 1;
    private static final int IN_PROG = 1;
    /**
     * The progress thread's {@code poll()} timeout, µs (NIXL rounds it up to whole ms). NIXL's default, 0, makes the
     * thread spin: measured here, two idle agents burned 2 cores (9.97 s of CPU in 5 s), which a CPU node needs for
     * its model. The thread still wakes at once when UCX signals its worker's event fd; the timeout only bounds a
     * missed wake-up (NIXL's reason for having it). {@code -Djepd.nixl.progressPollMicros=0} restores the spin.
     */
    static final long PROGRESS_POLL_MICROS = Math.max(0L, Long.getLong("jepd.nixl.progressPollMicros", 1_000L));

    private final NixlLibrary lib;
    private final String name;
    private final MemorySegment agent;
    private final List<MemorySegment> backends = new ArrayList<>();
    private boolean closed;

    private NixlAgent(NixlLibrary lib, String name, MemorySegment agent) {
        this.lib = lib;
        this.name = name;
        this.agent = agent;
    }

    /** A new agent named {@code name}; names must be unique among the agents that talk to each other. */
    public static NixlAgent create(NixlLibrary lib, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment cfg = a.allocate(NixlLibrary.AGENT_CONFIG);
            cfg.set(ValueLayout.JAVA_BOOLEAN, 0, true); // progress thread: transfers advance without polling
            cfg.set(ValueLayout.JAVA_BOOLEAN, 1, false); // no listener: metadata travels over JEPD's side channel
            cfg.set(ValueLayout.JAVA_INT, 4, 0);
            cfg.set(ValueLayout.JAVA_INT, 8, THREAD_SYNC_STRICT);
            cfg.set(ValueLayout.JAVA_INT, 12, 1);
            cfg.set(ValueLayout.JAVA_LONG, 16, PROGRESS_POLL_MICROS); // pthr_delay_us
            cfg.set(ValueLayout.JAVA_LONG, 24, 100_000L); // lthr_delay_us (no listener)
            cfg.set(ValueLayout.JAVA_BOOLEAN, 32, false);
            MemorySegment out = a.allocate(ADDRESS);
            check(lib, call(lib.createConfiguredAgent, a.allocateFrom(name), cfg, out), "create agent " + name);
            return new NixlAgent(lib, name, out.get(ADDRESS, 0));
        }
    }

    /** A new agent with a backend from each of {@code plugins}, each with its default parameters. */
    public static NixlAgent create(NixlLibrary lib, String name, List<String> plugins) {
        NixlAgent agent = create(lib, name);
        try {
            for (String p : plugins) {
                agent.createBackend(p, Map.of());
            }
            return agent;
        } catch (RuntimeException e) {
            agent.close();
            throw e;
        }
    }

    public String name() {
        return name;
    }

    /** The backend plugins NIXL found ({@code NIXL_PLUGIN_DIR}). */
    public List<String> availablePlugins() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check(call(lib.getAvailablePlugins, agent, out), "list plugins");
            MemorySegment list = out.get(ADDRESS, 0);
            try {
                MemorySegment size = a.allocate(JAVA_LONG);
                check(call(lib.stringListSize, list, size), "plugin list size");
                List<String> names = new ArrayList<>();
                for (long i = 0; i < size.get(JAVA_LONG, 0); i++) {
                    MemorySegment s = a.allocate(ADDRESS);
                    check(call(lib.stringListGet, list, i, s), "plugin list entry");
                    names.add(s.get(ADDRESS, 0).reinterpret(Long.MAX_VALUE).getString(0));
                }
                return names;
            } finally {
                call(lib.destroyStringList, list);
            }
        }
    }

    /**
     * Creates a backend from {@code plugin} (e.g. {@code UCX}) with the plugin's default parameters, each
     * overridden by {@code params}.
     */
    public synchronized void createBackend(String plugin, Map<String, String> params) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment mems = a.allocate(ADDRESS);
            MemorySegment ps = a.allocate(ADDRESS);
            int st = call(lib.getPluginParams, agent, a.allocateFrom(plugin), mems, ps);
            if (st != 0) {
                throw new NixlException("NIXL has no " + plugin + " backend plugin (plugins found: "
                        + availablePlugins() + "; set NIXL_PLUGIN_DIR to NIXL's plugin directory)");
            }
            MemorySegment paramList = ps.get(ADDRESS, 0);
            try {
                for (Map.Entry<String, String> p : params.entrySet()) {
                    check(
                            call(lib.paramsAdd, paramList, a.allocateFrom(p.getKey()), a.allocateFrom(p.getValue())),
                            "set backend parameter " + p.getKey());
                }
                MemorySegment backend = a.allocate(ADDRESS);
                check(
                        call(lib.createBackend, agent, a.allocateFrom(plugin), paramList, backend),
                        "create the " + plugin + " backend");
                backends.add(backend.get(ADDRESS, 0));
            } finally {
                call(lib.destroyMemList, mems.get(ADDRESS, 0));
                call(lib.destroyParams, paramList);
            }
        }
    }

    /** Registers {@code memory} (host DRAM) with every backend; the registration ends when the handle closes. */
    public Registration registerDram(MemorySegment memory) {
        MemorySegment dlist = regDlist(memory);
        try {
            check(call(lib.registerMem, agent, dlist, MemorySegment.NULL), "register " + memory.byteSize() + " bytes");
        } catch (RuntimeException e) {
            call(lib.destroyRegDlist, dlist);
            throw e;
        }
        return new Registration(dlist);
    }

    /** This agent's metadata: its connection info and registered memory, for a peer's {@link #loadRemote}. */
    public byte[] localMetadata() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(ADDRESS);
            MemorySegment len = a.allocate(JAVA_LONG);
            check(call(lib.getLocalMd, agent, data, len), "get local metadata");
            MemorySegment blob = data.get(ADDRESS, 0).reinterpret(len.get(JAVA_LONG, 0));
            try {
                return blob.toArray(ValueLayout.JAVA_BYTE);
            } finally {
                dev.jepd.ffi.NativeMemory.free(blob); // malloc'd by the C API
            }
        }
    }

    /** Loads a peer's metadata (again, if it changed); returns the peer agent's name. */
    public String loadRemote(byte[] metadata) {
        if (metadata.length == 0) {
            throw new NixlException("empty NIXL metadata");
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check(
                    call(
                            lib.loadRemoteMd,
                            agent,
                            a.allocateFrom(ValueLayout.JAVA_BYTE, metadata),
                            (long) metadata.length,
                            out),
                    "load remote metadata");
            MemorySegment s = out.get(ADDRESS, 0).reinterpret(Long.MAX_VALUE);
            try {
                return s.getString(0);
            } finally {
                dev.jepd.ffi.NativeMemory.free(s); // strdup'd by the C API
            }
        }
    }

    /** Forgets a peer's metadata and connection (after it restarted, say). */
    public void invalidateRemote(String remoteAgent) {
        try (Arena a = Arena.ofConfined()) {
            check(call(lib.invalidateRemoteMd, agent, a.allocateFrom(remoteAgent)), "invalidate " + remoteAgent);
        }
    }

    /**
     * Posts a one-sided read of {@code [remoteAddress, remoteAddress + local.byteSize())} in {@code remoteAgent}'s
     * registered memory into {@code local}, which must lie in memory registered here. With a non-null
     * {@code notification} the peer receives it when the read is complete.
     */
    public Transfer read(MemorySegment local, String remoteAgent, long remoteAddress, byte[] notification) {
        return read(
                new long[] {local.address()},
                new long[] {remoteAddress},
                new long[] {local.byteSize()},
                remoteAgent,
                notification);
    }

    /**
     * Posts one one-sided read request of many pieces: piece {@code i} copies {@code lengths[i]} bytes from
     * {@code remoteAddresses[i]} in {@code remoteAgent}'s registered memory to {@code localAddresses[i]}, which must
     * lie in memory registered here. With a non-null {@code notification} the peer receives it when every piece is
     * complete.
     */
    public Transfer read(
            long[] localAddresses, long[] remoteAddresses, long[] lengths, String remoteAgent, byte[] notification) {
        if (localAddresses.length != remoteAddresses.length || localAddresses.length != lengths.length) {
            throw new IllegalArgumentException("descriptor lists of different lengths");
        }
        long total = 0;
        for (long n : lengths) {
            total += n;
        }
        try (Arena a = Arena.ofConfined()) {
            MemorySegment localList = xferDlist(localAddresses, lengths);
            MemorySegment remoteList = MemorySegment.NULL;
            MemorySegment opt = MemorySegment.NULL;
            try {
                remoteList = xferDlist(remoteAddresses, lengths);
                if (notification != null) {
                    MemorySegment o = a.allocate(ADDRESS);
                    check(call(lib.createOptArgs, o), "create options");
                    opt = o.get(ADDRESS, 0);
                    check(
                            call(
                                    lib.optArgsSetNotifMsg,
                                    opt,
                                    a.allocateFrom(ValueLayout.JAVA_BYTE, notification),
                                    (long) notification.length),
                            "set notification");
                    check(call(lib.optArgsSetHasNotif, opt, true), "set notification");
                }
                MemorySegment req = a.allocate(ADDRESS);
                check(
                        call(
                                lib.createXferReq,
                                agent,
                                XFER_READ,
                                localList,
                                remoteList,
                                a.allocateFrom(remoteAgent),
                                req,
                                opt),
                        "create a read of " + total + " bytes in " + lengths.length + " pieces from " + remoteAgent);
                Transfer t = new Transfer(req.get(ADDRESS, 0), remoteAgent, total);
                int st = call(lib.postXferReq, agent, t.req, opt);
                if (st != 0 && st != IN_PROG) {
                    t.close();
                    check(st, "post a read from " + remoteAgent);
                }
                t.done = st == 0;
                return t;
            } finally {
                if (!opt.equals(MemorySegment.NULL)) {
                    call(lib.destroyOptArgs, opt);
                }
                call(lib.destroyXferDlist, localList);
                if (!remoteList.equals(MemorySegment.NULL)) {
                    call(lib.destroyXferDlist, remoteList);
                }
            }
        }
    }

    /** Sends {@code message} to {@code remoteAgent}, whose metadata must be loaded here. */
    public void notify(String remoteAgent, byte[] message) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment msg = message.length == 0 ? a.allocate(1) : a.allocateFrom(ValueLayout.JAVA_BYTE, message);
            check(
                    call(
                            lib.genNotif,
                            agent,
                            a.allocateFrom(remoteAgent),
                            msg,
                            (long) message.length,
                            MemorySegment.NULL),
                    "notify " + remoteAgent);
        }
    }

    /** A notification from a peer. */
    public record Notification(String fromAgent, byte[] message) {
        public String text() {
            return new String(message, StandardCharsets.UTF_8);
        }
    }

    /** The notifications that arrived since the last call, oldest first per peer. */
    public List<Notification> takeNotifications() {
        List<Notification> out = new ArrayList<>();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment m = a.allocate(ADDRESS);
            check(call(lib.createNotifMap, m), "create a notification map");
            MemorySegment map = m.get(ADDRESS, 0);
            try {
                check(call(lib.getNotifs, agent, map, MemorySegment.NULL), "get notifications");
                MemorySegment n = a.allocate(JAVA_LONG);
                check(call(lib.notifMapSize, map, n), "notification map size");
                for (long i = 0; i < n.get(JAVA_LONG, 0); i++) {
                    MemorySegment agentName = a.allocate(ADDRESS);
                    check(call(lib.notifMapGetAgentAt, map, i, agentName), "notification sender");
                    MemorySegment from = agentName.get(ADDRESS, 0).reinterpret(Long.MAX_VALUE);
                    String fromName = from.getString(0);
                    MemorySegment count = a.allocate(JAVA_LONG);
                    check(call(lib.notifMapGetNotifsSize, map, from, count), "notification count");
                    for (long j = 0; j < count.get(JAVA_LONG, 0); j++) {
                        MemorySegment data = a.allocate(ADDRESS);
                        MemorySegment len = a.allocate(JAVA_LONG);
                        check(call(lib.notifMapGetNotif, map, from, j, data, len), "notification");
                        long bytes = len.get(JAVA_LONG, 0);
                        byte[] msg = bytes == 0
                                ? new byte[0]
                                : data.get(ADDRESS, 0).reinterpret(bytes).toArray(ValueLayout.JAVA_BYTE);
                        out.add(new Notification(fromName, msg));
                    }
                }
            } finally {
                call(lib.destroyNotifMap, map);
            }
        }
        return out;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        // The agent owns its backends: destroying it shuts them down; the handles are only wrappers.
        check(call(lib.destroyAgent, agent), "destroy agent " + name);
        for (MemorySegment b : backends) {
            call(lib.destroyBackend, b);
        }
    }

    /** Registered memory; closing deregisters it. */
    public final class Registration implements AutoCloseable {
        private final MemorySegment dlist;
        private boolean closed;

        private Registration(MemorySegment dlist) {
            this.dlist = dlist;
        }

        @Override
        public synchronized void close() {
            if (!closed) {
                closed = true;
                try {
                    check(call(lib.deregisterMem, agent, dlist, MemorySegment.NULL), "deregister memory");
                } finally {
                    call(lib.destroyRegDlist, dlist);
                }
            }
        }
    }

    /** A posted transfer. {@link #close()} releases it, cancelling it if it has not finished. */
    public final class Transfer implements AutoCloseable {
        private final MemorySegment req;
        private final String peer;
        private final long bytes;
        private boolean done;
        private boolean released;

        private Transfer(MemorySegment req, String peer, long bytes) {
            this.req = req;
            this.peer = peer;
            this.bytes = bytes;
        }

        /** True once the data is in place; throws if the transfer failed. */
        public synchronized boolean poll() {
            if (!done) {
                int st = call(lib.getXferStatus, agent, req);
                if (st != IN_PROG) {
                    check(st, "read " + bytes + " bytes from " + peer);
                    done = true;
                }
            }
            return done;
        }

        /** Waits for completion up to {@code timeout}; false when it has not finished by then. */
        public boolean await(Duration timeout) {
            long deadline = System.nanoTime() + timeout.toNanos();
            long pause = 1_000; // 1 µs, doubling to 1 ms: short transfers finish in the first few polls
            while (!poll()) {
                if (System.nanoTime() - deadline >= 0) {
                    return false;
                }
                LockSupport.parkNanos(pause);
                pause = Math.min(pause * 2, 1_000_000);
            }
            return true;
        }

        @Override
        public synchronized void close() {
            if (!released) {
                released = true;
                if (call(lib.releaseXferReq, agent, req) == 0) {
                    call(lib.destroyXferReq, req);
                }
            }
        }
    }

    private MemorySegment regDlist(MemorySegment memory) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check(call(lib.createRegDlist, MEM_DRAM, out), "create a registration list");
            MemorySegment dlist = out.get(ADDRESS, 0);
            int st = call(lib.regDlistAddDesc, dlist, memory.address(), memory.byteSize(), 0L, MemorySegment.NULL, 0L);
            if (st != 0) {
                call(lib.destroyRegDlist, dlist);
                check(st, "describe memory");
            }
            return dlist;
        }
    }

    private MemorySegment xferDlist(long[] addresses, long[] lengths) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ADDRESS);
            check(call(lib.createXferDlist, MEM_DRAM, out), "create a transfer list");
            MemorySegment dlist = out.get(ADDRESS, 0);
            for (int i = 0; i < addresses.length; i++) {
                int st = call(lib.xferDlistAddDesc, dlist, addresses[i], lengths[i], 0L);
                if (st != 0) {
                    call(lib.destroyXferDlist, dlist);
                    check(st, "describe a transfer");
                }
            }
            return dlist;
        }
    }

    private void check(int status, String what) {
        check(lib, status, what);
    }

    private static void check(NixlLibrary lib, int status, String what) {
        if (status != 0) {
            throw new NixlException("NIXL could not " + what + ": " + NixlException.statusName(status)
                    + " (NIXL logs the cause on stderr)");
        }
    }

    private static int call(MethodHandle h, Object... args) {
        try {
            return (int) h.invokeWithArguments(args);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable t) {
            throw new NixlException("NIXL call failed: " + t);
        }
    }
}
