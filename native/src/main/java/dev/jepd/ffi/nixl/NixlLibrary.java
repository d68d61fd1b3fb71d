package dev.jepd.ffi.nixl;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BOOLEAN;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import dev.jepd.ffi.NativeLibraries;
import dev.jepd.ffi.NativeLibraryMissingException;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Downcall handles for NIXL's C API, {@code libnixl_capi} ({@code src/bindings/rust/wrapper.h} in the NIXL
 * repository: the C wrapper around {@code nixlAgent} that NIXL's Rust crate links). Every function returns a
 * {@code nixl_capi_status_t}; {@link NixlAgent} turns those into exceptions.
 *
 * <p>Where the library is looked for, in order: the system property {@code jepd.nixl.library} or the variable
 * {@code JEPD_NIXL_LIBRARY} (a file), {@code $NIXL_PREFIX/lib/x86_64-linux-gnu}, {@code $NIXL_PREFIX/lib64} and
 * {@code $NIXL_PREFIX/lib}, then the dynamic linker's own search ({@code LD_LIBRARY_PATH}, ld.so.cache). NIXL
 * itself finds its backend plugins through {@code NIXL_PLUGIN_DIR} or the directory it was built for.
 */
public final class NixlLibrary {
    public static final String SONAME = "libnixl_capi.so";

    /** {@code nixl_capi_agent_config_t}: two bools, int port, enum sync, unsigned workers, two u64 delays, bool. */
    static final MemoryLayout AGENT_CONFIG = MemoryLayout.structLayout(
            JAVA_BOOLEAN.withName("enable_prog_thread"),
            JAVA_BOOLEAN.withName("enable_listen_thread"),
            MemoryLayout.paddingLayout(2),
            JAVA_INT.withName("listen_port"),
            JAVA_INT.withName("thread_sync"),
            JAVA_INT.withName("num_workers"),
            JAVA_LONG.withName("pthr_delay_us"),
            JAVA_LONG.withName("lthr_delay_us"),
            JAVA_BOOLEAN.withName("capture_telemetry"),
            MemoryLayout.paddingLayout(7));

    /** What a search found: the library, or null and why not. */
    record Located(NixlLibrary library, String absentReason) {}

    private static volatile Located loaded;

    private final SymbolLookup symbols;
    private final String location;

    final MethodHandle createConfiguredAgent;
    final MethodHandle destroyAgent;
    final MethodHandle getAvailablePlugins;
    final MethodHandle stringListSize;
    final MethodHandle stringListGet;
    final MethodHandle destroyStringList;
    final MethodHandle getPluginParams;
    final MethodHandle destroyMemList;
    final MethodHandle destroyParams;
    final MethodHandle paramsAdd;
    final MethodHandle createBackend;
    final MethodHandle destroyBackend;
    final MethodHandle createOptArgs;
    final MethodHandle destroyOptArgs;
    final MethodHandle optArgsAddBackend;
    final MethodHandle optArgsSetNotifMsg;
    final MethodHandle optArgsSetHasNotif;
    final MethodHandle createRegDlist;
    final MethodHandle regDlistAddDesc;
    final MethodHandle destroyRegDlist;
    final MethodHandle registerMem;
    final MethodHandle deregisterMem;
    final MethodHandle getLocalMd;
    final MethodHandle loadRemoteMd;
    final MethodHandle invalidateRemoteMd;
    final MethodHandle createXferDlist;
    final MethodHandle xferDlistAddDesc;
    final MethodHandle destroyXferDlist;
    final MethodHandle createXferReq;
    final MethodHandle postXferReq;
    final MethodHandle getXferStatus;
    final MethodHandle releaseXferReq;
    final MethodHandle destroyXferReq;
    final MethodHandle genNotif;
    final MethodHandle createNotifMap;
    final MethodHandle destroyNotifMap;
    final MethodHandle getNotifs;
    final MethodHandle notifMapSize;
    final MethodHandle notifMapGetAgentAt;
    final MethodHandle notifMapGetNotifsSize;
    final MethodHandle notifMapGetNotif;
    final MethodHandle notifMapClear;
    final MethodHandle isStub;

    private NixlLibrary(SymbolLookup symbols, String location) {
        this.symbols = symbols;
        this.location = location;
        createConfiguredAgent = status("nixl_capi_create_configured_agent", ADDRESS, ADDRESS, ADDRESS);
        destroyAgent = status("nixl_capi_destroy_agent", ADDRESS);
        getAvailablePlugins = status("nixl_capi_get_available_plugins", ADDRESS, ADDRESS);
        stringListSize = status("nixl_capi_string_list_size", ADDRESS, ADDRESS);
        stringListGet = status("nixl_capi_string_list_get", ADDRESS, JAVA_LONG, ADDRESS);
        destroyStringList = status("nixl_capi_destroy_string_list", ADDRESS);
        getPluginParams = status("nixl_capi_get_plugin_params", ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        destroyMemList = status("nixl_capi_destroy_mem_list", ADDRESS);
        destroyParams = status("nixl_capi_destroy_params", ADDRESS);
        paramsAdd = status("nixl_capi_params_add", ADDRESS, ADDRESS, ADDRESS);
        createBackend = status("nixl_capi_create_backend", ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        destroyBackend = status("nixl_capi_destroy_backend", ADDRESS);
        createOptArgs = status("nixl_capi_create_opt_args", ADDRESS);
        destroyOptArgs = status("nixl_capi_destroy_opt_args", ADDRESS);
        optArgsAddBackend = status("nixl_capi_opt_args_add_backend", ADDRESS, ADDRESS);
        optArgsSetNotifMsg = status("nixl_capi_opt_args_set_notif_msg", ADDRESS, ADDRESS, JAVA_LONG);
        optArgsSetHasNotif = status("nixl_capi_opt_args_set_has_notif", ADDRESS, JAVA_BOOLEAN);
        createRegDlist = status("nixl_capi_create_reg_dlist", JAVA_INT, ADDRESS);
        regDlistAddDesc =
                status("nixl_capi_reg_dlist_add_desc", ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG, ADDRESS, JAVA_LONG);
        destroyRegDlist = status("nixl_capi_destroy_reg_dlist", ADDRESS);
        registerMem = status("nixl_capi_register_mem", ADDRESS, ADDRESS, ADDRESS);
        deregisterMem = status("nixl_capi_deregister_mem", ADDRESS, ADDRESS, ADDRESS);
        getLocalMd = status("nixl_capi_get_local_md", ADDRESS, ADDRESS, ADDRESS);
        loadRemoteMd = status("nixl_capi_load_remote_md", ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);
        invalidateRemoteMd = status("nixl_capi_invalidate_remote_md", ADDRESS, ADDRESS);
        createXferDlist = status("nixl_capi_create_xfer_dlist", JAVA_INT, ADDRESS);
        xferDlistAddDesc = status("nixl_capi_xfer_dlist_add_desc", ADDRESS, JAVA_LONG, JAVA_LONG, JAVA_LONG);
        destroyXferDlist = status("nixl_capi_destroy_xfer_dlist", ADDRESS);
        createXferReq =
                status("nixl_capi_create_xfer_req", ADDRESS, JAVA_INT, ADDRESS, ADDRESS, ADDRESS, ADDRESS, ADDRESS);
        postXferReq = status("nixl_capi_post_xfer_req", ADDRESS, ADDRESS, ADDRESS);
        getXferStatus = status("nixl_capi_get_xfer_status", ADDRESS, ADDRESS);
        releaseXferReq = status("nixl_capi_release_xfer_req", ADDRESS, ADDRESS);
        destroyXferReq = status("nixl_capi_destroy_xfer_req", ADDRESS);
        genNotif = status("nixl_capi_gen_notif", ADDRESS, ADDRESS, ADDRESS, JAVA_LONG, ADDRESS);
        createNotifMap = status("nixl_capi_create_notif_map", ADDRESS);
        destroyNotifMap = status("nixl_capi_destroy_notif_map", ADDRESS);
        getNotifs = status("nixl_capi_get_notifs", ADDRESS, ADDRESS, ADDRESS);
        notifMapSize = status("nixl_capi_notif_map_size", ADDRESS, ADDRESS);
        notifMapGetAgentAt = status("nixl_capi_notif_map_get_agent_at", ADDRESS, JAVA_LONG, ADDRESS);
        notifMapGetNotifsSize = status("nixl_capi_notif_map_get_notifs_size", ADDRESS, ADDRESS, ADDRESS);
        notifMapGetNotif = status("nixl_capi_notif_map_get_notif", ADDRESS, ADDRESS, JAVA_LONG, ADDRESS, ADDRESS);
        notifMapClear = status("nixl_capi_notif_map_clear", ADDRESS);
        isStub = Linker.nativeLinker()
                .downcallHandle(symbols.findOrThrow("nixl_capi_is_stub"), FunctionDescriptor.of(JAVA_BOOLEAN));
    }

    private MethodHandle status(String name, MemoryLayout... args) {
        var symbol = symbols.find(name)
                .orElseThrow(() -> new NixlException(location + " lacks " + name + ": not a libnixl_capi built from a"
                        + " NIXL with the C API of src/bindings/rust/wrapper.h"));
        return Linker.nativeLinker().downcallHandle(symbol, FunctionDescriptor.of(JAVA_INT, args));
    }

    /** The library, loaded once per process; empty when it is not installed (see {@link #absentReason()}). */
    public static Optional<NixlLibrary> find() {
        return Optional.ofNullable(located().library());
    }

    /** The library, or a {@link NativeLibraryMissingException} that says where it was looked for. */
    public static NixlLibrary require() {
        return find().orElseThrow(() ->
                new NativeLibraryMissingException(SONAME, "the NIXL KV transport", List.of(absentReason()), HINT));
    }

    /** Why {@link #find()} is empty; null when the library loaded. */
    public static String absentReason() {
        return located().absentReason();
    }

    private static Located located() {
        Located l = loaded;
        if (l == null) {
            synchronized (NixlLibrary.class) {
                l = loaded;
                if (l == null) {
                    l = locate(
                            System.getProperty("jepd.nixl.library", System.getenv("JEPD_NIXL_LIBRARY")),
                            System.getenv("NIXL_PREFIX"));
                    loaded = l;
                }
            }
        }
        return l;
    }

    static final String HINT = "Build NIXL with its C API (src/bindings/rust/wrapper.cpp as a shared library) and"
            + " set JEPD_NIXL_LIBRARY to the file or NIXL_PREFIX to its prefix, with NIXL_PLUGIN_DIR naming"
            + " NIXL's plugin directory.";

    /** Tries {@code explicit} (a file), then {@code prefix}'s lib directories, then the linker's search path. */
    static Located locate(String explicit, String prefix) {
        List<String> candidates = new ArrayList<>();
        if (explicit != null && !explicit.isBlank()) {
            candidates.add(explicit);
        } else {
            if (prefix != null && !prefix.isBlank()) {
                for (String dir : List.of("lib/x86_64-linux-gnu", "lib/aarch64-linux-gnu", "lib64", "lib")) {
                    candidates.add(Path.of(prefix, dir, SONAME).toString());
                }
            }
            candidates.add(SONAME);
        }
        List<String> tried = new ArrayList<>();
        for (String c : candidates) {
            boolean isPath = c.contains("/");
            if (isPath && !Files.isRegularFile(Path.of(c))) {
                tried.add(c + " (no such file)");
                continue;
            }
            Optional<SymbolLookup> symbols = NativeLibraries.find(c);
            if (symbols.isEmpty()) {
                tried.add(isPath ? c + " (dlopen failed: a dependency missing?)" : c + " (not on the linker's path)");
                continue;
            }
            NixlLibrary lib;
            try {
                lib = new NixlLibrary(symbols.get(), c);
            } catch (NixlException e) {
                tried.add(c + " (" + e.getMessage() + ")");
                continue;
            }
            if (lib.stub()) {
                tried.add(c + " (a stub build of the NIXL C API, without NIXL behind it)");
                continue;
            }
            return new Located(lib, null);
        }
        return new Located(null, String.join("; ", tried));
    }

    /** Where the library was loaded from. */
    public String location() {
        return location;
    }

    boolean stub() {
        try {
            return (boolean) isStub.invokeExact();
        } catch (Throwable t) {
            throw new NixlException("nixl_capi_is_stub failed: " + t);
        }
    }
}
