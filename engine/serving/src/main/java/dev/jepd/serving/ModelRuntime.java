package dev.jepd.serving;

import dev.jepd.engine.generate.EngineCore;
import dev.jepd.engine.generate.GenerationRequest;
import dev.jepd.engine.generate.RequestRejectedException;
import dev.jepd.engine.generate.Requests;
import dev.jepd.engine.generate.TokenSink;
import dev.jepd.engine.kv.KvCacheSpec;
import dev.jepd.engine.model.CausalLm;
import dev.jepd.engine.model.HfSnapshot;
import dev.jepd.engine.model.ModelLoadException;
import dev.jepd.engine.model.MultimodalModel;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.model.VisionEncoder;
import dev.jepd.engine.sampling.Sampler;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.ChatMessage;
import dev.jepd.engine.text.FinishReason;
import dev.jepd.engine.text.Prompt;
import dev.jepd.engine.text.PromptBuilder;
import dev.jepd.engine.text.StopConditions;
import dev.jepd.engine.text.StopReason;
import dev.jepd.engine.text.Tokenizer;
import dev.jepd.engine.text.TooManyTokensException;
import dev.jepd.media.ImageGrid;
import dev.jepd.media.PixelBounds;
import dev.jepd.media.PixelValues;
import dev.jepd.media.PreprocessorConfig;
import dev.jepd.media.QwenImageProcessor;
import dev.jepd.media.RgbImage;
import dev.jepd.models.ModelRegistry;
import dev.jepd.tensor.DType;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.torch.TorchBackend;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalInt;
import java.util.function.Consumer;
import java.util.function.Supplier;

/** A model opened for serving or generation; one per process. */
public final class ModelRuntime implements AutoCloseable {
    private final TensorBackend backend;
    private final HfSnapshot snapshot;
    private final MultimodalModel model;
    private final Tokenizer tokenizer;
    private final QwenImageProcessor processor;
    private final PromptBuilder prompts;
    private final EngineCore engine;
    private final OptionalInt modelEos;

    private ModelRuntime(
            TensorBackend backend,
            HfSnapshot snapshot,
            MultimodalModel model,
            Tokenizer tokenizer,
            QwenImageProcessor processor,
            EngineCore engine) {
        this.backend = backend;
        this.snapshot = snapshot;
        this.model = model;
        this.tokenizer = tokenizer;
        this.processor = processor;
        this.prompts = new PromptBuilder(tokenizer, model.specialTokens(), model.chatTemplate());
        this.engine = engine;
        int eos = snapshot.config().path("eos_token_id").asInt(-1);
        this.modelEos = eos >= 0 ? OptionalInt.of(eos) : OptionalInt.empty();
    }

    /** The tensor backend the model runs on. */
    public TensorBackend backend() {
        return backend;
    }

    public static ModelRuntime open(Path dir, RuntimeOptions options) {
        return open(dir, options, () -> TorchBackend.cpu(DType.F32));
    }

    /** As {@link #open(Path, RuntimeOptions)} on a backend of the caller's choice, which the runtime closes. */
    public static ModelRuntime open(Path dir, RuntimeOptions options, Supplier<TensorBackend> backendFactory) {
        HfSnapshot snapshot = HfSnapshot.open(dir);
        if (!Files.isRegularFile(snapshot.tokenizerJson())) {
            throw new ModelLoadException(dir + " has no tokenizer.json");
        }
        TensorBackend backend = backendFactory.get();
        MultimodalModel model = null;
        Tokenizer tokenizer = null;
        try {
            model = ModelRegistry.load(snapshot, backend, options.parts());
            tokenizer = Tokenizer.load(snapshot.tokenizerJson());
            model.specialTokens().checkAgainst(tokenizer);
            PreprocessorConfig pre = Files.isRegularFile(snapshot.preprocessorConfig())
                    ? PreprocessorConfig.read(snapshot.preprocessorConfig())
                    : PreprocessorConfig.defaults();
            EngineCore engine = null;
            if (model.language().isPresent()) {
                CausalLm lm = model.language().get();
                CausalLm.LmShape s = lm.shape();
                // read once, after the weights are loaded: what is in use and free now
                java.util.Optional<long[]> mem = backend.deviceMemory();
                long budget = kvBudget(backend, mem, options, s);
                KvCacheSpec spec = KvCacheSpec.forBudget(
                        s.layers(),
                        s.kvHeads(),
                        s.headDim(),
                        options.blockSize(),
                        backend.computeType().byteSize(),
                        budget);
                if (mem.isPresent() && spec.bytes() > mem.get()[0]) {
                    throw new ModelLoadException("the KV cache of " + spec.bytes() + " bytes does not fit on "
                            + backend.device() + ": " + mem.get()[0] + " bytes are free after loading the model;"
                            + " lower --kv-cache-memory-bytes or --gpu-memory-utilization");
                }
                try {
                    engine = new EngineCore(
                            lm,
                            backend,
                            tokenizer,
                            options.scheduler(model.maxPositionEmbeddings(), spec.numBlocks()),
                            snapshot.generation().eosTokenIds(),
                            new Sampler(options.seed()));
                } catch (RuntimeException | OutOfMemoryError e) {
                    // The cache is allocated whole, here: a size that does not fit fails the start, not a request.
                    throw new ModelLoadException("the KV cache of " + spec.bytes() + " bytes (" + spec.numBlocks()
                            + " blocks of " + options.blockSize() + " tokens) does not fit on " + backend.device()
                            + ": " + e.getMessage() + "; lower --kv-cache-memory-bytes or --gpu-memory-utilization");
                }
            }
            return new ModelRuntime(backend, snapshot, model, tokenizer, new QwenImageProcessor(pre), engine);
        } catch (RuntimeException e) {
            if (tokenizer != null) {
                tokenizer.close();
            }
            if (model != null) {
                model.close();
            }
            backend.close();
            throw e;
        }
    }

    /**
     * The KV cache's bytes: {@code --kv-cache-memory-bytes} when given; on an accelerator without it, as vLLM
     * sizes it, {@code --gpu-memory-utilization} of the device's memory less what is in use once the weights
     * are loaded (this process's and any other's) and less room for one step's activations (the peak of a
     * {@code max-num-batched-tokens} prefill: its hidden states and MLP intermediates, the logits, and 1 GiB for
     * the allocator's and the GEMM libraries' workspaces); refused at start-up when nothing is left. {@code mem}
     * is the backend's {@code {free, total}} device memory, empty on the host.
     */
    static long kvBudget(
            TensorBackend backend, java.util.Optional<long[]> mem, RuntimeOptions options, CausalLm.LmShape s) {
        if (options.kvCacheBytes() > 0 || mem.isEmpty()) {
            return options.kvCacheBytes() > 0 ? options.kvCacheBytes() : RuntimeOptions.DEFAULT_KV_CACHE_BYTES;
        }
        long free = mem.get()[0];
        long total = mem.get()[1];
        long used = total - free;
        long tokens = options.maxNumBatchedTokens();
        long elem = backend.computeType().byteSize();
        long activations =
                tokens * s.hidden() * elem * 16 + (long) options.maxNumSeqs() * s.vocab() * 4 * 2 + (1L << 30);
        long budget = (long) (options.gpuMemoryUtilization() * total) - used - activations;
        if (budget <= 0) {
            throw new ModelLoadException(String.format(
                    java.util.Locale.ROOT,
                    "no room for a KV cache on %s: --gpu-memory-utilization %.2f of %d bytes is %d, of which %d are in"
                            + " use after loading the model and %d are kept for activations; raise"
                            + " --gpu-memory-utilization or set --kv-cache-memory-bytes",
                    backend.device(),
                    options.gpuMemoryUtilization(),
                    total,
                    (long) (options.gpuMemoryUtilization() * total),
                    used,
                    activations));
        }
        return budget;
    }

    public HfSnapshot snapshot() {
        return snapshot;
    }

    public MultimodalModel model() {
        return model;
    }

    public Tokenizer tokenizer() {
        return tokenizer;
    }

    public QwenImageProcessor processor() {
        return processor;
    }

    public EngineCore engine() {
        if (engine == null) {
            throw new IllegalStateException("this runtime has no language model (encoder only)");
        }
        return engine;
    }

    /** Preprocesses and encodes images in one batch through the vision tower. */
    public List<EncodedImage> encode(List<RgbImage> images, PixelBounds bounds) {
        VisionEncoder vision = model.vision()
                .orElseThrow(() -> new IllegalStateException("this runtime has no vision tower (language model only)"));
        List<PixelValues> pixels = new ArrayList<>(images.size());
        for (RgbImage img : images) {
            pixels.add(processor.process(img, bounds));
        }
        List<EncodedImage> out = new ArrayList<>(images.size());
        try (Scope scope = backend.open()) {
            List<Tensor> embeds = vision.encode(pixels, backend.ops(scope));
            for (int i = 0; i < images.size(); i++) {
                PixelValues p = pixels.get(i);
                out.add(new EncodedImage(
                        new ImageGrid(p.gridT(), p.gridH(), p.gridW(), model.mergeSize()),
                        embeds.get(i).toFloats(),
                        vision.embeddingDim()));
            }
        }
        return out;
    }

    /** A chat prompt with its images (already encoded, in the order their parts appear) made runnable. */
    public GenerationRequest prepare(
            String id, List<ChatMessage> messages, List<EncodedImage> images, SamplingParams sampling) {
        int[] tokens = new int[images.size()];
        List<ImageGrid> grids = new ArrayList<>(images.size());
        List<float[]> embeds = new ArrayList<>(images.size());
        for (int i = 0; i < images.size(); i++) {
            tokens[i] = images.get(i).grid().numTokens();
            grids.add(images.get(i).grid());
            embeds.add(images.get(i).embeddings());
        }
        Prompt p;
        try {
            p = prompts.chat(messages, tokens, engine().config().maxModelLen() - 1);
        } catch (TooManyTokensException e) {
            throw tooLong(e);
        }
        return request(id, p, grids, embeds, sampling);
    }

    /** A prompt given as token ids ({@code /v1/completions}). */
    public GenerationRequest prepareTokens(String id, int[] ids, SamplingParams sampling) {
        return request(id, prompts.tokens(ids), List.of(), List.of(), sampling);
    }

    /** A raw text prompt ({@code /v1/completions}). */
    public GenerationRequest prepareText(String id, String text, SamplingParams sampling) {
        Prompt p;
        try {
            p = prompts.text(text, engine().config().maxModelLen() - 1);
        } catch (TooManyTokensException e) {
            throw tooLong(e);
        }
        return request(id, p, List.of(), List.of(), sampling);
    }

    /** vLLM's context-length 400 for a prompt refused before all of it was tokenised. */
    private RequestRejectedException tooLong(TooManyTokensException e) {
        return new RequestRejectedException(
                "This model's maximum context length is " + engine().config().maxModelLen()
                        + " tokens. However, your request has at least " + e.counted()
                        + " input tokens. Please reduce the length of the input messages.",
                "messages");
    }

    private GenerationRequest request(
            String id, Prompt p, List<ImageGrid> grids, List<float[]> embeds, SamplingParams sampling) {
        PromptPositions pos = model.positions(p.ids(), grids);
        int maxLen = engine().config().maxModelLen();
        if (p.ids().length >= maxLen) {
            throw new RequestRejectedException(
                    "This model's maximum context length is " + maxLen
                            + " tokens. However, your request has " + p.ids().length
                            + " input tokens. Please reduce the"
                            + " length of the input messages.",
                    "messages");
        }
        int maxTokens = sampling.maxTokens() != null ? sampling.maxTokens() : maxLen - p.ids().length;
        StopConditions stop = Requests.stopConditions(sampling, maxTokens, modelEos, snapshot.generation());
        return new GenerationRequest(id, p.ids(), p.spans(), embeds, pos, sampling, stop);
    }

    /**
     * Runs each loaded part once on a small input (a 56×56 image, a few-token prompt), as vLLM's start-up
     * profile run does, so the first client request does not pay JIT and native warm-up. Call before serving,
     * from the thread that will not yet be stepping the engine.
     */
    public void warmUp() {
        if (model.vision().isPresent()) {
            byte[] rgb = new byte[56 * 56 * 3];
            for (int i = 0; i < rgb.length; i++) {
                rgb[i] = (byte) (i * 31);
            }
            encode(List.of(new RgbImage(56, 56, rgb)), PixelBounds.NONE);
        }
        if (engine != null) {
            generate(prepareText("warmup", "Hello", SamplingParams.greedy(2)), s -> {});
        }
    }

    /** Result of a blocking generation. */
    public record Generated(String text, List<Integer> tokenIds, FinishReason finishReason, TokenSink.Usage usage) {}

    /**
     * Runs one request to the end on the calling thread, streaming text deltas to {@code onText}. For
     * tools and tests; servers drive the engine from their own loop.
     */
    public Generated generate(GenerationRequest request, Consumer<String> onText) {
        List<Integer> ids = new ArrayList<>();
        StringBuilder text = new StringBuilder();
        Object[] end = new Object[2];
        RuntimeException[] error = new RuntimeException[1];
        engine().submit(request, new TokenSink() {
            @Override
            public void onToken(int tokenId, String delta) {
                ids.add(tokenId);
                text.append(delta);
                if (!delta.isEmpty()) {
                    onText.accept(delta);
                }
            }

            @Override
            public void onFinish(FinishReason reason, StopReason stopReason, Usage usage) {
                end[0] = reason;
                end[1] = usage;
            }

            @Override
            public void onError(RuntimeException e) {
                error[0] = e;
            }
        });
        while (end[0] == null && error[0] == null && engine.hasWork()) {
            engine.step();
        }
        if (error[0] != null) {
            throw error[0];
        }
        return new Generated(text.toString(), ids, (FinishReason) end[0], (TokenSink.Usage) end[1]);
    }

    @Override
    public void close() {
        if (engine != null) {
            engine.close();
        }
        model.close();
        tokenizer.close();
        backend.close();
    }
}
