package dev.jepd.tensor.torch;

import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.TensorBackendProvider;

/**
 * Lists {@link TorchBackend} for {@link java.util.ServiceLoader} discovery. Ranked below DJL (100) until the
 * goldens and the nodes have moved to it: which backend a node runs stays the node's decision.
 */
public final class TorchBackendProvider implements TensorBackendProvider {
    @Override
    public String name() {
        return "torch";
    }

    @Override
    public int rank() {
        return 50;
    }

    @Override
    public TensorBackend create() {
        return new TorchBackend();
    }
}
