package dev.jepd.engine.generate;

import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvRegions;
import dev.jepd.engine.connector.KvTransferException;
import java.time.Duration;
import java.util.Objects;

/** What a request's prompt KV does across nodes (vLLM's {@code kv_transfer_params}, as the engine sees it). */
public sealed interface KvHandoff {
    KvHandoff NONE = new None();

    /** Computed here, freed at the end. */
    record None() implements KvHandoff {}

    /** Prefill for a decode node: at the end the blocks are held for up to {@code lease}, then freed. */
    record HoldForRemote(Duration lease) implements KvHandoff {
        public HoldForRemote {
            Objects.requireNonNull(lease, "lease");
        }
    }

    /**
     * Decode after a remote prefill: the prompt's KV comes from {@code source}. When the pull fails the
     * request is prefilled here if {@code recomputeOnFailure} ({@code kv_load_failure_policy recompute}),
     * and fails with the {@link KvTransferException} otherwise.
     */
    record LoadRemote(RemoteKv source, boolean recomputeOnFailure) implements KvHandoff {
        public LoadRemote {
            Objects.requireNonNull(source, "source");
        }
    }

    /** Where a decode node's prompt KV comes from: a pull from the prefill node that holds it. */
    @FunctionalInterface
    interface RemoteKv {
        /** Blocks holding at least {@code promptTokens} positions in {@code layout}; blocks while it transfers. */
        KvBlocks pull(KvLayout layout, int promptTokens) throws KvTransferException;

        /**
         * As {@link #pull}, but the engine has already allocated {@code blockIds} for the prompt in its cache,
         * whose memory is {@code regions}: a transport that can writes block {@code i} of the prompt straight into
         * {@code blockIds[i]} and returns null; one that cannot returns the blocks as {@link #pull} does (the
         * default), and the engine frees {@code blockIds} and copies the rows in when it admits the request.
         */
        /**
         * Whether {@link #pullInto} may write in place: only then does the engine allocate the blocks before the
         * pull (a transport that can only copy would hold them idle for the whole transfer).
         */
        default boolean pullsInPlace() {
            return false;
        }

        default KvBlocks pullInto(KvLayout layout, int promptTokens, KvRegions regions, int[] blockIds)
                throws KvTransferException {
            return pull(layout, promptTokens);
        }
    }
}
