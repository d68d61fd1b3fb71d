package dev.jepd.engine.generate;

import dev.jepd.engine.kv.BlockPool;
import dev.jepd.engine.kv.BlockTable;
import dev.jepd.engine.kv.PagedKvStore;
import dev.jepd.engine.model.CausalLm;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.model.SequenceChunk;
import dev.jepd.engine.sampling.Sampler;
import dev.jepd.engine.sampling.SamplingState;
import dev.jepd.engine.tensor.TensorBackend;
import dev.jepd.engine.text.ImageSpan;
import dev.jepd.engine.text.IncrementalDetokenizer;
import dev.jepd.engine.text.StopChecker;
import dev.jepd.engine.text.StopConditions;
import dev.jepd.engine.text.Tokenizer;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The scheduler and step loop of one language model. {@link #submit} may be called from any thread;
 * {@link #step()} from one engine thread only. Each step: admit waiting sequences while blocks and the
 * token budget allow (FCFS), give every running sequence its next chunk (one token when decoding, up to
 * the remaining budget when prefilling), run them as one batch, then sample, detokenize, check stops and
 * release finished sequences' blocks.
 */
public final class EngineCore implements AutoCloseable {
    private final CausalLm model;
    private final Tokenizer tokenizer;
    private final SchedulerConfig config;
    private final BlockPool pool;
    private final PagedKvStore kv;
    private final Sampler sampler;
    private final int[] eosIds;
    private final ConcurrentLinkedQueue<Sequence> incoming = new ConcurrentLinkedQueue<>();
    private final Deque<Sequence> waiting = new ArrayDeque<>();
    private final List<Sequence> running = new ArrayList<>();
    private final AtomicLong arrivals = new AtomicLong();
    private final EngineStats stats = new EngineStats();

    public EngineCore(
            CausalLm model,
            TensorBackend ops,
            Tokenizer tokenizer,
            SchedulerConfig config,
            List<Integer> eosIds,
            Sampler sampler) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.config = config;
        this.pool = new BlockPool(config.numBlocks(), config.blockSize());
        CausalLm.LmShape s = model.shape();
        this.kv = new PagedKvStore(ops, s.layers(), s.kvHeads(), s.headDim(), config.numBlocks(), config.blockSize());
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
        int prompt = request.promptIds().length;
        int maxTokens = request.stop().maxTokens();
        if (prompt + maxTokens > config.maxModelLen()) {
            throw new RequestRejectedException(
                    "This model's maximum context length is " + config.maxModelLen()
                            + " tokens. However, you requested " + (prompt + maxTokens) + " tokens (" + prompt
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
        incoming.add(new Sequence(request, sink, new BlockTable(pool), sampling, checker, arrivals.incrementAndGet()));
    }

    /** Marks a request aborted (client gone); its blocks are freed at the next step. */
    public void abort(String requestId) {
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

    public int numWaiting() {
        return waiting.size() + incoming.size();
    }

    /** Runs one scheduling step and forward pass; returns the number of tokens processed. */
    public synchronized int step() {
        for (Sequence s; (s = incoming.poll()) != null; ) {
            waiting.addLast(s);
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
        List<float[]> logits;
        try {
            logits = model.forward(chunks, kv);
        } catch (RuntimeException e) {
            for (Sequence s : batch) {
                fail(s, e);
            }
            return 0;
        }
        stats.steps++;
        stats.tokens += tokens;

        int li = 0;
        for (int b = 0; b < batch.size(); b++) {
            Sequence s = batch.get(b);
            s.computed += chunkLen.get(b);
            s.table.setNumTokens(s.computed);
            if (!chunks.get(b).wantLogits()) {
                continue;
            }
            float[] row = logits.get(li++);
            int token = sampler.sample(row, s.sampling);
            s.sampling.appendOutput(token);
            s.append(token);
            StopChecker.Step st = s.stop.append(token);
            if (st.finished()) {
                finish(s, st, token);
            } else {
                s.sink.onToken(token, st.delta());
            }
        }
        return tokens;
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

    private void finish(Sequence s, StopChecker.Step st, int lastToken) {
        running.remove(s);
        s.table.release();
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

    /** Blocks in use (for tests and the {@code vllm:kv_cache_usage_perc} gauge). */
    public int usedBlocks() {
        return pool.numUsedBlocks();
    }

    @Override
    public void close() {
        kv.close();
    }
}
