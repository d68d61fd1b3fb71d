package dev.jepd.pd;

import dev.jepd.media.PixelBounds;
import dev.jepd.serving.EncodedImage;
import dev.jepd.serving.MultimodalInputs;
import dev.jepd.serving.RequestParser;
import java.util.List;

/** A chat request's images as embeddings, in the order their parts appear. */
@FunctionalInterface
interface InputResolver {
    List<EncodedImage> resolve(RequestParser.Chat chat);

    /** EC first: each image's embedding from the encoder cache, encoded here on a miss. */
    static InputResolver ecFirst(MultimodalInputs inputs) {
        return chat -> {
            PixelBounds bounds = inputs.bounds(chat.mmProcessorKwargs());
            List<MultimodalInputs.Item> items = inputs.load(chat.images(), chat.hasProcessorKwargs(), bounds);
            return items.isEmpty() ? List.of() : inputs.resolve(items, bounds, chat.ecTransferParams());
        };
    }
}
