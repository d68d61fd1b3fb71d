package dev.jepd.tensor.djl;

import dev.jepd.tensor.TensorBackend;
import dev.jepd.tensor.TensorBackendProvider;

/** Lists {@link DjlBackend} for {@link java.util.ServiceLoader} discovery. */
public final class DjlBackendProvider implements TensorBackendProvider {
    @Override
    public String name() {
        return "djl";
    }

    @Override
    public int rank() {
        return 100;
    }

    @Override
    public TensorBackend create() {
        return new DjlBackend();
    }
}
