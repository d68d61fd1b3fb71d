package dev.jepd.media;

/**
 * A PNG's IHDR. The decoder needs the colour type and bit depth as written in the file because PIL's
 * mode depends on them (8-bit gray+alpha stays {@code LA} and loses its alpha in {@code convert("RGB")},
 * 16-bit gray+alpha becomes {@code RGBA} and is composited), while javax.imageio may already have
 * expanded a {@code tRNS} chunk into an alpha band that PIL ignores.
 */
record PngHeader(int width, int height, int bitDepth, int colorType) {
    static final int GRAY = 0;
    static final int RGB = 2;
    static final int PALETTE = 3;
    static final int GRAY_ALPHA = 4;
    static final int RGB_ALPHA = 6;

    /** Reads the IHDR chunk that must follow the 8-byte signature. */
    static PngHeader parse(byte[] b) {
        // signature (8) + length (4) + "IHDR" (4) + 13 bytes of fields
        if (b.length < 8 + 8 + 13
                || b[12] != 'I'
                || b[13] != 'H'
                || b[14] != 'D'
                || b[15] != 'R'
                || readInt(b, 8) != 13) {
            throw new MediaException(
                    MediaException.Reason.UNDECODABLE, "corrupt PNG: no IHDR chunk after the signature");
        }
        int width = readInt(b, 16);
        int height = readInt(b, 20);
        int bitDepth = b[24] & 0xFF;
        int colorType = b[25] & 0xFF;
        boolean valid =
                switch (colorType) {
                    case GRAY -> bitDepth == 1 || bitDepth == 2 || bitDepth == 4 || bitDepth == 8 || bitDepth == 16;
                    case PALETTE -> bitDepth == 1 || bitDepth == 2 || bitDepth == 4 || bitDepth == 8;
                    case RGB, GRAY_ALPHA, RGB_ALPHA -> bitDepth == 8 || bitDepth == 16;
                    default -> false;
                };
        if (!valid) {
            throw new MediaException(
                    MediaException.Reason.UNDECODABLE,
                    "corrupt PNG: colour type " + colorType + " with bit depth " + bitDepth + " is not valid PNG");
        }
        return new PngHeader(width, height, bitDepth, colorType);
    }

    private static int readInt(byte[] b, int at) {
        return ((b[at] & 0xFF) << 24) | ((b[at + 1] & 0xFF) << 16) | ((b[at + 2] & 0xFF) << 8) | (b[at + 3] & 0xFF);
    }
}
