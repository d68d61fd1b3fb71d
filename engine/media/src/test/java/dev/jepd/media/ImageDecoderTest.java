package dev.jepd.media;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

class ImageDecoderTest {
    /**
     * libjpeg-turbo (in PIL) and the JDK's libjpeg 6b share the integer IDCT, upsampling and colour
     * tables, so JPEG output is expected to match; this bound is what is allowed if a decoder build ever
     * differs by a rounding step.
     */
    private static final int JPEG_TOLERANCE = 2;

    private final ImageDecoder decoder = new ImageDecoder();

    /** Every file against the RGB that PIL + vLLM's convert_image_mode produced for it. */
    @Test
    void matchesPillowAndVllmConversion() {
        List<String[]> rows = MediaResources.csv("decode/index.csv");
        assertTrue(rows.size() >= 25, "only " + rows.size() + " references");
        StringBuilder failures = new StringBuilder();
        StringBuilder report = new StringBuilder();
        for (String[] r : rows) {
            String file = r[0];
            RgbImage image = decoder.decode(MediaResources.bytes("decode/" + file));
            assertEquals(Integer.parseInt(r[2]), image.width(), file);
            assertEquals(Integer.parseInt(r[3]), image.height(), file);
            int diff = MediaResources.maxAbsDiff(MediaResources.bytes("decode/" + r[4]), image.rgb());
            int allowed = file.endsWith(".jpg") ? JPEG_TOLERANCE : 0;
            report.append(file)
                    .append(" (PIL mode ")
                    .append(r[1])
                    .append("): max |diff| ")
                    .append(diff)
                    .append('\n');
            if (diff > allowed) {
                failures.append(file)
                        .append(": max |diff| ")
                        .append(diff)
                        .append(" > ")
                        .append(allowed)
                        .append('\n');
            }
        }
        System.out.print(report);
        assertEquals("", failures.toString());
    }

    /**
     * vLLM converts (and, from PR #49975 on, hashes with its io_config) exactly the images that PIL does not open as
     * RGB; the index records the mode Pillow itself reported for each file.
     */
    @Test
    void convertedToRgbIsWhetherPillowsModeWasOtherThanRgb() {
        List<String[]> rows = MediaResources.csv("decode/index.csv");
        int rgb = 0;
        for (String[] r : rows) {
            ImageDecoder.Decoded d = decoder.decodeWithMode(MediaResources.bytes("decode/" + r[0]));
            assertEquals(!r[1].equals("RGB"), d.convertedToRgb(), r[0] + " (PIL mode " + r[1] + ")");
            assertTrue(Arrays.equals(
                    decoder.decode(MediaResources.bytes("decode/" + r[0])).rgb(),
                    d.image().rgb()));
            rgb += r[1].equals("RGB") ? 1 : 0;
        }
        assertTrue(rgb >= 5 && rgb < rows.size(), rgb + " of " + rows.size() + " files are RGB");
    }

    @Test
    void rgbaIsCompositedOverWhiteWithPillowsRounding() {
        // PIL's BLEND: DIV255(255 * (255 - a) + v * a), rounded; checked against values PIL computes.
        assertEquals(255, PilRgbConversion.blend(255, 0, 0));
        assertEquals(0, PilRgbConversion.blend(255, 0, 255));
        assertEquals(127, PilRgbConversion.blend(255, 0, 128));
        assertEquals(191, PilRgbConversion.blend(255, 128, 128));
    }

    @Test
    void emptyBytesAreEmpty() {
        assertReason(MediaException.Reason.EMPTY, new byte[0]);
    }

    @Test
    void textIsUnsupported() {
        MediaException e = assertReason(
                MediaException.Reason.UNSUPPORTED_FORMAT,
                "hello, this is not an image\n".getBytes(StandardCharsets.UTF_8));
        assertTrue(e.getMessage().contains("unrecognised bytes"), e.getMessage());
        assertFalse(e.getMessage().contains("68:65:6c"), "the bytes are not quoted: " + e.getMessage());
    }

    @Test
    void webpAndTiffAreNamedAsUnsupported() {
        byte[] webp = "RIFF\0\0\0\0WEBPVP8 ".getBytes(StandardCharsets.ISO_8859_1);
        assertTrue(assertReason(MediaException.Reason.UNSUPPORTED_FORMAT, webp)
                .getMessage()
                .contains("WebP"));
        byte[] tiff = {'I', 'I', 42, 0, 8, 0, 0, 0, 0, 0};
        assertTrue(assertReason(MediaException.Reason.UNSUPPORTED_FORMAT, tiff)
                .getMessage()
                .contains("TIFF"));
    }

    @Test
    void corruptPngIsUndecodable() {
        byte[] png = MediaResources.bytes("decode/png_rgb8.png");
        byte[] garbage = Arrays.copyOf(png, 8 + 200);
        new Random(1).nextBytes(garbage);
        System.arraycopy(png, 0, garbage, 0, 8); // a PNG signature, then noise
        assertReason(MediaException.Reason.UNDECODABLE, garbage);
    }

    @Test
    void corruptIdatIsUndecodable() {
        byte[] png = MediaResources.bytes("decode/png_rgb8.png").clone();
        for (int i = 60; i < png.length - 20; i++) { // IHDR intact, compressed data scrambled
            png[i] ^= (byte) 0x5A;
        }
        assertReason(MediaException.Reason.UNDECODABLE, png);
    }

    @Test
    void truncatedPngIsUndecodable() {
        byte[] png = MediaResources.bytes("decode/png_rgb8.png");
        assertReason(MediaException.Reason.UNDECODABLE, Arrays.copyOf(png, png.length / 2));
        assertReason(MediaException.Reason.UNDECODABLE, Arrays.copyOf(png, 20)); // inside IHDR
    }

    @Test
    void truncatedJpegIsUndecodable() {
        byte[] jpeg = MediaResources.bytes("decode/jpeg_420.jpg");
        assertReason(MediaException.Reason.UNDECODABLE, Arrays.copyOf(jpeg, jpeg.length * 2 / 3));
        assertReason(MediaException.Reason.UNDECODABLE, Arrays.copyOf(jpeg, 100)); // inside the tables
    }

    @Test
    void jpegWithoutEoiIsRefusedButTrailingBytesAreNot() {
        // PIL: "image file is truncated" without the EOI marker; bytes after EOI are ignored.
        byte[] jpeg = MediaResources.bytes("decode/jpeg_420.jpg");
        assertReason(MediaException.Reason.UNDECODABLE, Arrays.copyOf(jpeg, jpeg.length - 2));
        byte[] trailing = Arrays.copyOf(jpeg, jpeg.length + 70);
        Arrays.fill(trailing, jpeg.length, trailing.length, (byte) 'g');
        assertEquals(
                0,
                MediaResources.maxAbsDiff(
                        MediaResources.bytes("decode/jpeg_420.rgb"),
                        decoder.decode(trailing).rgb()));
    }

    @Test
    void truncatedGifIsUndecodable() {
        byte[] gif = MediaResources.bytes("decode/gif_pal.gif");
        assertReason(MediaException.Reason.UNDECODABLE, Arrays.copyOf(gif, 10));
    }

    @Test
    void declaredSizeAboveTheLimitIsRejectedBeforeDecoding() {
        // A 100000 x 100000 PNG header (10^10 pixels) with no data: refused from the IHDR alone.
        byte[] png = MediaResources.bytes("decode/png_rgb8.png").clone();
        writeInt(png, 16, 100_000);
        writeInt(png, 20, 100_000);
        MediaException e = assertReason(MediaException.Reason.TOO_LARGE, png);
        assertTrue(e.getMessage().contains("decompression bomb"), e.getMessage());

        byte[] small = MediaResources.bytes("decode/jpeg_420.jpg");
        MediaException j = assertThrows(MediaException.class, () -> new ImageDecoder(1000).decode(small));
        assertEquals(MediaException.Reason.TOO_LARGE, j.reason());
        assertTrue(j.getMessage().contains("69x51"), j.getMessage());
    }

    private MediaException assertReason(MediaException.Reason reason, byte[] bytes) {
        MediaException e = assertThrows(MediaException.class, () -> decoder.decode(bytes));
        assertEquals(reason, e.reason(), e.toString());
        return e;
    }

    private static void writeInt(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }
}
