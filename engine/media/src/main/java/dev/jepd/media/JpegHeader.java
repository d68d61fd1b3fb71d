package dev.jepd.media;

/**
 * What a JPEG's markers say about its colour space, read the way libjpeg's
 * {@code default_decompress_parms} reads them. javax.imageio is asked for the raw decoded components
 * (no colour conversion at all, so that an embedded ICC profile is ignored as PIL ignores it), and this
 * header decides how those components become RGB, exactly as libjpeg-turbo decides inside PIL.
 */
record JpegHeader(int components, boolean jfif, int adobeTransform, int[] componentIds) {
    /** The JPEG colour spaces libjpeg distinguishes. */
    enum ColorSpace {
        GRAY,
        YCBCR,
        RGB,
        CMYK,
        YCCK
    }

    /** No APP14 "Adobe" marker was seen. */
    static final int NO_ADOBE = -1;

    static JpegHeader parse(byte[] b) {
        boolean jfif = false;
        int adobe = NO_ADOBE;
        int[] ids = null;
        int pos = 2; // after SOI
        while (pos + 1 < b.length) {
            if ((b[pos] & 0xFF) != 0xFF) { // libjpeg skips (and warns about) garbage before a marker
                pos++;
                continue;
            }
            int marker = b[pos + 1] & 0xFF;
            if (marker == 0xFF) { // fill byte
                pos++;
                continue;
            }
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { // standalone markers
                pos += 2;
                continue;
            }
            if (pos + 3 >= b.length) {
                break;
            }
            int length = ((b[pos + 2] & 0xFF) << 8) | (b[pos + 3] & 0xFF);
            int data = pos + 4;
            int dataLength = length - 2;
            if (length < 2 || data + dataLength > b.length) {
                throw corrupt("marker 0xFF" + Integer.toHexString(marker) + " runs past the end of the file");
            }
            if (marker == 0xDA || marker == 0xD9) { // SOS or EOI: libjpeg's header reading stops here
                break;
            }
            if (marker == 0xE0 && dataLength >= 14 && ascii(b, data, "JFIF\0")) {
                jfif = true;
            } else if (marker == 0xEE && dataLength >= 12 && ascii(b, data, "Adobe")) {
                adobe = b[data + 11] & 0xFF;
            } else if (isStartOfFrame(marker) && ids == null) {
                if (dataLength < 6) {
                    throw corrupt("short SOF marker");
                }
                int n = b[data + 5] & 0xFF;
                if (dataLength < 6 + 3 * n) {
                    throw corrupt("SOF marker declares " + n + " components but is too short");
                }
                ids = new int[n];
                for (int i = 0; i < n; i++) {
                    ids[i] = b[data + 6 + 3 * i] & 0xFF;
                }
            }
            pos = data + dataLength;
        }
        if (ids == null) {
            throw corrupt("no SOF marker");
        }
        return new JpegHeader(ids.length, jfif, adobe, ids);
    }

    /** libjpeg's guess of {@code jpeg_color_space} (jdapimin.c, {@code default_decompress_parms}). */
    ColorSpace colorSpace() {
        return switch (components) {
            case 1 -> ColorSpace.GRAY;
            case 3 -> {
                if (jfif) {
                    yield ColorSpace.YCBCR;
                }
                if (adobeTransform != NO_ADOBE) {
                    yield adobeTransform == 0 ? ColorSpace.RGB : ColorSpace.YCBCR;
                }
                boolean rgbIds = componentIds[0] == 'R' && componentIds[1] == 'G' && componentIds[2] == 'B';
                yield rgbIds ? ColorSpace.RGB : ColorSpace.YCBCR;
            }
            case 4 -> adobeTransform == NO_ADOBE || adobeTransform == 0 ? ColorSpace.CMYK : ColorSpace.YCCK;
            default ->
                throw new MediaException(
                        MediaException.Reason.UNSUPPORTED_FORMAT, "JPEG with " + components + " components");
        };
    }

    private static boolean isStartOfFrame(int marker) {
        return marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    }

    private static boolean ascii(byte[] b, int at, String s) {
        for (int i = 0; i < s.length(); i++) {
            if (b[at + i] != s.charAt(i)) {
                return false;
            }
        }
        return true;
    }

    private static MediaException corrupt(String what) {
        return new MediaException(MediaException.Reason.UNDECODABLE, "corrupt JPEG: " + what);
    }
}
