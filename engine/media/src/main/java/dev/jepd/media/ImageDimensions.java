package dev.jepd.media;

import java.util.Optional;

/**
 * An image's size read from the first bytes of its file, without decoding it: the PNG IHDR, the JPEG
 * start-of-frame marker, the GIF logical screen, the BMP info header, the WebP VP8/VP8L/VP8X header.
 * Lenient, unlike the decoder's own header parsing: for callers that need only the size, from a prefix (the
 * proxy weighs images by it). Empty when the bytes are not one of those or the header is not within them (a
 * JPEG whose EXIF or ICC segments run past the prefix, a truncated file): the caller then falls back to a
 * default.
 */
public final class ImageDimensions {
    private ImageDimensions() {}

    public static Optional<ImageSize> read(byte[] b) {
        try {
            ImageSize size = sniff(b);
            return size != null && size.height() > 0 && size.width() > 0 ? Optional.of(size) : Optional.empty();
        } catch (IndexOutOfBoundsException e) {
            return Optional.empty(); // the header runs past the prefix we have
        }
    }

    private static ImageSize sniff(byte[] b) {
        if (b.length >= 24 && u8(b, 0) == 0x89 && ascii(b, 1, "PNG\r\n") && ascii(b, 12, "IHDR")) {
            return new ImageSize(be32(b, 20), be32(b, 16));
        }
        if (b.length >= 3 && u8(b, 0) == 0xFF && u8(b, 1) == 0xD8 && u8(b, 2) == 0xFF) {
            return jpeg(b);
        }
        if (b.length >= 10 && (ascii(b, 0, "GIF87a") || ascii(b, 0, "GIF89a"))) {
            return new ImageSize(le16(b, 8), le16(b, 6));
        }
        if (b.length >= 26 && ascii(b, 0, "BM")) {
            if (le32(b, 14) == 12) { // BITMAPCOREHEADER: 16-bit sizes
                return new ImageSize(le16(b, 20), le16(b, 18));
            }
            return new ImageSize(Math.abs(le32(b, 22)), Math.abs(le32(b, 18))); // negative height: top-down
        }
        if (b.length >= 30 && ascii(b, 0, "RIFF") && ascii(b, 8, "WEBP")) {
            return webp(b);
        }
        return null;
    }

    /** Walks the marker segments up to the first SOFn: {@code FF Cn len(2) precision(1) height(2) width(2)}. */
    private static ImageSize jpeg(byte[] b) {
        int pos = 2;
        while (pos + 3 < b.length) {
            if (u8(b, pos) != 0xFF) {
                pos++; // garbage between segments: libjpeg skips it too
                continue;
            }
            int marker = u8(b, pos + 1);
            if (marker == 0xFF) {
                pos++;
                continue;
            }
            if (marker == 0x01 || marker == 0xD8 || (marker >= 0xD0 && marker <= 0xD7)) {
                pos += 2; // standalone markers have no length
                continue;
            }
            if (marker == 0xDA || marker == 0xD9) {
                return null; // scan data or end before any frame header
            }
            boolean sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
            if (sof) {
                return new ImageSize(be16(b, pos + 5), be16(b, pos + 7));
            }
            pos += 2 + be16(b, pos + 2);
        }
        return null;
    }

    private static ImageSize webp(byte[] b) {
        if (ascii(b, 12, "VP8X")) { // canvas size minus one, 24-bit little-endian
            int w = 1 + (u8(b, 24) | u8(b, 25) << 8 | u8(b, 26) << 16);
            int h = 1 + (u8(b, 27) | u8(b, 28) << 8 | u8(b, 29) << 16);
            return new ImageSize(h, w);
        }
        if (ascii(b, 12, "VP8L") && u8(b, 20) == 0x2F) { // 14-bit width-1 and height-1, packed
            int bits = le32(b, 21);
            return new ImageSize(1 + ((bits >>> 14) & 0x3FFF), 1 + (bits & 0x3FFF));
        }
        if (ascii(b, 12, "VP8 ") && u8(b, 23) == 0x9D && u8(b, 24) == 0x01 && u8(b, 25) == 0x2A) {
            return new ImageSize(le16(b, 28) & 0x3FFF, le16(b, 26) & 0x3FFF);
        }
        return null;
    }

    private static int u8(byte[] b, int i) {
        return b[i] & 0xFF;
    }

    private static int be16(byte[] b, int i) {
        return u8(b, i) << 8 | u8(b, i + 1);
    }

    private static int be32(byte[] b, int i) {
        return be16(b, i) << 16 | be16(b, i + 2);
    }

    private static int le16(byte[] b, int i) {
        return u8(b, i) | u8(b, i + 1) << 8;
    }

    private static int le32(byte[] b, int i) {
        return le16(b, i) | le16(b, i + 2) << 16;
    }

    private static boolean ascii(byte[] b, int at, String s) {
        if (b.length < at + s.length()) {
            return false;
        }
        for (int i = 0; i < s.length(); i++) {
            if (b[at + i] != (byte) s.charAt(i)) {
                return false;
            }
        }
        return true;
    }
}
