package dev.jepd.media;

import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Encoded bytes to the 8-bit RGB that Hugging Face's processor sees behind vLLM: PIL's
 * {@code Image.open(BytesIO(data))} then vLLM's {@code convert_image_mode(image, "RGB")}, which pastes
 * an {@code RGBA} image over white (255, 255, 255) with its alpha as the mask and sends every other mode
 * through PIL's plain {@code convert("RGB")}. So, as in PIL: 8-bit gray+alpha ({@code LA}), palette
 * transparency and {@code tRNS} colour keys are dropped, not composited; 16-bit gray+alpha and RGBA
 * become {@code RGBA} (high bytes) and are composited; 16-bit RGB keeps the high byte; 16-bit gray is
 * clipped at 255 ({@code I;16} to {@code L}), not scaled; 1/2/4-bit gray is scaled to 0..255; CMYK JPEGs
 * are read with Adobe polarity and converted with PIL's {@code cmyk2rgb}.
 *
 * <p>Pixels come from raw raster samples, never {@code BufferedImage.getRGB} on gray or ICC images (which
 * applies colour management that PIL does not), and JPEGs are decoded to raw components, converted here
 * with libjpeg's own integer tables, so an embedded ICC profile changes nothing, as in PIL.
 *
 * <p>The declared size is checked against {@link #maxPixels()} before any pixel is decoded (decompression
 * bombs); every decoder failure, including runtime exceptions and running out of memory, becomes a
 * {@link MediaException}. Thread-safe: each call uses its own ImageIO reader.
 */
public final class ImageDecoder {
    /**
     * PIL's own bomb limit: {@code Image.open} raises {@code DecompressionBombError} above
     * {@code 2 * Image.MAX_IMAGE_PIXELS} = 2 * 89,478,485 pixels, so vLLM refuses exactly these images too.
     */
    public static final long DEFAULT_MAX_PIXELS = 2L * 89_478_485L;

    private final long maxPixels;

    public ImageDecoder() {
        this(DEFAULT_MAX_PIXELS);
    }

    public ImageDecoder(long maxPixels) {
        if (maxPixels <= 0) {
            throw new IllegalArgumentException("maxPixels must be positive, got " + maxPixels);
        }
        this.maxPixels = maxPixels;
    }

    public long maxPixels() {
        return maxPixels;
    }

    /** Decodes {@code bytes}; a {@link MediaException} for empty, unsupported, corrupt or oversized input. */
    public RgbImage decode(byte[] bytes) {
        return decodeWithMode(bytes).image();
    }

    /**
     * The RGB of {@link #decode} and whether PIL opens these bytes in a mode other than {@code RGB}, so that vLLM's
     * {@code ImageMediaIO} converts them: such an image's mm_hash covers the conversion settings too (vLLM PR #49975,
     * {@code MediaWithBytes.io_config}), see {@link LoadedImage#convertedToRgb()}.
     */
    public Decoded decodeWithMode(byte[] bytes) {
        if (bytes == null || bytes.length == 0) {
            throw new MediaException(MediaException.Reason.EMPTY, "image is empty (0 bytes)");
        }
        ImageFormat format = ImageFormat.sniff(bytes);
        try {
            return switch (format) {
                case PNG -> {
                    PngHeader header = PngHeader.parse(bytes);
                    // PIL: colour type 2 is "RGB" at 8 and 16 bits (tRNS or not); every other type is another mode.
                    yield new Decoded(decodePng(bytes, header), header.colorType() != PngHeader.RGB);
                }
                case JPEG -> {
                    JpegHeader header = JpegHeader.parse(bytes);
                    // PIL: 3 components are "RGB" (YCbCr or not), 1 is "L", 4 is "CMYK".
                    yield new Decoded(decodeJpeg(bytes, header), header.components() != 3);
                }
                case GIF, BMP -> decodeGeneric(bytes, format);
            };
        } catch (MediaException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new MediaException(
                    MediaException.Reason.UNDECODABLE,
                    "cannot decode " + format + " image: " + (e.getMessage() == null ? e.toString() : e.getMessage()),
                    e);
        } catch (OutOfMemoryError e) {
            throw new MediaException(
                    MediaException.Reason.TOO_LARGE, "not enough memory to decode this " + format + " image", e);
        }
    }

    /** One ImageIO reader on the bytes, the size checked before decoding, warnings collected. */
    private final class Session implements AutoCloseable {
        final ImageReader reader;
        final ImageInputStream input;
        final List<String> warnings = new ArrayList<>();
        final int width;
        final int height;

        Session(byte[] bytes, ImageFormat format) throws IOException {
            Iterator<ImageReader> readers = ImageIO.getImageReadersByFormatName(format.imageIoName());
            if (!readers.hasNext()) {
                throw new MediaException(
                        MediaException.Reason.UNSUPPORTED_FORMAT, "no " + format + " decoder in this JVM");
            }
            reader = readers.next();
            // In memory, not ImageIO.createImageInputStream, which may spill to a temporary file.
            input = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes));
            try {
                reader.setInput(input, true, true);
                reader.addIIOReadWarningListener((source, warning) -> warnings.add(warning));
                width = reader.getWidth(0);
                height = reader.getHeight(0);
                checkDeclaredSize(format, width, height);
            } catch (IOException | RuntimeException e) {
                close();
                throw e;
            }
        }

        @Override
        public void close() throws IOException {
            reader.dispose();
            input.close();
        }
    }

    private void checkDeclaredSize(ImageFormat format, long width, long height) {
        if (width <= 0 || height <= 0) {
            throw new MediaException(
                    MediaException.Reason.TOO_SMALL, format + " image declares size " + width + "x" + height);
        }
        if (width * height > maxPixels) {
            throw new MediaException(
                    MediaException.Reason.TOO_LARGE,
                    format + " image declares " + width + "x" + height + " = " + width * height
                            + " pixels, more than the limit of " + maxPixels + " (possible decompression bomb)");
        }
        if (width * height * 3 > Integer.MAX_VALUE - 16) { // one Java array holds the RGB bytes
            throw new MediaException(
                    MediaException.Reason.TOO_LARGE,
                    format + " image of " + width + "x" + height + " pixels does not fit one RGB byte array");
        }
    }

    private RgbImage decodePng(byte[] bytes, PngHeader header) throws IOException {
        checkDeclaredSize(
                ImageFormat.PNG, Integer.toUnsignedLong(header.width()), Integer.toUnsignedLong(header.height()));
        try (Session s = new Session(bytes, ImageFormat.PNG)) {
            BufferedImage image = s.reader.read(0);
            Raster raster = image.getRaster();
            int w = raster.getWidth();
            int h = raster.getHeight();
            int bands = raster.getNumBands();
            IndexColorModel palette = header.colorType() == PngHeader.PALETTE
                    ? requirePalette(image.getColorModel(), ImageFormat.PNG)
                    : null;
            int depth = header.bitDepth();
            int maxSample = (1 << depth) - 1;
            byte[] out = new byte[w * h * 3];
            int[] row = new int[w * bands];
            for (int y = 0; y < h; y++) {
                raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
                for (int x = 0; x < w; x++) {
                    int s0 = x * bands;
                    int o = (y * w + x) * 3;
                    switch (header.colorType()) {
                        case PngHeader.GRAY -> {
                            // PIL: "1" and "L;2"/"L;4" scale to 0..255; "I;16" to RGB clips at 255.
                            int v = depth == 16 ? PilRgbConversion.gray16ToL(row[s0]) : row[s0] * 255 / maxSample;
                            put(out, o, v, v, v);
                        }
                        case PngHeader.RGB -> {
                            int shift = depth == 16 ? 8 : 0; // "RGB;16B" keeps the high byte
                            put(out, o, row[s0] >> shift, row[s0 + 1] >> shift, row[s0 + 2] >> shift);
                        }
                        case PngHeader.PALETTE -> putPaletteEntry(out, o, palette, row[s0]);
                        case PngHeader.GRAY_ALPHA -> {
                            if (depth == 16) { // PIL opens it as RGBA ("LA;16B"), so vLLM composites
                                int l = row[s0] >> 8;
                                int a = row[s0 + 1] >> 8;
                                int v = PilRgbConversion.blend(PilRgbConversion.BACKGROUND, l, a);
                                put(out, o, v, v, v);
                            } else { // PIL mode "LA": convert("RGB") drops the alpha
                                put(out, o, row[s0], row[s0], row[s0]);
                            }
                        }
                        case PngHeader.RGB_ALPHA -> {
                            int shift = depth == 16 ? 8 : 0;
                            int a = row[s0 + 3] >> shift;
                            put(
                                    out,
                                    o,
                                    PilRgbConversion.blend(PilRgbConversion.BACKGROUND, row[s0] >> shift, a),
                                    PilRgbConversion.blend(PilRgbConversion.BACKGROUND, row[s0 + 1] >> shift, a),
                                    PilRgbConversion.blend(PilRgbConversion.BACKGROUND, row[s0 + 2] >> shift, a));
                        }
                        default -> throw new IllegalStateException("PNG colour type " + header.colorType());
                    }
                }
            }
            return new RgbImage(w, h, out);
        }
    }

    private RgbImage decodeJpeg(byte[] bytes, JpegHeader header) throws IOException {
        JpegHeader.ColorSpace space = header.colorSpace();
        try (Session s = new Session(bytes, ImageFormat.JPEG)) {
            // readRaster: libjpeg's output colour space is set to the input's, so no conversion at all.
            Raster raster = s.reader.readRaster(0, null);
            for (String warning : s.warnings) {
                if (isTruncation(warning)) { // libjpeg pads a truncated scan with gray; PIL refuses it
                    throw new MediaException(MediaException.Reason.UNDECODABLE, "truncated JPEG: " + warning);
                }
            }
            int w = raster.getWidth();
            int h = raster.getHeight();
            int bands = raster.getNumBands();
            if (bands != header.components()) {
                throw new MediaException(
                        MediaException.Reason.UNDECODABLE,
                        "JPEG decoder returned " + bands + " components, the header declares " + header.components());
            }
            byte[] out = new byte[w * h * 3];
            int[] row = new int[w * bands];
            for (int y = 0; y < h; y++) {
                raster.getPixels(raster.getMinX(), raster.getMinY() + y, w, 1, row);
                for (int x = 0; x < w; x++) {
                    int s0 = x * bands;
                    int o = (y * w + x) * 3;
                    switch (space) {
                        case GRAY -> put(out, o, row[s0], row[s0], row[s0]);
                        case RGB -> put(out, o, row[s0], row[s0 + 1], row[s0 + 2]);
                        case YCBCR -> PilRgbConversion.yccToRgb(row[s0], row[s0 + 1], row[s0 + 2], out, o);
                        case CMYK ->
                            PilRgbConversion.jpegCmykToRgb(row[s0], row[s0 + 1], row[s0 + 2], row[s0 + 3], out, o);
                        case YCCK -> PilRgbConversion.ycckToRgb(row[s0], row[s0 + 1], row[s0 + 2], row[s0 + 3], out, o);
                    }
                }
            }
            return new RgbImage(w, h, out);
        }
    }

    private static boolean isTruncation(String warning) {
        String w = warning.toLowerCase(Locale.ROOT);
        return w.contains("premature end") || w.contains("truncated") || w.contains("missing eoi");
    }

    /** Decoded pixels, and whether PIL's mode for the bytes was other than {@code RGB} (vLLM converted them). */
    public record Decoded(RgbImage image, boolean convertedToRgb) {}

    /**
     * GIF and BMP: a palette image is PIL mode "P" (colours looked up, transparency ignored); a direct
     * colour image with alpha is "RGBA" (composited over white); otherwise "RGB".
     */
    private Decoded decodeGeneric(byte[] bytes, ImageFormat format) throws IOException {
        try (Session s = new Session(bytes, format)) {
            BufferedImage image = s.reader.read(0);
            int w = image.getWidth();
            int h = image.getHeight();
            byte[] out = new byte[w * h * 3];
            ColorModel cm = image.getColorModel();
            boolean converted;
            if (cm instanceof IndexColorModel palette) {
                converted = true; // "P"
                Raster raster = image.getRaster();
                int[] row = new int[w];
                for (int y = 0; y < h; y++) {
                    raster.getSamples(raster.getMinX(), raster.getMinY() + y, w, 1, 0, row);
                    for (int x = 0; x < w; x++) {
                        putPaletteEntry(out, (y * w + x) * 3, palette, row[x]);
                    }
                }
            } else {
                // GIF/BMP direct colour is sRGB-typed, so getRGB applies no colour conversion here.
                boolean alpha = cm.hasAlpha();
                converted = alpha; // "RGBA", else "RGB"
                int[] row = new int[w];
                for (int y = 0; y < h; y++) {
                    image.getRGB(0, y, w, 1, row, 0, w);
                    for (int x = 0; x < w; x++) {
                        int argb = row[x];
                        int r = (argb >> 16) & 0xFF;
                        int g = (argb >> 8) & 0xFF;
                        int b = argb & 0xFF;
                        if (alpha) {
                            int a = argb >>> 24;
                            r = PilRgbConversion.blend(PilRgbConversion.BACKGROUND, r, a);
                            g = PilRgbConversion.blend(PilRgbConversion.BACKGROUND, g, a);
                            b = PilRgbConversion.blend(PilRgbConversion.BACKGROUND, b, a);
                        }
                        put(out, (y * w + x) * 3, r, g, b);
                    }
                }
            }
            return new Decoded(new RgbImage(w, h, out), converted);
        }
    }

    private static IndexColorModel requirePalette(ColorModel cm, ImageFormat format) {
        if (cm instanceof IndexColorModel palette) {
            return palette;
        }
        throw new MediaException(
                MediaException.Reason.UNDECODABLE, format + " palette image decoded without a palette: " + cm);
    }

    /** PIL's P to RGB: the palette colour, alpha ignored; indices past the palette are black, as in PIL. */
    private static void putPaletteEntry(byte[] out, int at, IndexColorModel palette, int index) {
        if (index < palette.getMapSize()) {
            put(out, at, palette.getRed(index), palette.getGreen(index), palette.getBlue(index));
        } else {
            put(out, at, 0, 0, 0);
        }
    }

    private static void put(byte[] out, int at, int r, int g, int b) {
        out[at] = (byte) r;
        out[at + 1] = (byte) g;
        out[at + 2] = (byte) b;
    }
}
