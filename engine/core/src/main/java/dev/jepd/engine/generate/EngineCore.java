package dev.jepd.engine.generate;

import dev.jepd.engine.connector.KvBlockSource;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvLeaseRegistry;
import dev.jepd.engine.connector.KvRegions;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.kv.BlockPool;
import dev.jepd.engine.kv.BlockTable;
import dev.jepd.engine.kv.PagedKvStore;
import dev.jepd.engine.model.CausalLm;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.model.SequenceChunk;
import dev.jepd.engine.model.StepBatch;
import dev.jepd.engine.sampling.Sampler;
import dev.jepd.engine.sampling.SamplingState;
import dev.jepd.engine.text.ImageSpan;
import dev.jepd.engine.text.IncrementalDetokenizer;
import dev.jepd.engine.text.StopChecker;
import dev.jepd.engine.text.StopConditions;
import dev.jepd.engine.text.Tokenizer;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The scheduler and step loop of one language model. {@link #submit} may be called from any thread;
 * {@link #step()} from one engine thread only. Each step: admit waiting sequences while blocks and the
 * token budget allow (FCFS), give every running sequence its next chunk (one token when decoding, up to
 * the remaining budget when prefilling), run them as one batch, then sample, detokenize, check stops and
 * release finished sequences' blocks.
 *
 * <p>Prefill/decode disaggregation (DESIGN §4.4) adds two kinds of request. One submitted
 * {@linkplain #submitForRemoteDecode for a remote decode} does not free its blocks when it finishes: they go to a
 * {@link KvLeaseRegistry} until a decode node {@linkplain #release confirms} its copy or the lease expires
 * ({@link #expireLeases}). One submitted {@linkplain #submitWithRemoteKv with pulled KV} has, when admitted, the
 * pulled rows of all its prompt tokens but the last written into its own blocks; the step then computes the last
 * prompt token and samples the first output as usual. The engine is the transfer's {@link KvBlockSource}: reads
 * take this object's lock, so they never race a step.
 *
 * <p>A request submitted with {@link KvHandoff.LoadRemote} waits in {@link RequestState#WAITING_FOR_REMOTE_KV}
 * (vLLM's {@code WAITING_FOR_REMOTE_KVS}) while a transfer thread pulls its prompt's KV, so no caller blocks on
 * the network; when the pull ends it joins the waiting queue with the blocks (or, when the pull failed and the
 * policy is recompute, without them), or fails at the next step.
 */
public final class EngineCore implements AutoCloseable, KvBlockSource {
    private static final Logger LOG = LoggerFactory.getLogger(EngineCore.class);

    /** Where a request is in the scheduler. */
    public enum RequestState {
        /** Its prompt KV is being pulled from a prefill node; it is not yet scheduled. */
        WAITING_FOR_REMOTE_KV,
        WAITING,
        RUNNING
    }

    private final CausalLm model;
    private final CausalLm.LmShape shape; // asked once: the step loop reads it every step
    private final TensorBackend backend;
    private final KvLayout layout;
    private final KvLeaseRegistry leases = new KvLeaseRegistry();
    private final Tokenizer tokenizer;
    private final SchedulerConfig config;
    private final BlockPool pool;
    private final PagedKvStore kv;
    private final Optional<KvRegions> regions; // the cache's own memory, when the backend exposes it
    private final Sampler sampler;

    /** One row of logits, as the sampler reads it; reused from step to step (only the stepping thread touches it). */
    private float[] logitRow = new float[0];

    private final int[] eosIds;
    private final ConcurrentLinkedQueue<Sequence> incoming = new ConcurrentLinkedQueue<>();
    private final Deque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    private final AtomicLong arrivals = new AtomicLong();
    private final EngineStats stats = new EngineStats();
    private final Set<Sequence> waitingForRemoteKv = ConcurrentHashMap.newKeySet();
    // Pulls block on the network for up to the transfer timeout; one thread each, created as needed.
    private final ExecutorService pulls = Executors.newCachedThreadPool(
            Thread.ofPlatform().name("jepd-kv-pull-", 0).daemon(true).factory());
    private volatile Runnable onRemoteKvReady = () -> {};

    public EngineCore(
            CausalLm model,
            TensorBackend backend,
            Tokenizer tokenizer,
            SchedulerConfig config,
            List<Integer> eosIds,
            Sampler sampler) {
        this.model = model;
        this.backend = backend;
        this.tokenizer = tokenizer;
        this.config = config;
        this.pool = new BlockPool(config.numBlocks(), config.blockSize());
        CausalLm.LmShape s = model.shape();
        this.shape = s;
        this.kv =
                new PagedKvStore(backend, s.layers(), s.kvHeads(), s.headDim(), config.numBlocks(), config.blockSize());
        this.layout = new KvLayout(s.layers(), s.kvHeads(), s.headDim(), config.blockSize());
        this.regions = kv.regions();
        this.sampler = sampler;
        this.eosIds = eosIds.stream().mapToInt(Integer::intValue).toArray();
    }

    public SchedulerConfig config() {
        return config;
    }

    public EngineStats stats() {
        return stats;
    }

    public double kvUsage() {
        return pool.usage();
    }

    /**
     * Queues a request. Requests that could never run (longer than {@code max_model_len}, or needing more
     * blocks than the whole cache) are rejected here, synchronously.
     */
    public void submit(GenerationRequest request, TokenSink sink) {
        incoming.add(sequence(request, sink));
    }

    /** Queues a request with its KV hand-off; a {@link KvHandoff.LoadRemote} pull runs on a transfer thread. */
    public void submit(EngineRequest request, TokenSink sink) {
        switch (request.kv()) {
            case KvHandoff.None n -> submit(request.generation(), sink);
            case KvHandoff.HoldForRemote h -> submitForRemoteDecode(request.generation(), sink, h.lease());
            case KvHandoff.LoadRemote l -> submitLoadingRemoteKv(request.generation(), sink, l);
        }
    }

    /** Called (on a transfer thread) when a pull has ended, so a sleeping engine thread can step again. */
    public void onRemoteKvReady(Runnable wake) {
        this.onRemoteKvReady = wake;
    }

    private void submitLoadingRemoteKv(GenerationRequest request, TokenSink sink, KvHandoff.LoadRemote load) {
        Sequence s = sequence(request, sink); // rejected here, synchronously, like any request
        waitingForRemoteKv.add(s);
        pulls.execute(() -> {
            try {
                KvBlocks pulled = pullForAdmission(s, load.source());
                if (pulled != null) {
                    checkPulled(request, pulled);
                    s.pulled = pulled;
                }
            } catch (KvTransferException e) {
                if (load.recomputeOnFailure()) {
                    LOG.warn(
                            "[{}] KV pull failed, prefilling locally (kv_load_failure_policy recompute): {}",
                            request.id(),
                            e.getMessage());
                } else {
                    s.remoteKvFailure = e;
                }
            } catch (RuntimeException e) {
                s.remoteKvFailure = e;
            }
            // Into the queue before out of the set: counted as waiting throughout.
            incoming.add(s);
            waitingForRemoteKv.remove(s);
            onRemoteKvReady.run();
        });
    }

    /**
     * Pulls {@code s}'s prompt KV on a transfer thread. When the cache's memory is registrable and the pool has
     * room, the prompt's blocks are allocated first and the transport may write them in place (no copy): then
     * {@code s} leaves with those blocks loaded and this returns null. Otherwise (or when the transport could only
     * copy) the blocks are freed again and the pulled rows are returned, to be copied in at admission.
     */
    private KvBlocks pullForAdmission(Sequence s, KvHandoff.RemoteKv source) {
        int prompt = s.request.promptIds().length;
        // The sequence is not in the scheduler yet: only this thread touches its table (the pool is synchronized).
        if (regions.isEmpty() || !source.pullsInPlace() || !s.table.ensureCapacity(prompt)) {
            return source.pull(layout, prompt);
        }
        KvBlocks pulled;
        try {
            pulled = source.pullInto(layout, prompt, regions.get(), s.table.blocks());
        } catch (RuntimeException e) {
            s.table.release();
            throw e;
        }
        if (pulled != null) {
            s.table.release();
            return pulled;
        }
        s.loadedInPlace = true;
        s.computed = prompt - 1; // the last prompt token is computed here, as after a copied pull
        s.table.setNumTokens(s.computed);
        return null;
    }

    /**
     * As {@link #submit}, but at the end the blocks are held for a decode node for up to {@code lease}; the
     * held prompt block ids are then {@link #heldBlockIds}, available before the sink hears of the finish.
     */
    public void submitForRemoteDecode(GenerationRequest request, TokenSink sink, Duration lease) {
        Sequence s = sequence(request, sink);
        s.holdNanos = Math.max(1, lease.toNanos());
        incoming.add(s);
    }

    /**
     * As {@link #submit}, with the prompt's KV already computed elsewhere: {@code pulled} must hold at least
     * the prompt's tokens, in this engine's layout. The last prompt token is recomputed here.
     */
    public void submitWithRemoteKv(GenerationRequest request, TokenSink sink, KvBlocks pulled) {
        checkPulled(request, pulled);
        Sequence s = sequence(request, sink);
        s.pulled = pulled;
        incoming.add(s);
    }

    private void checkPulled(GenerationRequest request, KvBlocks pulled) {
        if (!pulled.layout().equals(layout)) {
            throw new KvTransferException("pulled KV layout " + pulled.layout() + " differs from " + layout);
        }
        if (pulled.tokens() < request.promptIds().length) {
            throw new KvTransferException("pulled KV holds " + pulled.tokens() + " positions, the prompt has "
                    + request.promptIds().length + " tokens");
        }
    }

    private Sequence sequence(GenerationRequest request, TokenSink sink) {
        int prompt = request.promptIds().length;
        int maxTokens = request.stop().maxTokens();
        // In long: max_tokens near 2^31 must not wrap to a negative total and pass.
        if ((long) prompt + maxTokens > config.maxModelLen()) {
            throw new RequestRejectedException(
                    "This model's maximum context length is " + config.maxModelLen()
                            + " tokens. However, you requested " + ((long) prompt + maxTokens) + " tokens (" + prompt
                            + " in the messages, " + maxTokens + " in the completion). Please reduce the length of the"
                            + " messages or completion.",
                    "max_tokens");
        }
        int blocks = BlockTable.blocksFor(prompt + maxTokens, config.blockSize());
        if (blocks > config.numBlocks()) {
            throw new RequestRejectedException(
                    "request needs " + blocks + " KV blocks for " + (prompt + maxTokens)
                            + " tokens but the KV cache holds " + config.numBlocks() + " blocks in all",
                    "max_tokens");
        }
        StopConditions stop = request.stop();
        SamplingState sampling = new SamplingState(request.sampling(), request.promptIds(), eosIds);
        StopChecker checker = new StopChecker(stop, IncrementalDetokenizer.of(tokenizer, true));
        return new Sequence(request, sink, new BlockTable(pool), sampling, checker, arrivals.incrementAndGet());
    }

    /** Marks a request aborted (client gone); its blocks are freed at the next step. */
    public void abort(String requestId) {
        for (Sequence s : waitingForRemoteKv) {
            if (s.request.id().equals(requestId)) {
                s.aborted = true; // dropped when its pull ends
            }
        }
        for (Sequence s : incoming) {
            if (s.request.id().equals(requestId)) {
                s.aborted = true;
            }
        }
        synchronized (this) {
            for (Sequence s : running) {
                if (s.request.id().equals(requestId)) {
                    s.aborted = true;
                }
            }
            for (Sequence s : waiting) {
                if (s.request.id().equals(requestId)) {
                    s.aborted = true;
                }
            }
        }
    }

    public boolean hasWork() {
        return !incoming.isEmpty() || !waiting.isEmpty() || !running.isEmpty();
    }

    public int numRunning() {
        return running.size();
    }

    /** Requests not yet running, those waiting for remote KV included (as vLLM counts them). */
    public int numWaiting() {
        return waiting.size() + incoming.size() + waitingForRemoteKv.size();
    }

    /** Requests whose prompt KV is being pulled. */
    public int numWaitingForRemoteKv() {
        return waitingForRemoteKv.size();
    }

    /** Where {@code requestId} is, or empty when it is not (or no longer) in the scheduler. */
    public synchronized Optional<RequestState> state(String requestId) {
        for (Sequence s : running) {
            if (s.request.id().equals(requestId)) {
                return Optional.of(RequestState.RUNNING);
            }
        }
        for (Sequence s : incoming) {
            if (s.request.id().equals(requestId)) {
                return Optional.of(RequestState.WAITING);
            }
        }
        for (Sequence s : waiting) {
            if (s.request.id().equals(requestId)) {
                return Optional.of(RequestState.WAITING);
            }
        }
        for (Sequence s : waitingForRemoteKv) {
            if (s.request.id().equals(requestId)) {
                return Optional.of(RequestState.WAITING_FOR_REMOTE_KV);
            }
        }
        return Optional.empty();
    }

    /** Runs one scheduling step and forward pass; returns the number of tokens processed. */
    public synchronized int step() {
        for (Sequence s; (s = incoming.poll()) != null; ) {
            if (s.remoteKvFailure != null && !s.aborted) {
                fail(s, s.remoteKvFailure); // kv_load_failure_policy fail
            } else {
                waiting.addLast(s);
            }
        }
        dropAborted();
        List<Sequence> batch = new ArrayList<>();
        List<Integer> chunkLen = new ArrayList<>();
        int budget = config.maxNumBatchedTokens();

        // Running sequences first, oldest first; a sequence that cannot get blocks preempts the newest.
        for (int i = 0; i < running.size() && budget > 0; i++) {
            Sequence s = running.get(i);
            int n = Math.min(s.length() - s.computed, budget);
            while (!s.table.ensureCapacity(s.computed + n)) {
                Sequence victim = running.getLast();
                running.removeLast();
                victim.preempt();
                waiting.addFirst(victim);
                stats.preemptions++;
                if (victim == s) {
                    n = 0;
                    break;
                }
            }
            if (n == 0 || !running.contains(s)) {
                break;
            }
            batch.add(s);
            chunkLen.add(n);
            budget -= n;
        }
        // Then admit waiting sequences while seats, budget and blocks allow.
        while (!waiting.isEmpty() && budget > 0 && running.size() < config.maxNumSeqs()) {
            Sequence s = waiting.peekFirst();
            if (s.loadedInPlace) {
                s.loadedInPlace = false; // counted once; a preempted sequence recomputes from scratch
                stats.remoteKvTokens += s.computed;
            }
            if (s.pulled != null) {
                if (!s.table.ensureCapacity(s.length())) {
                    break;
                }
                try {
                    loadPulled(s);
                } catch (RuntimeException e) {
                    waiting.pollFirst();
                    fail(s, e);
                    continue;
                }
            }
            int n = Math.min(s.length() - s.computed, budget);
            if (!s.table.ensureCapacity(s.computed + n)) {
                break;
            }
            waiting.pollFirst();
            running.add(s);
            batch.add(s);
            chunkLen.add(n);
            budget -= n;
        }
        if (batch.isEmpty()) {
            return 0;
        }

        List<SequenceChunk> chunks = new ArrayList<>(batch.size());
        int tokens = 0;
        for (int b = 0; b < batch.size(); b++) {
            chunks.add(chunk(batch.get(b), chunkLen.get(b)));
            tokens += chunkLen.get(b);
        }
        StepBatch step = StepBatch.pack(chunks, shape.ropeAxes(), shape.embedWidth());
        try (Scope scope = backend.open()) {
            Tensor logits; // [logitRows, vocab]
            try {
                logits = model.forward(step, kv, backend.ops(scope));
            } catch (RuntimeException e) {
                for (Sequence s : batch) {
                    fail(s, e);
                }
                return 0;
            }
            stats.steps++;
            stats.tokens += tokens;
            sampleAll(batch, chunkLen, chunks, logits);
        }
        return tokens;
    }

    /**
     * Each sequence that wants logits samples its next token from its row of {@code logits}, read into one reused
     * buffer (at batch 32 the whole [32, 151936] as one float[] cost a copy the size of the LM head's output three
     * times a step); the rest only advance.
     */
    private void sampleAll(List<Sequence> batch, List<Integer> chunkLen, List<SequenceChunk> chunks, Tensor logits) {
        int vocab = shape.vocab();
        if (logitRow.length != vocab) {
            logitRow = new float[vocab];
        }
        float[] row = logitRow;
        int li = 0;
        for (int b = 0; b < batch.size(); b++) {
            Sequence s = batch.get(b);
            s.computed += chunkLen.get(b);
            s.table.setNumTokens(s.computed);
            if (!chunks.get(b).wantLogits()) {
                continue;
            }
            logits.toFloats((long) li * vocab, row, 0, vocab);
            li++;
            int token = sampler.sample(row, s.sampling); // records the token in s.sampling (penalties, min_tokens)
            s.append(token);
            StopChecker.Step st = s.stop.append(token);
            if (st.finished()) {
                finish(s, st, token);
            } else {
                s.sink.onToken(token, st.delta());
            }
        }
    }

    private SequenceChunk chunk(Sequence s, int n) {
        int from = s.computed;
        int to = from + n;
        int promptLen = s.promptLength();
        int[] slotsInt = s.table.slotMapping(0, to);
        long[] context = new long[to];
        for (int i = 0; i < to; i++) {
            context[i] = slotsInt[i];
        }
        long[] slots = new long[n];
        System.arraycopy(context, from, slots, 0, n);
        PromptPositions pp = s.request.positions();
        int axes = pp.positions().length;
        long[][] pos = new long[axes][n];
        for (int i = 0; i < n; i++) {
            int idx = from + i;
            for (int a = 0; a < axes; a++) {
                pos[a][i] = idx < promptLen ? pp.positions()[a][idx] : idx + pp.delta();
            }
        }
        List<SequenceChunk.InjectedRows> injected = new ArrayList<>();
        List<ImageSpan> spans = s.request.spans();
        for (int k = 0; k < spans.size(); k++) {
            ImageSpan span = spans.get(k);
            int a = Math.max(from, span.start());
            int b = Math.min(to, span.end());
            if (a < b) {
                injected.add(new SequenceChunk.InjectedRows(
                        a - from, b - a, s.request.imageEmbeddings().get(k), a - span.start()));
            }
        }
        return new SequenceChunk(s.tokens(from, to), pos, slots, context, from, injected, to == s.length());
    }

    /** Writes the pulled rows of prompt positions {@code [0, promptLength - 1)} into the sequence's own slots. */
    private void loadPulled(Sequence s) {
        KvBlocks pulled = s.pulled;
        s.pulled = null; // a preempted sequence recomputes from scratch
        int rows = s.promptLength() - 1;
        if (rows > 0) {
            int[] slotsInt = s.table.slotMapping(0, rows);
            long[] slots = new long[rows];
            for (int i = 0; i < rows; i++) {
                slots[i] = slotsInt[i];
            }
            int width = layout.rowFloats();
            try (Scope scope = backend.open()) {
                Ops ops = backend.ops(scope);
                Tensor idx = ops.fromLongs(slots, rows);
                for (int l = 0; l < layout.layers(); l++) {
                    // [rows, kvHeads, headDim]: the first rows of the pulled blocks are positions 0..rows-1
                    Tensor k = ops.fromFloats(
                            Arrays.copyOf(pulled.keys()[l], rows * width), rows, layout.kvHeads(), layout.headDim());
                    Tensor v = ops.fromFloats(
                            Arrays.copyOf(pulled.values()[l], rows * width), rows, layout.kvHeads(), layout.headDim());
                    ops.scatterRows(kv.keys(l), idx, k);
                    ops.scatterRows(kv.values(l), idx, v);
                }
            }
        }
        s.computed = Math.max(0, rows);
        s.table.setNumTokens(s.computed);
        stats.remoteKvTokens += s.computed;
    }

    private void finish(Sequence s, StopChecker.Step st, int lastToken) {
        running.remove(s);
        if (s.holdNanos > 0) {
            leases.hold(s.request.id(), s.table, s.promptLength(), System.nanoTime() + s.holdNanos);
        } else {
            s.table.release();
        }
        stats.finished++;
        s.sink.onLastToken(
                lastToken,
                st.delta(),
                st.finishReason(),
                st.stopReason(),
                new TokenSink.Usage(s.promptLength(), s.stop.outputTokens()));
    }

    private void fail(Sequence s, RuntimeException e) {
        running.remove(s);
        waiting.remove(s);
        s.table.release();
        s.sink.onError(e);
    }

    private void dropAborted() {
        for (Iterator<Sequence> it = running.iterator(); it.hasNext(); ) {
            Sequence s = it.next();
            if (s.aborted) {
                it.remove();
                s.table.release();
                stats.aborted++;
            }
        }
        for (Iterator<Sequence> it = waiting.iterator(); it.hasNext(); ) {
            Sequence s = it.next();
            if (s.aborted) {
                it.remove();
                s.table.release();
                stats.aborted++;
            }
        }
    }

    /** The prompt block ids held for a remote decode of {@code requestId}, or null when none are held. */
    public int[] heldBlockIds(String requestId) {
        KvLeaseRegistry.Lease l = leases.get(requestId);
        return l == null ? null : l.promptBlockIds().clone();
    }

    /** Blocks held for remote decodes (the {@code jepd:kv_blocks_held} gauge). */
    public int heldBlocks() {
        return leases.heldBlocks();
    }

    /** The leases of blocks held for remote decodes. */
    public KvLeaseRegistry leases() {
        return leases;
    }

    /** Frees the blocks of leases past their deadline; returns how many leases ended. */
    public synchronized int expireLeases() {
        return leases.expire(System.nanoTime());
    }

    @Override
    public KvLayout layout() {
        return layout;
    }

    @Override
    public Optional<KvRegions> regions() {
        return regions;
    }

    @Override
    public synchronized void checkHeld(String requestId, int[] blockIds, int promptTokens) {
        KvLeaseRegistry.Lease lease = leases.get(requestId);
        if (lease == null) {
            throw new KvTransferException("no KV blocks held for request " + requestId
                    + " (never prefilled here, already confirmed, or its lease expired)");
        }
        if (lease.promptTokens() != promptTokens) {
            throw new KvTransferException("request " + requestId + " was prefilled with " + lease.promptTokens()
                    + " prompt tokens, the decode node has " + promptTokens + " (a different prompt?)");
        }
        if (!Arrays.equals(lease.promptBlockIds(), blockIds)) {
            throw new KvTransferException("request " + requestId + " holds blocks "
                    + Arrays.toString(lease.promptBlockIds()) + ", not " + Arrays.toString(blockIds));
        }
    }

    @Override
    public synchronized KvBlocks read(String requestId, int[] blockIds, int promptTokens) {
        checkHeld(requestId, blockIds, promptTokens);
        int bs = layout.blockSize();
        long[] slots = new long[blockIds.length * bs];
        for (int b = 0; b < blockIds.length; b++) {
            for (int j = 0; j < bs; j++) {
                slots[b * bs + j] = (long) blockIds[b] * bs + j;
            }
        }
        float[][] keys = new float[layout.layers()][];
        float[][] values = new float[layout.layers()][];
        // Its own scope: called on a side-channel thread, beside the step's.
        try (Scope scope = backend.open()) {
            Ops ops = backend.ops(scope);
            Tensor idx = ops.fromLongs(slots, slots.length);
            for (int l = 0; l < layout.layers(); l++) {
                keys[l] = ops.gatherRows(kv.keys(l), idx).toFloats(); // [blocks*bs, kvHeads, headDim]
                values[l] = ops.gatherRows(kv.values(l), idx).toFloats();
            }
        }
        return new KvBlocks(layout, blockIds.length, keys, values);
    }

    @Override
    public synchronized boolean release(String requestId) {
        return leases.release(requestId);
    }

    /** Blocks in use (for tests and the {@code vllm:kv_cache_usage_perc} gauge). */
    public int usedBlocks() {
        return pool.numUsedBlocks();
    }

    @Override
    public void close() {
        pulls.shutdownNow();
        kv.close();
    }
}
