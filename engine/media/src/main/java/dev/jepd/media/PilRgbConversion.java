package dev.jepd.media;

/**
 * The integer colour arithmetic of the two C libraries behind vLLM's image path, reproduced exactly:
 * PIL's {@code Paste.c} blend (vLLM's {@code rgba_to_rgb} pastes RGBA over a white image with the alpha
 * as mask), PIL's {@code Convert.c} {@code cmyk2rgb} and 16-bit gray clipping, and libjpeg's
 * {@code jdcolor.c} YCbCr tables (the JPEG decoder here hands back raw components).
 */
final class PilRgbConversion {
    /** vLLM's default {@code rgba_background_color}. */
    static final int BACKGROUND = 255;

    private static final int SCALEBITS = 16;
    private static final int ONE_HALF = 1 << (SCALEBITS - 1);
    private static final int[] CR_R = new int[256];
    private static final int[] CB_B = new int[256];
    private static final int[] CR_G = new int[256];
    private static final int[] CB_G = new int[256];

    static {
        // jdcolor.c build_ycc_rgb_table: FIX(x) = (INT32)(x * (1L << SCALEBITS) + 0.5)
        for (int i = 0; i < 256; i++) {
            int x = i - 128;
            CR_R[i] = (fix(1.40200) * x + ONE_HALF) >> SCALEBITS;
            CB_B[i] = (fix(1.77200) * x + ONE_HALF) >> SCALEBITS;
            CR_G[i] = -fix(0.71414) * x;
            CB_G[i] = -fix(0.34414) * x + ONE_HALF;
        }
    }

    private PilRgbConversion() {}

    private static int fix(double x) {
        return (int) (x * (1 << SCALEBITS) + 0.5);
    }

    /** PIL's {@code BLEND(mask, out, in)}: {@code DIV255(out * (255 - a) + in * a)} with rounding. */
    static int blend(int background, int value, int alpha) {
        int tmp = background * (255 - alpha) + value * alpha + 128;
        return ((tmp >> 8) + tmp) >> 8;
    }

    /** PIL's {@code MULDIV255(a, b)}. */
    private static int mulDiv255(int a, int b) {
        int tmp = a * b + 128;
        return ((tmp >> 8) + tmp) >> 8;
    }

    private static int clip8(int v) {
        return v < 0 ? 0 : Math.min(v, 255);
    }

    /** PIL's {@code I16_RGB}: a 16-bit gray value is clipped to 255, not scaled. */
    static int gray16ToL(int v) {
        return v < 256 ? v : 255;
    }

    /**
     * PIL's {@code cmyk2rgb} for the CMYK that PIL holds after reading a JPEG with Adobe polarity
     * ({@code rawmode "CMYK;I"}: every stored byte inverted). {@code c, m, y, k} are the bytes libjpeg
     * returns, before that inversion.
     */
    static void jpegCmykToRgb(int c, int m, int y, int k, byte[] out, int at) {
        int nk = k; // 255 - (255 - k)
        out[at] = (byte) clip8(nk - mulDiv255(255 - c, nk));
        out[at + 1] = (byte) clip8(nk - mulDiv255(255 - m, nk));
        out[at + 2] = (byte) clip8(nk - mulDiv255(255 - y, nk));
    }

    /** libjpeg's {@code ycc_rgb_convert}. */
    static void yccToRgb(int y, int cb, int cr, byte[] out, int at) {
        out[at] = (byte) clip8(y + CR_R[cr]);
        out[at + 1] = (byte) clip8(y + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS));
        out[at + 2] = (byte) clip8(y + CB_B[cb]);
    }

    /** libjpeg's {@code ycck_cmyk_convert} followed by {@link #jpegCmykToRgb}. */
    static void ycckToRgb(int y, int cb, int cr, int k, byte[] out, int at) {
        int c = 255 - clip8(y + CR_R[cr]);
        int m = 255 - clip8(y + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS));
        int ye = 255 - clip8(y + CB_B[cb]);
        jpegCmykToRgb(c, m, ye, k, out, at);
    }
}
