package dev.jepd.media;

/**
 * PIL's {@code Image.resize((w, h), Image.BICUBIC)} on an 8-bit RGB image, bit for bit
 * ({@code libImaging/Resample.c}, Pillow 12.3): separable; the bicubic kernel with a = -0.5, its support
 * widened by the scale factor when shrinking (antialiasing); per output pixel the double coefficients
 * are normalised to sum 1, then rounded to fixed point with 22 fractional bits
 * ({@code PRECISION_BITS = 32 - 8 - 2}); each pass accumulates in int from 0.5 and clips to uint8. The
 * horizontal pass runs first, over only the source rows the vertical pass will read, and each pass runs
 * only if its axis changes size, as in {@code ImagingResampleInner}. The double arithmetic is written in
 * PIL's operation order; Java doubles are IEEE like the C ones (no FMA contraction in Pillow's x86-64
 * wheels), so the coefficients and therefore the bytes are identical.
 */
public final class BicubicResize {
    private static final int PRECISION_BITS = 32 - 8 - 2;
    private static final double SUPPORT = 2.0;

    private BicubicResize() {}

    /** The image at {@code outWidth × outHeight}; the same instance if the size does not change. */
    public static RgbImage resize(RgbImage in, int outWidth, int outHeight) {
        if (outWidth <= 0 || outHeight <= 0) {
            throw new IllegalArgumentException("resize to " + outWidth + "x" + outHeight);
        }
        boolean horizontal = outWidth != in.width();
        boolean vertical = outHeight != in.height();
        if (!horizontal && !vertical) {
            return in; // PIL returns a copy; the bytes are the same
        }
        Coefficients vert = Coefficients.of(in.height(), outHeight);
        byte[] src = in.rgb();
        int srcWidth = in.width();
        if (horizontal) {
            // Only rows [first, last) feed the vertical pass.
            int first = vert.bounds[0];
            int last = vert.bounds[(outHeight - 1) * 2] + vert.bounds[(outHeight - 1) * 2 + 1];
            for (int i = 0; i < outHeight; i++) {
                vert.bounds[i * 2] -= first;
            }
            Coefficients hor = Coefficients.of(in.width(), outWidth);
            src = horizontalPass(src, srcWidth, first, last - first, hor, outWidth); // [last-first, outWidth, 3]
            srcWidth = outWidth;
            if (!vertical) {
                return new RgbImage(outWidth, last - first, src);
            }
        }
        byte[] out = verticalPass(src, srcWidth, vert, outHeight); // [outHeight, srcWidth, 3]
        return new RgbImage(srcWidth, outHeight, out);
    }

    private static byte[] horizontalPass(
            byte[] src, int srcWidth, int firstRow, int rows, Coefficients k, int outWidth) {
        byte[] out = new byte[rows * outWidth * 3];
        int half = 1 << (PRECISION_BITS - 1);
        for (int y = 0; y < rows; y++) {
            int inRow = (y + firstRow) * srcWidth * 3;
            int outRow = y * outWidth * 3;
            for (int xx = 0; xx < outWidth; xx++) {
                int xmin = k.bounds[xx * 2];
                int n = k.bounds[xx * 2 + 1];
                int kOff = xx * k.ksize;
                int s0 = half;
                int s1 = half;
                int s2 = half;
                for (int x = 0; x < n; x++) {
                    int c = k.fixed[kOff + x];
                    int p = inRow + (x + xmin) * 3;
                    s0 += (src[p] & 0xFF) * c;
                    s1 += (src[p + 1] & 0xFF) * c;
                    s2 += (src[p + 2] & 0xFF) * c;
                }
                int o = outRow + xx * 3;
                out[o] = clip8(s0);
                out[o + 1] = clip8(s1);
                out[o + 2] = clip8(s2);
            }
        }
        return out;
    }

    private static byte[] verticalPass(byte[] src, int width, Coefficients k, int outHeight) {
        byte[] out = new byte[outHeight * width * 3];
        int half = 1 << (PRECISION_BITS - 1);
        int stride = width * 3;
        for (int yy = 0; yy < outHeight; yy++) {
            int ymin = k.bounds[yy * 2];
            int n = k.bounds[yy * 2 + 1];
            int kOff = yy * k.ksize;
            for (int i = 0; i < stride; i++) { // every channel of every column
                int s = half;
                for (int y = 0; y < n; y++) {
                    s += (src[(y + ymin) * stride + i] & 0xFF) * k.fixed[kOff + y];
                }
                out[yy * stride + i] = clip8(s);
            }
        }
        return out;
    }

    /** PIL's {@code clip8}: the accumulator is 0.5-biased, so the shift rounds; then clamp to 0..255. */
    private static byte clip8(int acc) {
        int v = acc >> PRECISION_BITS;
        return (byte) (v < 0 ? 0 : Math.min(v, 255));
    }

    /** PIL's {@code bicubic_filter} with a = -0.5, in its operation order. */
    static double bicubic(double x) {
        double a = -0.5;
        if (x < 0.0) {
            x = -x;
        }
        if (x < 1.0) {
            return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
        }
        if (x < 2.0) {
            return (((x - 5) * x + 8) * x - 4) * a;
        }
        return 0.0;
    }

    /**
     * {@code precompute_coeffs} then {@code normalize_coeffs_8bpc} for the box (0, inSize): per output
     * pixel the first input index and the count, and {@code ksize} fixed-point weights.
     */
    private record Coefficients(int ksize, int[] bounds, int[] fixed) {
        static Coefficients of(int inSize, int outSize) {
            float in0 = 0f;
            float in1 = inSize;
            double scale = (double) (in1 - in0) / outSize;
            double filterscale = Math.max(scale, 1.0);
            double support = SUPPORT * filterscale;
            int ksize = (int) Math.ceil(support) * 2 + 1;
            int[] bounds = new int[outSize * 2];
            int[] fixed = new int[outSize * ksize];
            double[] k = new double[ksize];
            double invFilterscale = 1.0 / filterscale;
            for (int xx = 0; xx < outSize; xx++) {
                double center = in0 + (xx + 0.5) * scale;
                double ww = 0.0;
                int xmin = (int) (center - support + 0.5);
                if (xmin < 0) {
                    xmin = 0;
                }
                int xmax = (int) (center + support + 0.5);
                if (xmax > inSize) {
                    xmax = inSize;
                }
                xmax -= xmin;
                for (int x = 0; x < xmax; x++) {
                    double w = bicubic((x + xmin - center + 0.5) * invFilterscale);
                    k[x] = w;
                    ww += w;
                }
                for (int x = 0; x < xmax; x++) {
                    double v = ww != 0.0 ? k[x] / ww : k[x];
                    fixed[xx * ksize + x] =
                            v < 0 ? (int) (-0.5 + v * (1 << PRECISION_BITS)) : (int) (0.5 + v * (1 << PRECISION_BITS));
                }
                bounds[xx * 2] = xmin;
                bounds[xx * 2 + 1] = xmax;
            }
            return new Coefficients(ksize, bounds, fixed);
        }
    }
}
