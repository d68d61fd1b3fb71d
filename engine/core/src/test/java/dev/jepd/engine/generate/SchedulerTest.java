package dev.jepd.engine.generate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvRegions;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.kv.PagedKvStore;
import dev.jepd.engine.model.CausalLm;
import dev.jepd.engine.model.PromptPositions;
import dev.jepd.engine.model.StepBatch;
import dev.jepd.engine.sampling.Sampler;
import dev.jepd.engine.sampling.SamplingParams;
import dev.jepd.engine.text.FinishReason;
import dev.jepd.engine.text.StopConditions;
import dev.jepd.engine.text.StopReason;
import dev.jepd.engine.text.TinyTokenizers;
import dev.jepd.engine.text.Tokenizer;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.ref.RefBackend;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The scheduler and the paged KV cache without a real model: {@link ToyLm} writes one key row per token into the
 * cache and reads every row it attends to back through the slots the scheduler gave it, so its next token depends on
 * every earlier token being at the right slot. A wrong block table, a lost chunk, a preemption that does not recompute,
 * or pulled KV at the wrong place all change the tokens, which are checked against {@link #expected}, a closed form
 * computed here without the engine.
 */
class SchedulerTest {
    static TensorBackend backend;
    static Tokenizer tokenizer;

    @BeforeAll
    static void load() {
        backend = new RefBackend();
        tokenizer = Tokenizer.fromJson(TinyTokenizers.tokenizerJson(), "tiny");
    }

    @AfterAll
    static void close() {
        backend.close();
    }

    /** Next token of a sequence: a letter chosen by a weighted sum over every (token, position) before it. */
    static int next(List<Integer> tokens) {
        long h = 0;
        for (int j = 0; j < tokens.size(); j++) {
            h = (h + (j + 1L) * (tokens.get(j) * 31L + j)) % 1_000_003L;
        }
        return 'a' + (int) (h % 26);
    }

    /** What greedy generation of {@code n} tokens must give, computed without the engine or the cache. */
    static List<Integer> expected(int[] prompt, int n) {
        List<Integer> seq = new ArrayList<>();
        for (int t : prompt) {
            seq.add(t);
        }
        List<Integer> out = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int t = next(seq);
            out.add(t);
            seq.add(t);
        }
        return out;
    }

    /** One layer, one KV head, head dim 4: the key row of a token is {@code [token, position, 1, 0]}. */
    static final class ToyLm implements CausalLm {
        @Override
        public LmShape shape() {
            return new LmShape(1, 1, 4, 4, TinyTokenizers.VOCAB, 1);
        }

        @Override
        public Tensor forward(StepBatch batch, PagedKvStore kv, Ops ops) {
            Set<Long> wanted = new HashSet<>();
            for (long r : batch.logitRows()) {
                wanted.add(r);
            }
            float[] logits = new float[batch.logitRows().length * TinyTokenizers.VOCAB];
            int li = 0;
            for (StepBatch.SeqAttention a : batch.attention()) {
                int n = a.length();
                float[] rows = new float[n * 4];
                long[] slotRows = new long[n];
                for (int i = 0; i < n; i++) {
                    rows[4 * i] = batch.tokenIds()[a.offset() + i];
                    rows[4 * i + 1] = batch.positions()[0][a.offset() + i];
                    rows[4 * i + 2] = 1;
                    slotRows[i] = batch.slotMapping()[a.offset() + i];
                }
                Tensor k = ops.fromFloats(rows, n, 1, 4); // [n, kvHeads, headDim]
                Tensor slots = ops.fromLongs(slotRows, n);
                ops.scatterRows(kv.keys(0), slots, k);
                ops.scatterRows(kv.values(0), slots, k);
                if (!wanted.contains((long) a.offset() + n - 1)) {
                    continue;
                }
                // Everything attended to, read back through the scheduler's slots: [start + n, 1, 4]
                long[] context = a.contextSlots();
                float[] ctx = ops.gatherRows(kv.keys(0), ops.fromLongs(context, context.length))
                        .toFloats();
                List<Integer> seq = new ArrayList<>();
                for (int j = 0; j < context.length; j++) {
                    assertEquals(j, (int) ctx[4 * j + 1], "position stored at context slot " + j);
                    assertEquals(1f, ctx[4 * j + 2], "context slot " + j + " was written");
                    seq.add((int) ctx[4 * j]);
                }
                logits[li++ * TinyTokenizers.VOCAB + next(seq)] = 1;
            }
            assertEquals(batch.logitRows().length, li, "one logit row per sequence that wants one");
            return ops.fromFloats(logits, li, TinyTokenizers.VOCAB);
        }

        @Override
        public void close() {}
    }

    static final class Collect implements TokenSink {
        final List<Integer> ids = new ArrayList<>();
        FinishReason finish;
        RuntimeException error;

        @Override
        public void onToken(int tokenId, String delta) {
            ids.add(tokenId);
        }

        @Override
        public void onFinish(FinishReason reason, StopReason stopReason, Usage usage) {
            finish = reason;
        }

        @Override
        public void onError(RuntimeException e) {
            error = e;
        }
    }

    static int[] prompt(String text) {
        return text.chars().toArray();
    }

    static GenerationRequest request(String id, int[] prompt, int maxTokens) {
        long[][] pos = {new long[prompt.length]};
        for (int i = 0; i < prompt.length; i++) {
            pos[0][i] = i;
        }
        return new GenerationRequest(
                id,
                prompt,
                List.of(),
                List.of(),
                new PromptPositions(pos, 0),
                SamplingParams.greedy(maxTokens),
                StopConditions.maxTokens(maxTokens));
    }

    static EngineCore engine(SchedulerConfig cfg) {
        return new EngineCore(new ToyLm(), backend, tokenizer, cfg, List.of(TinyTokenizers.END), new Sampler(0));
    }

    static void drain(EngineCore core) {
        for (int guard = 0; core.hasWork(); guard++) {
            assertTrue(guard < 10_000, "engine did not converge");
            core.step();
        }
    }

    record Run(Map<String, Collect> out, long preemptions, int maxRunning) {}

    static Run run(SchedulerConfig cfg, List<GenerationRequest> requests) {
        Map<String, Collect> out = new LinkedHashMap<>();
        int maxRunning = 0;
        try (EngineCore core = engine(cfg)) {
            for (GenerationRequest r : requests) {
                Collect c = new Collect();
                out.put(r.id(), c);
                core.submit(r, c);
            }
            for (int guard = 0; core.hasWork(); guard++) {
                assertTrue(guard < 10_000, "engine did not converge");
                core.step();
                maxRunning = Math.max(maxRunning, core.numRunning());
            }
            assertEquals(0, core.usedBlocks(), "all blocks returned");
            return new Run(out, core.stats().preemptions(), maxRunning);
        }
    }

    static final List<GenerationRequest> MIXED = List.of(
            request("a", prompt("the quick brown fox jumps over the lazy dog"), 16),
            request("b", prompt("hello"), 12),
            request("c", prompt("a prompt of exactly thirty-two b"), 20),
            request("d", prompt("x"), 9),
            request("e", prompt("seventeen letters"), 5));

    /**
     * {@code min_tokens} counts each generated token once: with every letter a stop token id, the toy model's letters
     * are held back (their logit -inf, so token 0 wins the argmax) for exactly {@code min_tokens} tokens, and the
     * first letter after them stops the request.
     */
    @Test
    void minTokensHoldsStopTokensBackForExactlyThatManyTokens() {
        Set<Integer> letters = new HashSet<>();
        for (int c = 'a'; c <= 'z'; c++) {
            letters.add(c);
        }
        int minTokens = 5;
        int[] prompt = prompt("held back");
        long[][] pos = {new long[prompt.length]};
        for (int i = 0; i < prompt.length; i++) {
            pos[0][i] = i;
        }
        GenerationRequest r = new GenerationRequest(
                "min",
                prompt,
                List.of(),
                List.of(),
                new PromptPositions(pos, 0),
                SamplingParams.builder()
                        .temperature(0)
                        .maxTokens(16)
                        .minTokens(minTokens)
                        .stopTokenIds(List.copyOf(letters))
                        .build(),
                StopConditions.maxTokens(16).withMinTokens(minTokens).withStopTokenIds(letters));
        Collect c = run(new SchedulerConfig(1, 4096, 4096, 16, 64), List.of(r))
                .out()
                .get("min");
        assertNull(c.error);
        assertEquals(FinishReason.STOP, c.finish);
        assertEquals(minTokens + 1, c.ids.size(), "tokens " + c.ids);
        for (int i = 0; i < minTokens; i++) {
            assertEquals(0, c.ids.get(i), "token " + i + " of " + c.ids);
        }
        assertTrue(letters.contains(c.ids.get(minTokens)), "the stop letter: " + c.ids);
    }

    @Test
    void maxTokensNearIntMaxIsRejectedNotWrappedAround() {
        EngineCore core = engine(new SchedulerConfig(1, 4096, 4096, 16, 64));
        assertThrows(
                RequestRejectedException.class,
                () -> core.submit(request("huge", prompt("hi"), Integer.MAX_VALUE), new Collect()));
        assertFalse(core.hasWork());
    }

    @Test
    void soloRunsGiveTheClosedFormTokens() {
        for (GenerationRequest r : MIXED) {
            Collect c = run(new SchedulerConfig(1, 4096, 4096, 16, 64), List.of(r))
                    .out()
                    .get(r.id());
            assertNull(c.error);
            assertEquals(expected(r.promptIds(), r.stop().maxTokens()), c.ids, r.id());
            assertEquals(FinishReason.LENGTH, c.finish);
        }
    }

    @Test
    void batchedChunkedAndPreemptedRunsGiveTheSameTokens() {
        // A budget of 7 tokens per step splits every longer prompt into chunks and mixes them with decodes.
        Run chunked = run(new SchedulerConfig(8, 7, 4096, 16, 64), MIXED);
        assertTrue(chunked.maxRunning() > 1, "several sequences ran in one step");
        // 16 blocks of 4 tokens cannot hold all five at once: the newest are preempted and recomputed.
        Run tight = run(new SchedulerConfig(8, 64, 4096, 4, 16), MIXED);
        assertTrue(tight.preemptions() > 0, "the tight pool forced preemptions");
        for (GenerationRequest r : MIXED) {
            List<Integer> want = expected(r.promptIds(), r.stop().maxTokens());
            assertEquals(want, chunked.out().get(r.id()).ids, "chunked " + r.id());
            assertEquals(want, tight.out().get(r.id()).ids, "tight KV " + r.id());
        }
    }

    @Test
    void aDecodeEngineFromPulledBlocksContinuesTheSequence() {
        SchedulerConfig cfg = new SchedulerConfig(8, 4096, 4096, 16, 64);
        int[] prompt = prompt("a prompt that spans more than two blocks of sixteen tokens each");
        try (EngineCore p = engine(cfg);
                EngineCore d = engine(cfg)) {
            Collect first = new Collect();
            p.submitForRemoteDecode(request("p", prompt, 1), first, Duration.ofMinutes(5));
            drain(p);
            int[] held = p.heldBlockIds("p");
            assertEquals((prompt.length + 15) / 16, held.length);
            assertEquals(held.length, p.usedBlocks(), "blocks held after the finish");
            assertThrows(KvTransferException.class, () -> p.read("p", held, prompt.length + 1));
            assertThrows(KvTransferException.class, () -> p.read("nobody", held, prompt.length));
            KvBlocks blocks = p.read("p", held, prompt.length);
            assertTrue(p.release("p"));
            assertFalse(p.release("p"));
            assertEquals(0, p.usedBlocks(), "confirmed: every block back in the pool");

            // Occupy the decode engine's first blocks so the pulled rows land at other slots than on P.
            d.submit(request("other", prompt("occupies the first blocks"), 4), new Collect());
            d.step();
            Collect out = new Collect();
            d.submitWithRemoteKv(request("d", prompt, 16), out, blocks);
            drain(d);
            assertNull(out.error);
            assertEquals(expected(prompt, 16), out.ids);
            assertEquals(first.ids.getFirst(), out.ids.getFirst(), "P's token is D's first token");
            assertEquals(prompt.length - 1, d.stats().remoteKvTokens(), "only the last prompt token ran on D");
            assertEquals(0, d.usedBlocks());
        }
    }

    /** Polls until {@code id} has left WAITING_FOR_REMOTE_KV (its pull ended on a transfer thread). */
    static void awaitPullEnded(EngineCore core, String id) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
        while (core.state(id).orElse(null) == EngineCore.RequestState.WAITING_FOR_REMOTE_KV) {
            assertTrue(System.nanoTime() < deadline, "the pull never ended");
            Thread.sleep(5);
        }
    }

    @Test
    void aPullWrittenStraightIntoTheAllocatedBlocksDecodesAsACopiedOne() throws Exception {
        SchedulerConfig cfg = new SchedulerConfig(8, 4096, 4096, 16, 64);
        int[] prompt = prompt("a prompt that spans more than two blocks of sixteen tokens each");
        try (EngineCore p = engine(cfg);
                EngineCore d = engine(cfg)) {
            p.submitForRemoteDecode(request("p", prompt, 1), new Collect(), Duration.ofMinutes(5));
            drain(p);
            KvBlocks blocks = p.read("p", p.heldBlockIds("p"), prompt.length);
            KvRegions regions = d.regions().orElseThrow(() -> new AssertionError("the ref backend's cache is native"));
            AtomicInteger copied = new AtomicInteger();
            AtomicInteger inPlace = new AtomicInteger();
            KvHandoff.RemoteKv source = new KvHandoff.RemoteKv() {
                @Override
                public KvBlocks pull(KvLayout layout, int promptTokens) {
                    copied.incrementAndGet();
                    return blocks;
                }

                @Override
                public boolean pullsInPlace() {
                    return true;
                }

                @Override
                public KvBlocks pullInto(KvLayout layout, int promptTokens, KvRegions into, int[] blockIds) {
                    assertEquals(blocks.numBlocks(), blockIds.length, "as many blocks as the prefill holds");
                    assertEquals(prompt.length, promptTokens);
                    int rows = layout.blockSize() * layout.rowFloats();
                    for (int l = 0; l < layout.layers(); l++) {
                        for (int b = 0; b < blockIds.length; b++) {
                            MemorySegment.copy(
                                    blocks.keys()[l],
                                    b * rows,
                                    into.keys()[l],
                                    ValueLayout.JAVA_FLOAT_UNALIGNED,
                                    blockIds[b] * into.blockBytes(),
                                    rows);
                            MemorySegment.copy(
                                    blocks.values()[l],
                                    b * rows,
                                    into.values()[l],
                                    ValueLayout.JAVA_FLOAT_UNALIGNED,
                                    blockIds[b] * into.blockBytes(),
                                    rows);
                        }
                    }
                    inPlace.incrementAndGet();
                    return null;
                }
            };
            Collect out = new Collect();
            d.submit(new EngineRequest(request("d", prompt, 16), new KvHandoff.LoadRemote(source, false)), out);
            awaitPullEnded(d, "d");
            assertEquals(blocks.numBlocks(), d.usedBlocks(), "the blocks were allocated before the pull");
            drain(d);
            assertNull(out.error);
            assertEquals(1, inPlace.get());
            assertEquals(0, copied.get(), "never copied through pull()");
            assertEquals(expected(prompt, 16), out.ids);
            assertEquals(prompt.length - 1, d.stats().remoteKvTokens(), "admitted with the pulled KV");
            assertEquals(0, d.usedBlocks());
        }
    }

    @Test
    void aDecodeWaitsForRemoteKvWithoutBlockingTheCallerOrOtherRequests() throws Exception {
        SchedulerConfig cfg = new SchedulerConfig(8, 4096, 4096, 16, 64);
        int[] prompt = prompt("a prompt that spans more than two blocks of sixteen tokens each");
        try (EngineCore p = engine(cfg);
                EngineCore d = engine(cfg)) {
            p.submitForRemoteDecode(request("p", prompt, 1), new Collect(), Duration.ofMinutes(5));
            drain(p);
            KvBlocks blocks = p.read("p", p.heldBlockIds("p"), prompt.length);

            Collect other = new Collect();
            d.submit(request("other", prompt("runs while the pull waits"), 6), other);
            CountDownLatch transferred = new CountDownLatch(1);
            AtomicInteger wakes = new AtomicInteger();
            d.onRemoteKvReady(wakes::incrementAndGet);
            Collect out = new Collect();
            KvHandoff.LoadRemote load = new KvHandoff.LoadRemote(
                    (layout, promptTokens) -> {
                        assertEquals(prompt.length, promptTokens);
                        try {
                            transferred.await();
                        } catch (InterruptedException e) {
                            throw new KvTransferException("interrupted", e);
                        }
                        return blocks;
                    },
                    false);
            d.submit(new EngineRequest(request("d", prompt, 16), load), out); // returns at once

            assertEquals(Optional.of(EngineCore.RequestState.WAITING_FOR_REMOTE_KV), d.state("d"));
            assertEquals(1, d.numWaitingForRemoteKv());
            assertEquals(2, d.numWaiting(), "a request waiting for KV counts as waiting");
            drain(d); // only "other" is work: it runs to the end while "d" waits
            assertEquals(expected(prompt("runs while the pull waits"), 6), other.ids);
            assertEquals(Optional.of(EngineCore.RequestState.WAITING_FOR_REMOTE_KV), d.state("d"));
            assertTrue(out.ids.isEmpty());
            assertFalse(d.hasWork(), "nothing to step while the pull runs");

            transferred.countDown();
            awaitPullEnded(d, "d");
            // The wake comes last on the transfer thread, after the request left WAITING_FOR_REMOTE_KV.
            long deadline = System.nanoTime() + Duration.ofSeconds(10).toNanos();
            while (wakes.get() == 0) {
                assertTrue(System.nanoTime() < deadline, "the engine thread was never woken");
                Thread.sleep(5);
            }
            assertEquals(1, wakes.get());
            assertEquals(0, d.numWaitingForRemoteKv());
            drain(d);
            assertNull(out.error);
            assertEquals(expected(prompt, 16), out.ids);
            assertEquals(prompt.length - 1, d.stats().remoteKvTokens(), "admitted with the pulled KV");
            assertEquals(0, d.usedBlocks());
        }
    }

    @Test
    void aFailedPullFailsTheRequestOrRecomputesItByPolicy() throws Exception {
        SchedulerConfig cfg = new SchedulerConfig(8, 4096, 4096, 16, 64);
        int[] prompt = prompt("the prefill node went away");
        KvHandoff.RemoteKv unreachable = (layout, promptTokens) -> {
            throw new KvTransferException("prefill node unreachable");
        };
        try (EngineCore d = engine(cfg)) {
            Collect failed = new Collect();
            d.submit(
                    new EngineRequest(request("fail", prompt, 8), new KvHandoff.LoadRemote(unreachable, false)),
                    failed);
            Collect recomputed = new Collect();
            d.submit(
                    new EngineRequest(request("recompute", prompt, 8), new KvHandoff.LoadRemote(unreachable, true)),
                    recomputed);
            awaitPullEnded(d, "fail");
            awaitPullEnded(d, "recompute");
            drain(d);
            assertTrue(failed.error instanceof KvTransferException, String.valueOf(failed.error));
            assertTrue(failed.ids.isEmpty());
            assertNull(recomputed.error);
            assertEquals(expected(prompt, 8), recomputed.ids, "prefilled locally instead");
            assertEquals(0, d.stats().remoteKvTokens());
            assertEquals(0, d.usedBlocks());
        }
    }

    @Test
    void anUnconfirmedLeaseExpiresAndFreesItsBlocks() throws Exception {
        try (EngineCore p = engine(new SchedulerConfig(8, 4096, 4096, 16, 64))) {
            p.submitForRemoteDecode(
                    request("p", prompt("held for a decode node"), 1), new Collect(), Duration.ofMillis(1));
            drain(p);
            assertTrue(p.usedBlocks() > 0, "held");
            Thread.sleep(5);
            assertEquals(1, p.expireLeases());
            assertEquals(0, p.usedBlocks(), "an expired lease gives its blocks back");
            assertFalse(p.release("p"), "nothing left to confirm");
        }
    }
}
