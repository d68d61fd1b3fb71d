package dev.jepd.cli;

import dev.jepd.api.GracefulExit;
import dev.jepd.api.HttpServer;
import dev.jepd.api.Json;
import dev.jepd.api.MediaLimits;
import dev.jepd.encoder.EncoderAssembly;
import dev.jepd.encoder.EncoderNode;
import dev.jepd.engine.connector.EcConnector;
import dev.jepd.engine.safetensors.DType;
import dev.jepd.ffi.nixl.NixlLibrary;
import dev.jepd.media.ImageDecoder;
import dev.jepd.media.MediaConfig;
import dev.jepd.media.MediaLoader;
import dev.jepd.media.PixelBounds;
import dev.jepd.pd.PdAssembly;
import dev.jepd.pd.PdNode;
import dev.jepd.serving.EncodeBatcher;
import dev.jepd.serving.ModelRuntime;
import dev.jepd.serving.NodeContext;
import dev.jepd.serving.NodeRole;
import dev.jepd.serving.RuntimeOptions;
import dev.jepd.serving.ServingLimits;
import dev.jepd.serving.ServingMetrics;
import dev.jepd.transfer.ec.EcTransferConfig;
import dev.jepd.transfer.ec.MmHasher;
import dev.jepd.transfer.ec.SharedStorageEcConnector;
import dev.jepd.transfer.kv.KvTransferConfig;
import dev.jepd.transfer.nixl.NixlEcConnector;
import dev.jepd.transfer.vllm.VllmEcCpuConnector;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code jepd serve MODEL}: vLLM's {@code vllm serve} for Qwen-VL. The role follows from the transfer
 * configs, as in vLLM: {@code "ec_role":"ec_producer"} (or {@code --mm-encoder-only}) makes an encoder node
 * that never loads the language model; otherwise a PD node.
 */
@Command(
        name = "serve",
        mixinStandardHelpOptions = true,
        sortOptions = false,
        description = "Serve a Qwen-VL snapshot over the OpenAI API: an encoder node (ec_producer) or a PD node.")
public final class ServeCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "MODEL", description = "Hugging Face snapshot directory (no downloads).")
    Path model;

    @Option(
            names = "--host",
            defaultValue = "0.0.0.0",
            description = "Address to listen on (default ${DEFAULT-VALUE}).")
    String host;

    @Option(
            names = "--port",
            defaultValue = "8000",
            description = "Port (default ${DEFAULT-VALUE}; 0 = any free port).")
    int port;

    @Option(
            names = "--served-model-name",
            arity = "1..*",
            description = "Name(s) clients use; default: MODEL as given.")
    List<String> servedModelName;

    @Option(
            names = "--max-model-len",
            defaultValue = "0",
            description = "Longest prompt + output; default: the model's.")
    int maxModelLen;

    @Option(
            names = "--max-num-seqs",
            defaultValue = "256",
            description = "Sequences batched at once (default ${DEFAULT-VALUE}).")
    int maxNumSeqs;

    @Option(
            names = "--max-num-batched-tokens",
            defaultValue = "8192",
            description = "Tokens per engine step, prefill chunks included (default ${DEFAULT-VALUE}).")
    int maxNumBatchedTokens;

    @Option(
            names = "--allowed-local-media-path",
            description = "Directory file:// image URLs may read from (default: none).")
    Path allowedLocalMediaPath;

    @Option(
            names = "--allowed-media-domains",
            arity = "1..*",
            description = "vLLM's flag: the only hosts http(s) image URLs (and their redirects) may name"
                    + " (default: any public host).")
    List<String> allowedMediaDomains;

    @Option(
            names = "--allow-private-media-urls",
            description = "Let http(s) image URLs and redirects reach loopback, link-local and private addresses"
                    + " (off by default: a client must not aim the node's fetcher at its own network).")
    boolean allowPrivateMediaUrls;

    @Option(
            names = "--max-image-pixels",
            defaultValue = "0",
            description = "Largest width x height decoded, checked from the image header before decoding; default 4x"
                    + " the model's max_pixels (bigger images are resized down to max_pixels anyway).")
    long maxImagePixels;

    @Option(names = "--enable-request-id-headers", description = "Echo X-Request-Id (always on in JEPD; accepted).")
    boolean enableRequestIdHeaders;

    @Option(
            names = "--ec-transfer-config",
            description = "Encoder-cache connector JSON (vLLM's ECTransferConfig): ec_role ec_producer (encoder node),"
                    + " ec_consumer or ec_both; ec_connector ECExampleConnector (shared_storage_path), ECCPUConnector"
                    + " (vLLM's P2P NIXL mode: ec_enable_nixl true, ec_cpu_bytes, consumer_ack_timeout_s; JEPD's"
                    + " vllm_version or vllm_compat_hash for the compatibility hash, vllm_ec_wire_version 1|2,"
                    + " side_channel_host/side_channel_port instead of VLLM_EC_SIDE_CHANNEL_HOST/PORT) or"
                    + " RblnECNixlConnector (pull_host/pull_port on the PD node, llm_host/llm_pull_port on encoders).")
    String ecTransferConfig;

    @Option(
            names = "--kv-transfer-config",
            description = "KV connector JSON (vLLM's KVTransferConfig): kv_role kv_producer (prefill node),"
                    + " kv_consumer (decode node) or kv_both; kv_connector NixlConnector or JepdConnector (both"
                    + " use JEPD's own side channel by default); kv_connector_extra_config: side_channel_port (5600;"
                    + " 0 = any), side_channel_host, lease_seconds (480), transfer_timeout_seconds (30),"
                    + " kv_load_failure_policy (fail|recompute), kv_transport (auto|nixl|tcp), backends, nixl_staging_mib;"
                    + " side_channel (jepd|vllm: vLLM's NixlConnector wire, so stock vLLM decode/prefill nodes pair"
                    + " with this one; kv_producer or kv_consumer, NIXL required) with vllm_block_size (16),"
                    + " vllm_compat_hash or vllm_version and vllm_attn_backend (FLASH_ATTN) for vLLM's handshake hash,"
                    + " vllm_wire_version (2: vLLM's nixl_connector.py, the prefill default; 12: vLLM's nixl/ package;"
                    + " auto: a decode node follows each request's kv_transfer_params, its default), and for 12"
                    + " kv_lease_duration (30 s, renewed by the decode node's heartbeats) and vllm_hma_enabled (true).")
    String kvTransferConfig;

    @Option(names = "--mm-encoder-only", description = "Run only the vision tower (implied by ec_producer).")
    boolean mmEncoderOnly;

    @Option(names = "--mm-processor-kwargs", description = "Processor defaults, e.g. '{\"max_pixels\": 802816}'.")
    String mmProcessorKwargs;

    @Option(
            names = "--mm-hasher-algorithm",
            defaultValue = "blake3",
            description = "blake3 (default), sha256 or sha512.")
    String mmHasherAlgorithm;

    @Option(
            names = "--mm-hash-format",
            description = "How image items are hashed into EC keys, as the paired vLLM's chat path does:"
                    + " unframed-truncation (vLLM main before 2026-02-06), sorted-truncation (2026-02-06..16),"
                    + " sorted (2026-02-17..2026-07-28), sorted-ioconfig (2026-07-29 until framing, ~2026-09),"
                    + " framed (after), unframed (JEPD's old default;"
                    + " the default). Overrides --vllm-compat.")
    String mmHashFormat;

    @Option(
            names = "--vllm-compat",
            description = "Date (YYYY-MM-DD) of the vLLM main commit (or release branch cut) paired with this node,"
                    + " or its release (v0.32.0 or 0.32.0; only releases checked against their own source are"
                    + " mapped, others are refused); picks --mm-hash-format.")
    String vllmCompat;

    @Option(names = "--api-key", description = "Require 'Authorization: Bearer KEY' on /v1/* (also VLLM_API_KEY).")
    String apiKey;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of the sampler's global generator.")
    long seed;

    @Option(
            names = "--kv-cache-memory-bytes",
            description = "Memory for the KV cache; the block count follows. Default: 512 MiB on the CPU; on a GPU"
                    + " what --gpu-memory-utilization leaves after the weights and one step's activations.")
    Long kvCacheBytes;

    @picocli.CommandLine.Mixin
    BackendOptions backendOptions = new BackendOptions();

    @Option(
            names = "--block-size",
            defaultValue = "16",
            description = "Tokens per KV block (default ${DEFAULT-VALUE}).")
    int blockSize;

    @Option(
            names = "--max-image-bytes",
            defaultValue = "67108864",
            description = "Largest encoded image accepted (64 MiB).")
    long maxImageBytes;

    @Option(names = "--max-encoder-batch", defaultValue = "16", description = "Images per vision-tower batch.")
    int maxEncoderBatch;

    @Option(
            names = "--request-timeout",
            defaultValue = "0",
            description = "Longest any request may run, in seconds, before it is aborted (504); a request's own"
                    + " 'request_timeout' field may shorten it. 0 (default): no node-wide deadline.")
    double requestTimeout;

    @Option(
            names = "--max-waiting-requests",
            defaultValue = "0",
            description = "Requests queued but not yet running beyond which new ones get 503 with Retry-After"
                    + " (0, the default: unbounded).")
    int maxWaitingRequests;

    @Option(
            names = "--limit-mm-per-prompt",
            defaultValue = "",
            description = "vLLM's flag: the most items of each modality one request may carry, e.g. '{\"image\": 4}';"
                    + " more is a 400 naming the limit (default: no limit).")
    String limitMmPerPrompt;

    @Option(
            names = "--shutdown-timeout",
            defaultValue = "300",
            description = "On SIGTERM/SIGINT: seconds the node lets running requests finish (new ones get 503)"
                    + " before it exits (default ${DEFAULT-VALUE}).")
    long shutdownTimeout;

    @Option(
            names = "--http-header-timeout",
            defaultValue = "20",
            description = "Seconds a client has to send a request's headers (default ${DEFAULT-VALUE}).")
    long headerTimeout;

    @Option(
            names = "--http-body-timeout",
            defaultValue = "20",
            description = "Seconds a client has to send a request's body (default ${DEFAULT-VALUE}).")
    long bodyTimeout;

    @Option(
            names = "--http-idle-timeout",
            defaultValue = "60",
            description = "Seconds a keep-alive connection may sit without a request (default ${DEFAULT-VALUE}).")
    long idleTimeout;

    @Option(
            names = "--max-connections",
            defaultValue = "1024",
            description = "Connections served at once; more wait in the listen backlog (default ${DEFAULT-VALUE}).")
    int maxConnections;

    @Option(
            names = "--idle-trim-seconds",
            defaultValue = "2",
            description = "Once no API request has completed for this long after work (and none is in flight),"
                    + " give memory back to the OS: a full GC, then glibc's malloc_trim(0), and once more when"
                    + " still idle 15 s later (the burst's extra worker threads have ended); 0 never trims"
                    + " (default ${DEFAULT-VALUE}).")
    double idleTrimSeconds;

    @Option(
            names = "--gpu-memory-utilization",
            defaultValue = "0.9",
            description = "Share of the GPU's memory this node may use, weights, activations and KV cache together"
                    + " (vLLM's flag; sizes the KV cache unless --kv-cache-memory-bytes is given; ignored on the CPU;"
                    + " default ${DEFAULT-VALUE}).")
    double gpuMemoryUtilization;

    // vLLM's flags that change nothing here: accepted so launch scripts run unchanged.
    @Option(names = "--enforce-eager", description = "Accepted (CUDA graphs are not used yet; JEPD is always eager).")
    boolean enforceEager;

    @Option(names = "--no-enable-prefix-caching", description = "Accepted (JEPD has no prefix caching yet).")
    boolean noEnablePrefixCaching;

    @Option(names = "--mm-processor-cache-gb", description = "Accepted and ignored (JEPD keeps no processor cache).")
    Double mmProcessorCacheGb;

    @Option(names = "--trust-remote-code", description = "Accepted and ignored (no remote code is ever run).")
    boolean trustRemoteCode;

    /**
     * The EC key hasher from {@code --mm-hasher-algorithm}, {@code --mm-hash-format} / {@code --vllm-compat}.
     *
     * <p>{@code --mm-processor-cache-gb 0} with {@code --no-enable-prefix-caching} makes vLLM skip hashing: it names
     * each item {@code <request id>-<modality>-<index>} (vLLM PR #23690), so no EC file written for one request can
     * be found by another and an E/PD pair shares nothing. With an EC role that is refused here rather than
     * silently keyed differently from vLLM; without one the two flags are accepted and change nothing.
     */
    MmHasher mmHasher(EcTransferConfig ec) {
        if (ec != null && noEnablePrefixCaching && mmProcessorCacheGb != null && mmProcessorCacheGb == 0.0) {
            throw new IllegalArgumentException("--mm-processor-cache-gb 0 with --no-enable-prefix-caching: vLLM then"
                    + " keys each image by its request id ('<request id>-image-<i>'), so no encoder-cache file is ever"
                    + " shared between nodes; drop one of the two flags (EC keys then follow --mm-hash-format)");
        }
        MmHasher.Format format = MmHasher.DEFAULT.format();
        if (mmHashFormat != null) {
            format = MmHasher.Format.parse(mmHashFormat);
        } else if (vllmCompat != null) {
            if (MmHasher.Format.isVllmRelease(vllmCompat)) {
                try {
                    format = MmHasher.Format.forVllmRelease(vllmCompat);
                } catch (IllegalArgumentException e) {
                    throw new IllegalArgumentException("--vllm-compat " + vllmCompat + ": " + e.getMessage(), e);
                }
            } else {
                try {
                    format = MmHasher.Format.forVllmDate(java.time.LocalDate.parse(vllmCompat));
                } catch (java.time.format.DateTimeParseException e) {
                    throw new IllegalArgumentException(
                            "--vllm-compat " + vllmCompat + ": expected a date YYYY-MM-DD or a release vX.Y.Z", e);
                }
            }
        }
        return new MmHasher(MmHasher.Algorithm.parse(mmHasherAlgorithm), format);
    }

    private AutoCloseable openedEcConnector; // a NIXL EC connector, closed with the node

    @Override
    public Integer call() throws Exception {
        KvTransferConfig kv = kvTransferConfig == null ? null : KvTransferConfig.parse(kvTransferConfig);
        EcTransferConfig ec = ecTransferConfig == null ? null : EcTransferConfig.parse(ecTransferConfig);
        MediaLimits mediaLimits = MediaLimits.parse(limitMmPerPrompt);
        NodeRole role = role(ec, kv);
        MmHasher hasher = mmHasher(ec);
        String modelString = model.toString();
        List<String> names =
                servedModelName == null || servedModelName.isEmpty() ? List.of(modelString) : servedModelName;
        PixelBounds bounds = mmProcessorKwargs == null
                ? PixelBounds.NONE
                : PixelBounds.NONE.overriddenBy(Json.MAPPER.readTree(mmProcessorKwargs));
        String key = apiKey != null ? apiKey : System.getenv("VLLM_API_KEY");
        MediaConfig mediaConfig = MediaConfig.defaults().withMaxEncodedBytes(maxImageBytes);
        if (allowedLocalMediaPath != null) {
            mediaConfig = mediaConfig.withAllowedLocalMediaPath(allowedLocalMediaPath);
        }
        RuntimeOptions options = RuntimeOptions.defaults(role.parts())
                .withMaxModelLen(maxModelLen)
                .withBatching(maxNumSeqs, maxNumBatchedTokens)
                .withKvCacheBytes(kvCacheBytes == null ? 0 : kvCacheBytes)
                .withGpuMemoryUtilization(gpuMemoryUtilization)
                .withSeed(seed);
        List<AutoCloseable> closeables = new ArrayList<>();
        if (openedEcConnector != null) {
            closeables.add(openedEcConnector);
        }
        ModelRuntime runtime = ModelRuntime.open(model, options, backendOptions::create);
        closeables.add(runtime);
        runtime.warmUp();
        if (allowedMediaDomains != null && !allowedMediaDomains.isEmpty()) {
            mediaConfig = mediaConfig.withAllowedMediaDomains(Set.copyOf(allowedMediaDomains));
        }
        mediaConfig = mediaConfig
                .withAllowPrivateNetworks(allowPrivateMediaUrls)
                .withMaxPixels(maxImagePixels > 0 ? maxImagePixels : defaultMaxImagePixels(runtime, bounds));
        MediaLoader media = new MediaLoader(mediaConfig);
        closeables.add(media);
        EncodeBatcher batcher = new EncodeBatcher(runtime, maxEncoderBatch);
        closeables.add(batcher);
        ServingMetrics metrics = new ServingMetrics(names.getFirst());
        long maxBody = maxImageBytes * 2 + (1 << 20);
        ServingLimits limits = new ServingLimits(
                requestTimeout > 0 ? Duration.ofMillis((long) (requestTimeout * 1000)) : null,
                maxWaitingRequests,
                mediaLimits);
        NodeContext ctx =
                new NodeContext(runtime, media, batcher, hasher, modelString, bounds, metrics, names, maxBody, limits);
        HttpServer.Builder http = HttpServer.builder(
                        role instanceof NodeRole.Encoder ? "jepd encoder node" : "jepd PD node")
                .host(host)
                .port(port)
                .apiKey(key)
                .maxEntityBytes(maxBody)
                .headerTimeout(Duration.ofSeconds(headerTimeout))
                .bodyTimeout(Duration.ofSeconds(bodyTimeout))
                .idleTimeout(Duration.ofSeconds(idleTimeout))
                .maxConnections(maxConnections)
                .workerThreads(Math.max(64, 2 * maxNumSeqs));
        if (idleTrimSeconds > 0) {
            http.trimWhenIdle(Duration.ofMillis((long) (idleTrimSeconds * 1000)))
                    .trim(dev.jepd.ffi.MallocTrim::gcAndTrim);
        }
        // One line a supervisor (jepd demo, tests) can wait for.
        LongConsumer drainServer;
        String ready =
                switch (role) {
                    case NodeRole.Encoder e -> {
                        EncoderNode server = EncoderAssembly.start(e, ctx, http);
                        drainServer = server::shutdown;
                        closeables.add(server);
                        yield "role=encoder port=" + server.port();
                    }
                    case NodeRole.PrefillDecode pd -> {
                        PdNode server = PdAssembly.start(pd, ctx, http, host);
                        drainServer = server::shutdown;
                        closeables.add(server);
                        yield "role=pd port=" + server.port() + server.kvReadyFields();
                    }
                };
        metrics.backend(runtime.backend().name(), runtime.backend().device().toString());
        // the backend last and quoted: it holds spaces; the fields before it are what supervisors parse
        System.err.println("jepd serve: ready " + ready + " device="
                + runtime.backend().device() + " backend=\"" + runtime.backend().name() + "\"");
        GracefulExit.onSignals(() -> {
            System.err.println("jepd serve: draining (up to " + shutdownTimeout + " s), then exiting");
            drainServer.accept(TimeUnit.SECONDS.toMillis(shutdownTimeout));
            closeAll(closeables);
        });
        // Any other exit (System.exit elsewhere, a signal not handled) still closes what was opened.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> closeAll(closeables)));
        new CountDownLatch(1).await();
        return 0;
    }

    /**
     * 4x the model's max_pixels (after --mm-processor-kwargs): an image over max_pixels is resized down to it, so
     * decoding a few times more is useful, decoding a 13000 x 13000 bomb is not. Never above the decoder's own cap.
     */
    private static long defaultMaxImagePixels(ModelRuntime runtime, PixelBounds bounds) {
        long modelMax = bounds.maxPixels() != null
                ? bounds.maxPixels()
                : runtime.processor().config().maxPixels();
        return Math.min(ImageDecoder.DEFAULT_MAX_PIXELS, Math.multiplyExact(modelMax, 4));
    }

    private static void closeAll(List<AutoCloseable> closeables) {
        synchronized (closeables) {
            for (int i = closeables.size() - 1; i >= 0; i--) {
                try {
                    closeables.get(i).close();
                } catch (Exception ignored) {
                    // shutting down anyway
                }
            }
            closeables.clear();
        }
    }

    /** The EC connector {@code ec} names; a NIXL one needs the library, and is closed with the node. */
    private EcConnector ecConnector(EcTransferConfig ec) {
        if (ec.isVllmCpu()) {
            int[] widths = ecWidths(model);
            VllmEcCpuConnector c =
                    VllmEcCpuConnector.open(NixlLibrary.require(), ec, model.toString(), widths[0], widths[1]);
            openedEcConnector = c;
            return c;
        }
        if (!ec.isNixl()) {
            return SharedStorageEcConnector.open(ec, DType.BF16);
        }
        try {
            NixlEcConnector c = NixlEcConnector.open(NixlLibrary.require(), ec);
            openedEcConnector = c;
            return c;
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException(
                    "ec_connector " + ec.connector() + " cannot bind " + ec.pullHost() + ":" + ec.pullPort() + ": "
                            + e.getMessage(),
                    e);
        }
    }

    /**
     * The model's text hidden size and the width of one encoder-cache row (times {@code 1 +} its DeepStack levels),
     * read from {@code config.json} before the model loads: vLLM's ECCPUConnector sizes its blocks by them.
     */
    static int[] ecWidths(Path model) {
        com.fasterxml.jackson.databind.JsonNode cfg;
        try {
            cfg = Json.MAPPER.readTree(model.resolve("config.json").toFile());
        } catch (java.io.IOException e) {
            throw new IllegalArgumentException(
                    "cannot read " + model.resolve("config.json") + ": " + e.getMessage(), e);
        }
        com.fasterxml.jackson.databind.JsonNode text = cfg.has("text_config") ? cfg.get("text_config") : cfg;
        int hidden = text.path("hidden_size").asInt(cfg.path("hidden_size").asInt(0));
        if (hidden <= 0) {
            throw new IllegalArgumentException(model.resolve("config.json") + " has no hidden_size");
        }
        int levels = cfg.path("vision_config").path("deepstack_visual_indexes").size();
        return new int[] {hidden, hidden * (1 + levels)};
    }

    /**
     * The node's role from its transfer configs, as vLLM decides: {@code ec_producer} (or
     * {@code --mm-encoder-only}) is an encoder node; anything else a PD node.
     */
    private NodeRole role(EcTransferConfig ec, KvTransferConfig kv) {
        boolean encoderOnly = mmEncoderOnly || (ec != null && ec.role() == EcTransferConfig.Role.EC_PRODUCER);
        if (encoderOnly) {
            if (kv != null) {
                throw new IllegalArgumentException(
                        "--kv-transfer-config is for prefill/decode nodes; an encoder-only node has no KV cache");
            }
            if (ec == null) {
                throw new IllegalArgumentException(
                        "an encoder-only node needs --ec-transfer-config (a shared_storage_path, or a NIXL connector)");
            }
            return new NodeRole.Encoder(ecConnector(ec));
        }
        Optional<EcConnector> connector = ec == null ? Optional.empty() : Optional.of(ecConnector(ec));
        return new NodeRole.PrefillDecode(
                connector.filter(c -> ec.isConsumer()),
                connector.filter(c -> ec.isProducer()),
                Optional.ofNullable(kv));
    }
}
