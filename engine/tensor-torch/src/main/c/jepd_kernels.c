/*
 * JEPD's own CPU kernels, called through Panama (dev.jepd.tensor.torch.Bf16Amx); built by build.sh when the
 * module is packaged. No function here touches an instruction the CPU lacks before jepd_kernels_caps() has said
 * it has it: only the kernels are compiled for AMX, through function attributes, and the file itself for x86-64.
 *
 * The one kernel today: y = x · Wᵀ (+ b) in bf16 for 2..16 rows of x, the products of a batched decode step,
 * on AMX tiles. libtorch's oneDNN reads the weights at ~15 GB/s at 8 rows on the machine of docs/PERF.md, against
 * a ~20 GB/s read probe; a decode step at batch 8 is mostly that read.
 *
 * The layout: the weight W [N, K] stays as the checkpoint stores it and is tile A (16 weight rows × 32 k);
 * x [M, K] is packed once per product into tile B's pair layout, xb [ceil(K / 32) · 16][16][2]: row p holds, for
 * each of 16 columns m, the pair x[m, 2p], x[m, 2p + 1] (zero past M and past K). A tile C is then 16 output
 * columns o × 16 rows m of f32 sums.
 */
#include <immintrin.h>
#include <stdint.h>
#include <string.h>
#include <cpuid.h>
#include <unistd.h>
#include <sys/syscall.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

#define CAP_AMX_BF16 1

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f")))

/* Bit 0: AMX with bf16 is there and this process may use it (the kernel granted the tile state). */
int jepd_kernels_caps(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        return 0;
    }
    int amx = (d >> 22 & 1) && (d >> 24 & 1); /* AMX-BF16, AMX-TILE */
    if (!amx) {
        return 0;
    }
    /* Linux hands the tile state to a process that asks; 0 is yes (also when already granted). */
    if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) {
        return 0;
    }
    return CAP_AMX_BF16;
}

/* Bytes that jepd_bf16_pack writes for K. */
long jepd_bf16_packed_bytes(long K) {
    return ((K + 31) / 32) * 16 * 64;
}

/* x [M, K] bf16 with row stride ldx (elements) into xb (see the layout above); M <= 16. */
void jepd_bf16_pack(const uint16_t *x, long ldx, int M, long K, uint16_t *xb) {
    long pairs = ((K + 31) / 32) * 16;
    memset(xb, 0, (size_t)pairs * 64);
    for (int m = 0; m < M; m++) {
        const uint16_t *row = x + m * ldx;
        for (long k = 0; k < K; k++) {
            xb[(k >> 1) * 32 + 2 * m + (k & 1)] = row[k];
        }
    }
}

/* Round to nearest even as torch's float -> bfloat16; a NaN stays a quiet NaN. */
static inline uint16_t narrow(float f) {
    uint32_t bits;
    memcpy(&bits, &f, 4);
    if (f != f) {
        return (uint16_t)((bits >> 16) | 0x40);
    }
    return (uint16_t)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
}

static inline float widen(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

typedef struct {
    uint8_t palette, start_row;
    uint8_t reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} __attribute__((packed)) tile_config;

/* Tiles 0-3: C (rows weight rows × 16 f32); 4, 5: A (rows × 32 bf16); 6: B (16 pairs × 16 columns). */
AMX static void configure(int rows) {
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 7; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = (uint8_t)(t == 6 ? 16 : rows);
    }
    _tile_loadconfig(&cfg);
}

/* As libtorch's bf16 addmm of several rows (oneDNN adds the bias to the f32 sum): one rounding to bf16. */
static void store(const float (*c)[16], int rows, int M, long o, const uint16_t *bias, uint16_t *y, long ldy) {
    for (int r = 0; r < rows; r++) {
        float b = bias == NULL ? 0.0f : widen(bias[o + r]);
        for (int m = 0; m < M; m++) {
            y[m * ldy + o + r] = narrow(c[r][m] + b);
        }
    }
}

/*
 * The last k block of `rows` weight rows when K is not a multiple of 32: copied with zeros after K, so that the
 * tile reads no byte past a row (nor past the matrix).
 */
static void tail_block(const uint16_t *w, long K, long o, int rows, long k0, uint16_t (*buf)[32]) {
    memset(buf, 0, 16 * 64);
    for (int r = 0; r < rows; r++) {
        memcpy(buf[r], w + (o + r) * K + k0, (size_t)(K - k0) * 2);
    }
}

/*
 * y[m, o] = bf16(Σ_k x[m, k] · w[o, k]) (+ bias[o], rounded again) for m < M and o in [o0, o1), with xb from
 * jepd_bf16_pack; y's rows are ldy apart. Returns 0, or -1 for an M outside 1..16.
 */
AMX int jepd_bf16_linear_rows(const uint16_t *w, long K, const uint16_t *xb, int M, const uint16_t *bias,
                              uint16_t *y, long ldy, long o0, long o1) {
    if (M < 1 || M > 16) {
        return -1;
    }
    float c[16][16] __attribute__((aligned(64)));
    uint16_t tail[16][32] __attribute__((aligned(64)));
    long kFull = K & ~31L;
    long stride = 2 * K;
    long o = o0;
    configure(16);
    /* 64 weight rows at a time: four C tiles share each B tile. */
    for (; o + 64 <= o1; o += 64) {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
        const uint16_t *a = w + o * K;
        long k = 0;
        for (; k < kFull; k += 32) {
            _tile_loadd(6, xb + k * 16, 64);
            _tile_loadd(4, a + k, stride);
            _tile_dpbf16ps(0, 4, 6);
            _tile_loadd(5, a + 16 * K + k, stride);
            _tile_dpbf16ps(1, 5, 6);
            _tile_loadd(4, a + 32 * K + k, stride);
            _tile_dpbf16ps(2, 4, 6);
            _tile_loadd(5, a + 48 * K + k, stride);
            _tile_dpbf16ps(3, 5, 6);
        }
        if (k < K) {
            _tile_loadd(6, xb + k * 16, 64);
            tail_block(w, K, o, 16, k, tail);
            _tile_loadd(4, tail, 64);
            _tile_dpbf16ps(0, 4, 6);
            tail_block(w, K, o + 16, 16, k, tail);
            _tile_loadd(5, tail, 64);
            _tile_dpbf16ps(1, 5, 6);
            tail_block(w, K, o + 32, 16, k, tail);
            _tile_loadd(4, tail, 64);
            _tile_dpbf16ps(2, 4, 6);
            tail_block(w, K, o + 48, 16, k, tail);
            _tile_loadd(5, tail, 64);
            _tile_dpbf16ps(3, 5, 6);
        }
        _tile_stored(0, c, 64);
        store((const float (*)[16])c, 16, M, o, bias, y, ldy);
        _tile_stored(1, c, 64);
        store((const float (*)[16])c, 16, M, o + 16, bias, y, ldy);
        _tile_stored(2, c, 64);
        store((const float (*)[16])c, 16, M, o + 32, bias, y, ldy);
        _tile_stored(3, c, 64);
        store((const float (*)[16])c, 16, M, o + 48, bias, y, ldy);
    }
    /* Then 16 rows at a time, and the last few rows with tiles of fewer rows (a new configuration zeroes them). */
    while (o < o1) {
        int rows = o1 - o >= 16 ? 16 : (int)(o1 - o);
        if (rows < 16) {
            configure(rows);
        }
        _tile_zero(0);
        const uint16_t *a = w + o * K;
        long k = 0;
        for (; k < kFull; k += 32) {
            _tile_loadd(6, xb + k * 16, 64);
            _tile_loadd(4, a + k, stride);
            _tile_dpbf16ps(0, 4, 6);
        }
        if (k < K) {
            _tile_loadd(6, xb + k * 16, 64);
            tail_block(w, K, o, rows, k, tail);
            _tile_loadd(4, tail, 64);
            _tile_dpbf16ps(0, 4, 6);
        }
        _tile_stored(0, c, 64);
        store((const float (*)[16])c, rows, M, o, bias, y, ldy);
        o += rows;
    }
    _tile_release();
    return 0;
}
