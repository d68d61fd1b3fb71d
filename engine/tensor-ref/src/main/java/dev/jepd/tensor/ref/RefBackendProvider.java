package dev.jepd.tensor.ref;

import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.TensorBackendProvider;

/** Lists {@link RefBackend} for discovery, ranked last: it is the oracle, never the fast path. */
public final class RefBackendProvider implements TensorBackendProvider {
    @Override
    public String name() {
        return "ref";
    }

    @Override
    public int rank() {
        return 0;
    }

    @Override
    public TensorBackend create() {
        return new RefBackend();
    }
}
