package dev.jepd.models.qwenvl;

import dev.jepd.engine.model.VisionEncoder;
import dev.jepd.tensor.Ops;
import dev.jepd.tensor.Scope;
import dev.jepd.tensor.Tensor;
import dev.jepd.tensor.TensorBackend;
import java.util.function.BiConsumer;
import java.util.function.Function;

/**
 * What the Qwen-VL vision towers share: their weights live in a root scope of their own, closed with the tower,
 * and intermediate activations can be observed (tests compare them with the reference).
 *
 * @param <W> the tower's bound weights
 */
public abstract class VisionTowerBase<W> implements VisionEncoder {
    private final Scope weightScope;
    protected final W weights;
    private BiConsumer<String, Tensor> tap;

    /** Loads the weights with {@code load} into a new root scope; a failure closes it. */
    protected VisionTowerBase(TensorBackend backend, Function<Ops, W> load) {
        this.weightScope = backend.open();
        try {
            this.weights = load.apply(backend.ops(weightScope));
        } catch (RuntimeException e) {
            weightScope.close();
            throw e;
        }
    }

    public final void setTap(BiConsumer<String, Tensor> tap) {
        this.tap = tap;
    }

    protected final void tap(String name, Tensor t) {
        if (tap != null) {
            tap.accept(name, t);
        }
    }

    @Override
    public final void close() {
        weightScope.close();
    }
}
