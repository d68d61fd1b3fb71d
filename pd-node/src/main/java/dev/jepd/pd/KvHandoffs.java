package dev.jepd.pd;

import com.fasterxml.jackson.databind.JsonNode;
import dev.jepd.api.ApiException;
import dev.jepd.engine.connector.KvBlocks;
import dev.jepd.engine.connector.KvLayout;
import dev.jepd.engine.connector.KvRegions;
import dev.jepd.engine.connector.KvTransferException;
import dev.jepd.engine.generate.KvHandoff;
import dev.jepd.transfer.kv.KvTransferConfig;
import dev.jepd.transfer.kv.KvTransferParams;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A request's {@code kv_transfer_params} checked against this node's KV role and turned into a
 * {@link KvHandoff}; and the params a prefill node answers with for the blocks it holds.
 */
final class KvHandoffs {
    private static final Logger LOG = LoggerFactory.getLogger(KvHandoffs.class);

    /** Null when the node has no {@code --kv-transfer-config}: then kv_transfer_params are refused. */
    private final PdKvTransfer transfer;

    private final Function<String, int[]> heldBlockIds;
    private final AtomicLong failures = new AtomicLong();

    KvHandoffs(PdKvTransfer transfer, Function<String, int[]> heldBlockIds) {
        this.transfer = transfer;
        this.heldBlockIds = heldBlockIds;
    }

    /** A node without {@code --kv-transfer-config}. */
    static KvHandoffs disabled() {
        return new KvHandoffs(null, id -> null);
    }

    /** KV pulls from a prefill node that failed (answered with an error, or recomputed by policy). */
    long failures() {
        return failures.get();
    }

    /**
     * The hand-off {@code node} asks for. A prefill for a remote decode holds its blocks only when it answers
     * in one piece, as the proxy asks: a stream has nowhere to put the kv_transfer_params.
     */
    KvHandoff handoff(JsonNode node, boolean stream) {
        KvTransferParams kv = checked(node);
        if (kv == null) {
            return KvHandoff.NONE;
        }
        KvTransferConfig cfg = transfer.config();
        if (kv.doRemoteDecode()) {
            return stream ? KvHandoff.NONE : new KvHandoff.HoldForRemote(cfg.lease());
        }
        KvHandoff.RemoteKv source = new KvHandoff.RemoteKv() {
            @Override
            public KvBlocks pull(KvLayout layout, int promptTokens) {
                return KvHandoffs.this.pull(kv, layout, promptTokens, null, null);
            }

            @Override
            public boolean pullsInPlace() {
                return transfer.transport().pullsInPlace();
            }

            @Override
            public KvBlocks pullInto(KvLayout layout, int promptTokens, KvRegions regions, int[] blockIds) {
                return KvHandoffs.this.pull(kv, layout, promptTokens, regions, blockIds);
            }
        };
        return new KvHandoff.LoadRemote(source, cfg.failurePolicy() == KvTransferConfig.FailurePolicy.RECOMPUTE);
    }

    /**
     * Pulls the prompt's KV from the prefill node named in {@code kv} (into {@code blockIds} of the cache at
     * {@code regions} where the transport can, then null) and confirms, so it frees its blocks.
     */
    private KvBlocks pull(KvTransferParams kv, KvLayout layout, int promptTokens, KvRegions regions, int[] blockIds) {
        KvBlocks pulled;
        try {
            pulled = regions == null
                    ? transfer.transport().pull(kv, promptTokens, layout)
                    : transfer.transport().pullInto(kv, promptTokens, layout, regions, blockIds);
        } catch (KvTransferException e) {
            failures.incrementAndGet();
            throw e;
        }
        try {
            transfer.transport().confirm(kv);
        } catch (KvTransferException e) {
            // We have our copy; the prefill node frees the blocks when their lease expires.
            LOG.warn("[{}] KV confirm failed: {}", kv.remoteRequestId(), e.getMessage());
        }
        return pulled;
    }

    /** The request's kv_transfer_params, checked against this node's role; null when there are none. */
    private KvTransferParams checked(JsonNode node) {
        KvTransferParams kv;
        try {
            kv = KvTransferParams.parse(node);
        } catch (IllegalArgumentException e) {
            throw ApiException.badRequest(e.getMessage(), "kv_transfer_params");
        }
        if (kv == null || (!kv.doRemoteDecode() && !kv.doRemotePrefill())) {
            return null;
        }
        if (transfer == null) {
            throw ApiException.badRequest(
                    "kv_transfer_params: this node was started without --kv-transfer-config, so it takes no part in"
                            + " prefill/decode disaggregation",
                    "kv_transfer_params");
        }
        KvTransferConfig cfg = transfer.config();
        if (kv.doRemoteDecode() && !cfg.isProducer()) {
            throw ApiException.badRequest(
                    "kv_transfer_params.do_remote_decode: this node is "
                            + cfg.role().jsonName() + ", only kv_producer or kv_both nodes prefill for a remote decode",
                    "kv_transfer_params");
        }
        if (kv.doRemotePrefill() && !cfg.isConsumer()) {
            throw ApiException.badRequest(
                    "kv_transfer_params.do_remote_prefill: this node is "
                            + cfg.role().jsonName()
                            + ", only kv_consumer or kv_both nodes decode from a remote prefill",
                    "kv_transfer_params");
        }
        return kv;
    }

    /** The kv_transfer_params a prefill node answers with for a request whose blocks it now holds. */
    JsonNode heldParams(String requestId) {
        if (transfer.speaksVllm()) {
            return transfer.vllmHeldParams(requestId);
        }
        int[] ids = heldBlockIds.apply(requestId);
        if (ids == null) {
            return null; // the lease already ended: the decode node will prefill by itself
        }
        return KvTransferParams.held(
                        transfer.engineId(), ids, requestId, transfer.advertisedHost(), transfer.sideChannelPort())
                .toJson();
    }
}
