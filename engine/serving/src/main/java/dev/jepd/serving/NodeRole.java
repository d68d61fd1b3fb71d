package dev.jepd.serving;

import dev.jepd.engine.connector.EcConnector;
import dev.jepd.models.ModelParts;
import dev.jepd.transfer.kv.KvTransferConfig;
import java.util.Objects;
import java.util.Optional;

/**
 * What a {@code jepd serve} process is, decided once from its flags (as vLLM decides from its transfer
 * configs) and then switched over by the node assemblies.
 */
public sealed interface NodeRole {
    /** The parts of the model this role loads. */
    ModelParts parts();

    /**
     * An encoder node ({@code "ec_role":"ec_producer"} or {@code --mm-encoder-only}): only the vision tower;
     * every image's embedding is written to {@code producer} before the node answers.
     */
    record Encoder(EcConnector producer) implements NodeRole {
        public Encoder {
            Objects.requireNonNull(producer, "producer");
        }

        @Override
        public ModelParts parts() {
            return ModelParts.VISION;
        }
    }

    /**
     * A prefill/decode node with the language model. {@code consumer}: embeddings are read from the encoder
     * cache first ({@code ec_consumer}, {@code ec_both}); {@code producer}: embeddings it encodes itself are
     * written there ({@code ec_both}). {@code kv}: its part in prefill/decode disaggregation, if any.
     */
    record PrefillDecode(Optional<EcConnector> consumer, Optional<EcConnector> producer, Optional<KvTransferConfig> kv)
            implements NodeRole {
        public PrefillDecode {
            Objects.requireNonNull(consumer, "consumer");
            Objects.requireNonNull(producer, "producer");
            Objects.requireNonNull(kv, "kv");
        }

        /** A node with no encoder cache and no KV transfer. */
        public static PrefillDecode standalone() {
            return new PrefillDecode(Optional.empty(), Optional.empty(), Optional.empty());
        }

        @Override
        public ModelParts parts() {
            return ModelParts.ALL;
        }
    }
}
