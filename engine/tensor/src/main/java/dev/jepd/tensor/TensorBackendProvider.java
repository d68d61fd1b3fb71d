package dev.jepd.tensor;

import java.util.Comparator;
import java.util.List;
import java.util.ServiceLoader;

/**
 * A backend that {@link ServiceLoader} can find ({@code META-INF/services/dev.jepd.tensor.TensorBackendProvider}).
 * Discovery only lists what is on the classpath; which backend a node runs stays the node's decision.
 */
public interface TensorBackendProvider {
    /** Short name, e.g. {@code djl} or {@code ref}. */
    String name();

    /** Preference among the available backends: higher is faster; the reference oracle is 0. */
    int rank();

    /** Opens a new backend; the caller closes it. */
    TensorBackend create();

    /** Every provider on the classpath, highest rank first. */
    static List<TensorBackendProvider> available() {
        return ServiceLoader.load(TensorBackendProvider.class).stream()
                .map(ServiceLoader.Provider::get)
                .sorted(Comparator.comparingInt(TensorBackendProvider::rank).reversed())
                .toList();
    }
}
