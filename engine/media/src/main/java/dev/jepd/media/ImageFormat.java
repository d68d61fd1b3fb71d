package dev.jepd.media;

import java.nio.charset.StandardCharsets;

/**
 * The encoded formats {@link ImageDecoder} reads, told apart by their magic bytes rather than by a file
 * name or a declared media type (vLLM ignores both too: PIL sniffs). Formats that PIL would open but
 * whose PIL mode semantics this decoder does not reproduce (WebP, TIFF, ...) are named in the error.
 */
public enum ImageFormat {
    PNG("png"),
    JPEG("jpeg"),
    GIF("gif"),
    BMP("bmp");

    private static final byte[] PNG_MAGIC = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};

    private final String imageIoName;

    ImageFormat(String imageIoName) {
        this.imageIoName = imageIoName;
    }

    /** The format name javax.imageio registers its reader under. */
    public String imageIoName() {
        return imageIoName;
    }

    /** The format of {@code bytes}, or a {@link MediaException} naming what they are instead. */
    public static ImageFormat sniff(byte[] bytes) {
        if (bytes.length == 0) {
            throw new MediaException(MediaException.Reason.EMPTY, "image is empty (0 bytes)");
        }
        if (startsWith(bytes, PNG_MAGIC)) {
            return PNG;
        }
        if (bytes.length >= 3 && (bytes[0] & 0xFF) == 0xFF && (bytes[1] & 0xFF) == 0xD8 && (bytes[2] & 0xFF) == 0xFF) {
            return JPEG;
        }
        if (startsWith(bytes, ascii("GIF87a")) || startsWith(bytes, ascii("GIF89a"))) {
            return GIF;
        }
        if (startsWith(bytes, ascii("BM")) && bytes.length >= 14) {
            return BMP;
        }
        throw new MediaException(
                MediaException.Reason.UNSUPPORTED_FORMAT,
                "unsupported image format: " + describe(bytes) + " (supported: PNG, JPEG, GIF, BMP)");
    }

    /** A name for bytes that are not a supported format, for the error message. */
    private static String describe(byte[] b) {
        if (b.length >= 12 && startsWith(b, ascii("RIFF")) && regionEquals(b, 8, ascii("WEBP"))) {
            return "WebP";
        }
        if (startsWith(b, new byte[] {'I', 'I', 42, 0}) || startsWith(b, new byte[] {'M', 'M', 0, 42})) {
            return "TIFF";
        }
        if (b.length >= 12 && regionEquals(b, 4, ascii("ftyp"))) {
            String brand = new String(b, 8, 4, StandardCharsets.ISO_8859_1);
            return brand.startsWith("avi")
                    ? "AVIF"
                    : brand.startsWith("he") || brand.startsWith("mif") ? "HEIF" : "ISO-BMFF (" + brand.strip() + ")";
        }
        if (startsWith(b, new byte[] {0, 0, 1, 0})) {
            return "ICO";
        }
        if (startsWith(b, ascii("8BPS"))) {
            return "PSD";
        }
        if (startsWith(b, ascii("%PDF"))) {
            return "PDF";
        }
        if (startsWith(b, ascii("<?xml")) || startsWith(b, ascii("<svg"))) {
            return "SVG/XML";
        }
        // Never quote the bytes: they may be what an internal server answered to a URL aimed at it.
        return "unrecognised bytes (" + b.length + " bytes)";
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static boolean startsWith(byte[] b, byte[] prefix) {
        return regionEquals(b, 0, prefix);
    }

    private static boolean regionEquals(byte[] b, int offset, byte[] part) {
        if (b.length < offset + part.length) {
            return false;
        }
        for (int i = 0; i < part.length; i++) {
            if (b[offset + i] != part[i]) {
                return false;
            }
        }
        return true;
    }
}
