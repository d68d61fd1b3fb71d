package dev.jepd.proxy.items;

import dev.jepd.media.ImageDimensions;
import dev.jepd.media.ImageSize;
import dev.jepd.media.ModelFamily;
import dev.jepd.media.PreprocessorConfig;
import dev.jepd.media.QwenImageProcessor;
import java.util.Base64;
import java.util.Optional;

/**
 * What encoding an item will cost, in vision tokens after the merger, for least-loaded routing. An image
 * in a {@code data:} URL is costed exactly from its size ({@link QwenImageProcessor#grid} with the served
 * {@link ModelFamily}'s defaults, the same arithmetic as the encoder's smart resize); only the first {@link #HEADER_BYTES} of
 * its base64 are decoded, to read the header. Anything else (a remote URL the proxy does not fetch, an
 * unreadable header) costs {@link #unknownCost()}: the most tokens one image can produce, so
 * that an unknown item is never mistaken for a cheap one.
 */
public final class ImageCost {
    /** Enough for any PNG/GIF/BMP/WebP header and a JPEG's frame header after typical EXIF/ICC segments. */
    static final int HEADER_BYTES = 96 * 1024;

    private final QwenImageProcessor processor;
    private final long unknownCost;

    public ImageCost(PreprocessorConfig config) {
        this.processor = new QwenImageProcessor(config);
        this.unknownCost = config.maxPixels() / ((long) config.factor() * config.factor());
    }

    /** The cost for a model family's default preprocessor ({@code --model-family}). */
    public static ImageCost of(ModelFamily family) {
        return new ImageCost(family.preprocessorDefaults());
    }

    public long unknownCost() {
        return unknownCost;
    }

    public long tokens(MediaItem item) {
        if (item.modality() != Modality.IMAGE || item.source() == null) {
            return unknownCost;
        }
        return size(item.source())
                .map(s -> (long) processor.grid(s.height(), s.width()).numTokens())
                .orElse(unknownCost);
    }

    /** The size of the image in a base64 {@code data:} URL, from its header alone. */
    static Optional<ImageSize> size(String url) {
        byte[] head = dataUrlHead(url, HEADER_BYTES);
        return head == null ? Optional.empty() : ImageDimensions.read(head);
    }

    /** The first (up to) {@code maxBytes} bytes of a base64 {@code data:} URL; null if it is not one. */
    static byte[] dataUrlHead(String url, int maxBytes) {
        if (!url.regionMatches(true, 0, "data:", 0, 5)) {
            return null;
        }
        int comma = url.indexOf(',');
        if (comma < 0
                || !url.substring(0, comma).toLowerCase(java.util.Locale.ROOT).endsWith(";base64")) {
            return null;
        }
        int start = comma + 1;
        int chars = Math.min(url.length() - start, maxBytes / 3 * 4);
        chars -= chars % 4; // whole base64 quanta only
        try {
            return Base64.getDecoder().decode(url.substring(start, start + chars));
        } catch (IllegalArgumentException e) {
            try {
                return Base64.getMimeDecoder().decode(url.substring(start, start + chars)); // tolerates line breaks
            } catch (IllegalArgumentException again) {
                return null;
            }
        }
    }
}
