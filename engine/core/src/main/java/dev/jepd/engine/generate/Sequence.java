package dev.jepd.engine.generate;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.kv.BlockTable;
import dev.jepd.engine.sampling.SamplingState;
import dev.jepd.engine.text.StopChecker;
import java.util.Arrays;

/** One request inside the engine: its tokens so far, how many have KV in the cache, and its output state. */
final class Sequence {
    final GenerationRequest request;
    final TokenSink sink;
    final BlockTable table;
    final SamplingState sampling;
    final StopChecker stop;
    final long arrival;
    private int[] tokens;
    private int length;
    /** Tokens whose keys and values are in the cache. */
    int computed;

    volatile boolean aborted;
    /** More than 0: at the end, hold the blocks this long for a remote decode instead of freeing them. */
    long holdNanos;
    /** Prompt KV pulled from a prefill node, loaded into the cache when the sequence is admitted. */
    KvBlocks pulled;
    /**
     * Set by a transfer thread that wrote the prompt's pulled KV straight into this sequence's blocks (its table
     * then holds them, {@code computed} counts them); cleared at admission.
     */
    boolean loadedInPlace;
    /** Set by a transfer thread when the pull failed and the policy is to fail the request. */
    volatile RuntimeException remoteKvFailure;

    Sequence(
            GenerationRequest request,
            TokenSink sink,
            BlockTable table,
            SamplingState sampling,
            StopChecker stop,
            long arrival) {
        this.request = request;
        this.sink = sink;
        this.table = table;
        this.sampling = sampling;
        this.stop = stop;
        this.arrival = arrival;
        this.tokens = Arrays.copyOf(request.promptIds(), request.promptIds().length + 16);
        this.length = request.promptIds().length;
    }

    int length() {
        return length;
    }

    int token(int i) {
        return tokens[i];
    }

    int promptLength() {
        return request.promptIds().length;
    }

    void append(int token) {
        if (length == tokens.length) {
            tokens = Arrays.copyOf(tokens, tokens.length * 2);
        }
        tokens[length++] = token;
    }

    int[] tokens(int from, int to) {
        return Arrays.copyOfRange(tokens, from, to);
    }

    /** Drops the cached KV: the sequence will be recomputed (prompt and output so far) when rescheduled. */
    void preempt() {
        table.release();
        computed = 0;
    }
}
