package dev.jepd.models.qwenvl;

import dev.jepd.engine.model.CausalLm;
import dev.jepd.engine.model.MultimodalModel;
import dev.jepd.engine.model.VisionEncoder;
import java.util.Optional;
import java.util.function.Supplier;

/** What every Qwen-VL architecture shares: an optional vision tower and an optional decoder, closed together. */
public abstract class QwenVlModel implements MultimodalModel {
    private final VisionEncoder vision;
    private final CausalLm language;

    protected QwenVlModel(VisionEncoder vision, CausalLm language) {
        this.vision = vision;
        this.language = language;
    }

    /** The parts asked for: the tower first; if the decoder then fails, the tower is closed before rethrowing. */
    protected record Parts<V extends VisionEncoder>(V vision, CausalLm language) {
        public static <V extends VisionEncoder> Parts<V> load(Supplier<V> vision, Supplier<CausalLm> language) {
            V tower = vision.get();
            try {
                return new Parts<>(tower, language.get());
            } catch (RuntimeException e) {
                if (tower != null) {
                    tower.close();
                }
                throw e;
            }
        }
    }

    @Override
    public final Optional<VisionEncoder> vision() {
        return Optional.ofNullable(vision);
    }

    @Override
    public final Optional<CausalLm> language() {
        return Optional.ofNullable(language);
    }

    @Override
    public final void close() {
        if (vision != null) {
            vision.close();
        }
        if (language != null) {
            language.close();
        }
    }
}
