/*
 * JEPD's own CPU kernels, called through Panama (dev.jepd.tensor.torch.Bf16Amx); built by build.sh when the
 * module is packaged. No function here touches an instruction the CPU lacks before jepd_kernels_caps() has said
 * it has it: only the kernels are compiled for AMX, through function attributes, and the file itself for x86-64.
 *
 * The kernels: y = x · Wᵀ (+ b) in bf16 for 2..16 rows of x, the products of a batched decode step, on AMX tiles
 * (their AVX-512 BF16 build, for CPUs without AMX, takes up to 64 rows);
 * the decode attention of a batch over the paged KV cache in AVX-512; SiLU·mul and the rotary embedding in one
 * pass each; y = x · Wᵀ (+ b) for many rows of x (prefill, the vision tower) on AMX tiles; and attention within
 * the vision tower's windows on AMX tiles, at the end.
 *
 * The products: libtorch's oneDNN reads the weights at ~15 GB/s at 8 rows on the machine of docs/PERF.md, against
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
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <pthread.h>
#include <math.h>

#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

#define CAP_AMX_BF16 1
#define CAP_AVX512_BF16 2

#define AMX __attribute__((target("amx-tile,amx-bf16,avx512f")))
#define AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))

static unsigned long long xcr0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/*
 * Bit 0: AMX with bf16 is there and this process may use it (Linux granted the tile state). Bit 1: AVX-512 with
 * its bf16 dot product, and the OS saves the zmm registers.
 */
int jepd_kernels_caps(void) {
    unsigned a, b, c, d;
    int caps = 0;
    if (!__get_cpuid_count(1, 0, &a, &b, &c, &d) || !(c >> 27 & 1)) { /* OSXSAVE: xgetbv may run */
        return 0;
    }
    unsigned long long xcr = xcr0();
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        return 0;
    }
    int avx512 = (b >> 16 & 1) && (b >> 30 & 1) && (b >> 31 & 1) && (xcr & 0xE6) == 0xE6; /* F, BW, VL; zmm state */
    int amx = (d >> 22 & 1) && (d >> 24 & 1); /* AMX-BF16, AMX-TILE */
    unsigned a1, b1, c1, d1;
    if (avx512 && __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) && (a1 >> 5 & 1)) { /* AVX512_BF16 */
        caps |= CAP_AVX512_BF16;
    }
    /* Linux hands the tile state to a process that asks; 0 is yes (also when already granted). */
    if (amx && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) == 0) {
        caps |= CAP_AMX_BF16;
    }
    return caps;
}

/* Bytes that jepd_bf16_pack writes for M rows of K (the tiles take 16 columns, whatever M). */
long jepd_bf16_packed_bytes(int M, long K) {
    (void)M;
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
static inline uint16_t biased(float sum, const uint16_t *bias, long o) {
    return narrow(sum + (bias == NULL ? 0.0f : widen(bias[o])));
}

static void store(const float (*c)[16], int rows, int M, long o, const uint16_t *bias, uint16_t *y, long ldy) {
    for (int r = 0; r < rows; r++) {
        for (int m = 0; m < M; m++) {
            y[m * ldy + o + r] = biased(c[r][m], bias, o + r);
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

/* ---- decode attention */

/*
 * e^x in f32: 2^n · p(r), r = x - n·ln 2 in [-ln2/2, ln2/2], p of degree 6 (within ~1 ulp); x is clamped where the
 * result is 0 or infinite anyway, and scalef makes those.
 */
AVX512BF16 static inline __m512 exp16(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-104.0f)), _mm512_set1_ps(100.0f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693145751953125f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(1.428606765330187e-06f), r);
    __m512 p = _mm512_set1_ps(1.0f / 720);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* A mask of the first n of 32 lanes (n <= 32). */
static inline __mmask32 first32(long n) {
    return n >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << n) - 1);
}

static inline __mmask16 first16(long n) {
    return n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
}

/*
 * Elements from one row of the AVX-512 build's x to the next: ceil32(K) and one cache line more. Weight rows of K =
 * 2048 lie 4 KB apart, so that the same k of every row falls in the same set of L1 (64 sets of 12 lines on Zen 5);
 * x rows as far apart joined them there, and the x rows that stream through L1 pushed the weight rows out that the
 * next rows of x were about to read (32 rows, C harness on the AMD machine of docs/PERF.md, alternated: 595-615
 * against 525-550 GFLOP/s with the weights in L2).
 */
static inline long rows_stride(long K) {
    return ((K + 31) & ~31L) + 32;
}

/* x [M, K] into xr as M rows of rows_stride(K), zeros past K: the AVX-512 build's x (jepd_bf16_packed_rows_bytes). */
void jepd_bf16_pack_rows(const uint16_t *x, long ldx, int M, long K, uint16_t *xr) {
    long xs = rows_stride(K);
    for (int m = 0; m < M; m++) {
        memcpy(xr + m * xs, x + m * ldx, (size_t)K * 2);
        memset(xr + m * xs + K, 0, (size_t)(xs - K) * 2);
    }
}

/* The most rows of x that jepd_bf16_linear_rows_avx512 takes. */
#define ROWS_AVX512_MAX 64

/* Bytes that jepd_bf16_pack_rows writes for M rows of K. */
long jepd_bf16_packed_rows_bytes(int M, long K) {
    return (long)M * rows_stride(K) * 2;
}

/* The sums of eight vectors' lanes, in lane order: lane i of the result is the sum of x[i]'s 16 lanes. */
AVX512BF16 static inline __m256 sum8(const __m512 *x) {
    __m256 h[8];
    for (int i = 0; i < 8; i++) {
        h[i] = _mm256_add_ps(_mm512_castps512_ps256(x[i]),
                             _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(x[i]), 1)));
    }
    __m256 ab = _mm256_hadd_ps(_mm256_hadd_ps(h[0], h[1]), _mm256_hadd_ps(h[2], h[3]));
    __m256 cd = _mm256_hadd_ps(_mm256_hadd_ps(h[4], h[5]), _mm256_hadd_ps(h[6], h[7]));
    return _mm256_add_ps(_mm256_permute2f128_ps(ab, cd, 0x20), _mm256_permute2f128_ps(ab, cd, 0x31));
}

/*
 * NO weight rows from o against the M rows of xr: each 32 k of a weight row loaded once and dotted with each row of
 * x (vdpbf16ps: pairs of exact products into 16 f32 lanes), the lanes added at the end, then the bias and one
 * rounding (as biased does; for 2 to 8 weight rows the lanes of each row of x are added in one tree, sum8, and
 * rounded by vcvtneps2bf16, which differs from narrow only below f32's smallest normal). Unless `ahead` is NULL, the
 * AN weight rows from it are fetched at the same k, so that their read from memory overlaps this block's products
 * (a prefetch past the matrix does not fault).
 */
__attribute__((always_inline)) AVX512BF16 static inline void rows_block(const uint16_t *w, long K, const uint16_t *xr,
                                                                        const int M, const int NO,
                                                                        const uint16_t *ahead, const int AN, long o,
                                                                        const uint16_t *bias, uint16_t *y, long ldy) {
    long kp = (K + 31) & ~31L, xs = rows_stride(K);
    long kf = K & ~31L; /* whole blocks of 32; the last, part of a block, is loaded under a mask */
    const uint16_t *wr = w + o * K;
    __m512 acc[24];
#pragma GCC unroll 24
    for (int i = 0; i < NO * M; i++) {
        acc[i] = _mm512_setzero_ps();
    }
    for (long k = 0; k < kp; k += 32) {
        __mmask32 live = k < kf ? (__mmask32)-1 : first32(K - k);
        __m512i wv[12];
#pragma GCC unroll 12
        for (int j = 0; j < NO; j++) {
            wv[j] = _mm512_maskz_loadu_epi16(live, wr + j * K + k);
        }
        if (ahead != NULL) {
#pragma GCC unroll 12
            for (int a = 0; a < AN; a++) {
                _mm_prefetch((const char *)(ahead + a * K + k), _MM_HINT_T0);
            }
        }
#pragma GCC unroll 16
        for (int m = 0; m < M; m++) {
            __m512bh xv = (__m512bh)_mm512_loadu_si512(xr + m * xs + k);
#pragma GCC unroll 12
            for (int j = 0; j < NO; j++) {
                acc[j * M + m] = _mm512_dpbf16_ps(acc[j * M + m], (__m512bh)wv[j], xv);
            }
        }
    }
    if (NO >= 2 && NO <= 8) {
        __mmask8 cols = (__mmask8)((1u << NO) - 1);
        __m256 b = bias == NULL ? _mm256_setzero_ps()
                                : _mm256_castsi256_ps(_mm256_slli_epi32(
                                          _mm256_cvtepu16_epi32(_mm_maskz_loadu_epi16(cols, bias + o)), 16));
#pragma GCC unroll 16
        for (int m = 0; m < M; m++) {
            __m512 v[8];
#pragma GCC unroll 8
            for (int j = 0; j < 8; j++) {
                v[j] = j < NO ? acc[j * M + m] : _mm512_setzero_ps();
            }
            _mm_mask_storeu_epi16(y + m * ldy + o, cols, (__m128i)_mm256_cvtneps_pbh(_mm256_add_ps(sum8(v), b)));
        }
        return;
    }
#pragma GCC unroll 12
    for (int j = 0; j < NO; j++) {
#pragma GCC unroll 16
        for (int m = 0; m < M; m++) {
            y[m * ldy + o + j] = biased(_mm512_reduce_add_ps(acc[j * M + m]), bias, o + j);
        }
    }
}

/*
 * All of [o0, o1) for M rows: NO weight rows at a time (as many sums as 24 registers hold), then one at a time, each
 * block fetching the next as it goes: the few-row products wait on memory.
 */
__attribute__((always_inline)) AVX512BF16 static inline void rows_all(const uint16_t *w, long K, const uint16_t *xr,
                                                                      const int M, const int NO, const uint16_t *bias,
                                                                      uint16_t *y, long ldy, long o0, long o1) {
    long o = o0;
    for (; o + NO <= o1; o += NO) {
        rows_block(w, K, xr, M, NO, w + (o + NO) * K, NO, o, bias, y, ldy);
    }
    for (; o < o1; o++) {
        rows_block(w, K, xr, M, 1, w + (o + 1) * K, 1, o, bias, y, ldy);
    }
}

/*
 * [o0, o1) for 17 to ROWS_AVX512_MAX rows, where the products, not memory, bound the time (32 rows: 64 flops a
 * weight): NO weight rows (24 KB at K = 2048, held in L1) against x four rows at a time, each x row loaded once for
 * NO products. Against 6 × 4 sums in registers, 4 × 6 ran ~20% slower on the AMD machine of docs/PERF.md (x streams
 * from L2, and each of its loads served fewer products); 8 × 3 ~10% slower. While the block's i-th four rows of x
 * run, the next block's i-th weight row is fetched, so that its read from memory overlaps the products (C harness,
 * 32 rows of cold `[11008, 2048]` matrices, alternated: 486-623 against 463-543 GFLOP/s).
 */
__attribute__((always_inline)) AVX512BF16 static inline void rows_many(const uint16_t *w, long K, const uint16_t *xr,
                                                                       int M, const int NO, const uint16_t *bias,
                                                                       uint16_t *y, long ldy, long o0, long o1) {
    long xs = rows_stride(K);
    for (long o = o0; o + NO <= o1; o += NO) {
        for (int g = 0; g < M; g += 4) {
            const uint16_t *xg = xr + g * xs;
            uint16_t *yg = y + g * ldy;
            long next = o + NO + g / 4; /* the next block's row that this run of x fetches */
            const uint16_t *ahead = g / 4 < NO && next < o1 ? w + next * K : NULL;
            switch (M - g < 4 ? M - g : 4) {
            case 1: rows_block(w, K, xg, 1, NO, ahead, 1, o, bias, yg, ldy); break;
            case 2: rows_block(w, K, xg, 2, NO, ahead, 1, o, bias, yg, ldy); break;
            case 3: rows_block(w, K, xg, 3, NO, ahead, 1, o, bias, yg, ldy); break;
            default: rows_block(w, K, xg, 4, NO, ahead, 1, o, bias, yg, ldy); break;
            }
        }
    }
}

/*
 * jepd_bf16_linear_rows on AVX-512 BF16 alone (AMD's Zen 4 and 5, or AMX turned off), for 1 to ROWS_AVX512_MAX rows
 * with x from jepd_bf16_pack_rows: the weights read once, 64 bytes of a row at a time; the products summed in f32 (in
 * another order than a tile's), then the AMX build's store.
 */
AVX512BF16 int jepd_bf16_linear_rows_avx512(const uint16_t *w, long K, const uint16_t *xr, int M,
                                            const uint16_t *bias, uint16_t *y, long ldy, long o0, long o1) {
    if (M > 16 && M <= ROWS_AVX512_MAX) {
        long tail = (o1 - o0) % 6;
        rows_many(w, K, xr, M, 6, bias, y, ldy, o0, o1 - tail);
        switch (tail) {
        case 1: rows_many(w, K, xr, M, 1, bias, y, ldy, o1 - tail, o1); break;
        case 2: rows_many(w, K, xr, M, 2, bias, y, ldy, o1 - tail, o1); break;
        case 3: rows_many(w, K, xr, M, 3, bias, y, ldy, o1 - tail, o1); break;
        case 4: rows_many(w, K, xr, M, 4, bias, y, ldy, o1 - tail, o1); break;
        case 5: rows_many(w, K, xr, M, 5, bias, y, ldy, o1 - tail, o1); break;
        default: break;
        }
        return 0;
    }
    switch (M) {
    case 1: rows_all(w, K, xr, 1, 12, bias, y, ldy, o0, o1); break;
    case 2: rows_all(w, K, xr, 2, 12, bias, y, ldy, o0, o1); break;
    case 3: rows_all(w, K, xr, 3, 8, bias, y, ldy, o0, o1); break;
    case 4: rows_all(w, K, xr, 4, 6, bias, y, ldy, o0, o1); break;
    case 5: rows_all(w, K, xr, 5, 4, bias, y, ldy, o0, o1); break;
    case 6: rows_all(w, K, xr, 6, 4, bias, y, ldy, o0, o1); break;
    case 7: rows_all(w, K, xr, 7, 3, bias, y, ldy, o0, o1); break;
    case 8: rows_all(w, K, xr, 8, 3, bias, y, ldy, o0, o1); break;
    case 9: rows_all(w, K, xr, 9, 2, bias, y, ldy, o0, o1); break;
    case 10: rows_all(w, K, xr, 10, 2, bias, y, ldy, o0, o1); break;
    case 11: rows_all(w, K, xr, 11, 2, bias, y, ldy, o0, o1); break;
    case 12: rows_all(w, K, xr, 12, 2, bias, y, ldy, o0, o1); break;
    case 13: rows_all(w, K, xr, 13, 1, bias, y, ldy, o0, o1); break;
    case 14: rows_all(w, K, xr, 14, 1, bias, y, ldy, o0, o1); break;
    case 15: rows_all(w, K, xr, 15, 1, bias, y, ldy, o0, o1); break;
    case 16: rows_all(w, K, xr, 16, 1, bias, y, ldy, o0, o1); break;
    default: return -1;
    }
    return 0;
}

/* scores[h][t] = scale · q_h · k_t for h < g and t < len: eight heads at a time share each loaded key row. */
AVX512BF16 static void scores_qk(const uint16_t *qb, const uint16_t *kc, const int64_t *sl, long len, long kvH,
                                 long kh, long g, long d, float scale, float *scores, long S) {
    for (long t = 0; t < len; t++) {
        const uint16_t *k = kc + (sl[t] * kvH + kh) * d;
        if (t + 4 < len) { /* the slots scatter the rows where no prefetcher follows: a few tokens ahead */
            const uint16_t *nk = kc + (sl[t + 4] * kvH + kh) * d;
            for (long e = 0; e < d; e += 32) {
                _mm_prefetch((const char *)(nk + e), _MM_HINT_T0);
            }
        }
        for (long h0 = 0; h0 < g; h0 += 8) {
            __m512 acc[8];
            long n = g - h0 < 8 ? g - h0 : 8;
            for (int i = 0; i < 8; i++) {
                acc[i] = _mm512_setzero_ps();
            }
            for (long e = 0; e < d; e += 32) {
                __mmask32 m = first32(d - e);
                __m512bh kv = (__m512bh)_mm512_maskz_loadu_epi16(m, k + e);
                for (int i = 0; i < n; i++) {
                    acc[i] = _mm512_dpbf16_ps(acc[i], (__m512bh)_mm512_maskz_loadu_epi16(m, qb + (h0 + i) * d + e), kv);
                }
            }
            float sums[8];
            _mm256_storeu_ps(sums, _mm256_mul_ps(sum8(acc), _mm256_set1_ps(scale)));
            for (int i = 0; i < n; i++) {
                scores[(h0 + i) * S + t] = sums[i];
            }
        }
    }
}

/*
 * acc[h][e] = Σ_t p[h][t] · v_t[e] (t ascending, one f32 FMA each) for HN heads from h0 and the CN vectors of 16
 * elements from c: the CN value vectors are loaded and widened once per token and serve all HN heads (HN · CN sums
 * in registers, each probability a broadcast). The first pass over a row (c = 0) fetches the rest of it for the
 * later passes, and the next rows a few tokens ahead (the slots scatter them where no prefetcher follows): at batch
 * 32 and context 512, with the cache out of the caches, 1.1–1.5 against 1.8–2.2 ms for the layer in a C harness on
 * the AMD machine of docs/PERF.md, against two heads at a time over whole rows; the same sums bit for bit.
 */
AVX512BF16 static inline __attribute__((always_inline)) void weigh_block(const uint16_t *vc, const int64_t *sl,
                                                                         long len, long kvH, long kh, long h0,
                                                                         const int HN, long c, const int CN, long d,
                                                                         const float *p, long S, float *acc, long dv) {
    __m512 a[8][2];
#pragma GCC unroll 8
    for (int h = 0; h < HN; h++) {
#pragma GCC unroll 2
        for (int i = 0; i < CN; i++) {
            a[h][i] = _mm512_setzero_ps();
        }
    }
    const float *ph = p + h0 * S;
    for (long t = 0; t < len; t++) {
        const uint16_t *row = vc + (sl[t] * kvH + kh) * d;
        if (c == 0) {
            for (long e = 32; e < d; e += 32) {
                _mm_prefetch((const char *)(row + e), _MM_HINT_T1);
            }
            if (t + 4 < len) {
                const uint16_t *next = vc + (sl[t + 4] * kvH + kh) * d;
                for (long e = 0; e < d; e += 32) {
                    _mm_prefetch((const char *)(next + e), _MM_HINT_T0);
                }
            }
        }
        __m512 vf[2];
#pragma GCC unroll 2
        for (int i = 0; i < CN; i++) {
            __m256i h16 = _mm256_maskz_loadu_epi16(first16(d - 16 * (c + i)), row + 16 * (c + i));
            vf[i] = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h16), 16));
        }
#pragma GCC unroll 8
        for (int h = 0; h < HN; h++) {
            __m512 w = _mm512_set1_ps(ph[h * S + t]);
#pragma GCC unroll 2
            for (int i = 0; i < CN; i++) {
                a[h][i] = _mm512_fmadd_ps(w, vf[i], a[h][i]);
            }
        }
    }
#pragma GCC unroll 8
    for (int h = 0; h < HN; h++) {
#pragma GCC unroll 2
        for (int i = 0; i < CN; i++) {
            _mm512_storeu_ps(acc + (h0 + h) * dv * 16 + 16 * (c + i), a[h][i]);
        }
    }
}

#define WEIGH_HN(N)                                                                                                 \
    case N:                                                                                                         \
        if (c + 1 < dv) {                                                                                           \
            weigh_block(vc, sl, len, kvH, kh, h0, N, c, 2, d, p, S, acc, dv);                                       \
        } else {                                                                                                    \
            weigh_block(vc, sl, len, kvH, kh, h0, N, c, 1, d, p, S, acc, dv);                                       \
        }                                                                                                           \
        break;

/* acc [g][dv · 16] for all g heads: eight heads at a time, two vectors of 16 elements at a time (one for an odd dv). */
AVX512BF16 static void weigh_values(const uint16_t *vc, const int64_t *sl, long len, long kvH, long kh, long g,
                                    long d, const float *p, long S, float *acc, long dv) {
    for (long h0 = 0; h0 < g; h0 += 8) {
        for (long c = 0; c < dv; c += 2) {
            switch (g - h0 < 8 ? g - h0 : 8) {
            WEIGH_HN(1) WEIGH_HN(2) WEIGH_HN(3) WEIGH_HN(4) WEIGH_HN(5) WEIGH_HN(6) WEIGH_HN(7) WEIGH_HN(8)
            }
        }
    }
}

/*
 * Decode attention of sequences b with KV heads kh, for jobs j = b · kvH + kh in [job0, job1): the g = H / kvH
 * query heads of KV head kh attend to sequence b's first lengths[b] cache slots, slots[b · S + t], t < lengths[b].
 * q and out are [B, H, d]; each cache is [slots, kvH, d], dense; d <= 128. Scores q · k are sums of exact bf16
 * products in f32, scaled; softmax in f32; the probabilities weight V in f32; out is rounded once to bf16. Returns
 * 0, -1 when the scratch cannot be had, -2 for a d above 128.
 */
AVX512BF16 int jepd_bf16_decode_attention(const uint16_t *q, const uint16_t *kc, const uint16_t *vc,
                                          const int64_t *slots, const int32_t *lengths, long S, long H, long kvH,
                                          long d, float scale, uint16_t *out, long job0, long job1) {
    long g = H / kvH;
    long dv = (d + 15) / 16; /* f32 vectors per row */
    if (dv > 8) {
        return -2;
    }
    float *scores = malloc(sizeof(float) * (size_t)(g * S + g * dv * 16));
    if (scores == NULL) {
        return -1;
    }
    float *acc = scores + g * S; /* [g][dv · 16] */
    for (long job = job0; job < job1; job++) {
        long b = job / kvH, kh = job % kvH;
        long len = lengths[b];
        const int64_t *sl = slots + b * S;
        scores_qk(q + (b * H + kh * g) * d, kc, sl, len, kvH, kh, g, d, scale, scores, S);
        /* softmax over t, per head: the probabilities stay unnormalised until the output */
        float sums[g];
        for (long h = 0; h < g; h++) {
            float *sh = scores + h * S;
            __m512 mx = _mm512_set1_ps(-__builtin_inff());
            for (long t = 0; t < len; t += 16) {
                mx = _mm512_mask_max_ps(mx, first16(len - t), mx, _mm512_maskz_loadu_ps(first16(len - t), sh + t));
            }
            __m512 max = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
            __m512 sum = _mm512_setzero_ps();
            for (long t = 0; t < len; t += 16) {
                __mmask16 m = first16(len - t);
                __m512 p = exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sh + t), max));
                sum = _mm512_mask_add_ps(sum, m, sum, p);
                _mm512_mask_storeu_ps(sh + t, m, p);
            }
            sums[h] = _mm512_reduce_add_ps(sum);
        }
        weigh_values(vc, sl, len, kvH, kh, g, d, scores, S, acc, dv);
        for (long h = 0; h < g; h++) {
            float inv = 1.0f / sums[h];
            uint16_t *o = out + (b * H + kh * g + h) * d;
            for (long e = 0; e < d; e++) {
                o[e] = narrow(acc[h * dv * 16 + e] * inv);
            }
        }
    }
    free(scores);
    return 0;
}

/* ---- element-wise ops on bf16, rounded where libtorch's composition of single ops rounds */

/* Round 16 f32 to bf16 to nearest even, as torch's float -> bfloat16 (denormals kept; a NaN stays a quiet NaN). */
AVX512BF16 static inline __m256i narrow16(__m512 f) {
    __m512i bits = _mm512_castps_si512(f);
    __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7FFF))), 16);
    __mmask16 nan = _mm512_cmp_ps_mask(f, f, _CMP_UNORD_Q);
    __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(bits, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(_mm512_mask_mov_epi32(rounded, nan, quiet));
}

AVX512BF16 static inline __m512 widen16(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

AVX512BF16 static inline __m512 load16(const uint16_t *p, __mmask16 m) {
    return widen16(_mm256_maskz_loadu_epi16(m, p));
}

/*
 * Round 16 f32 to bf16 to nearest even in one instruction (vcvtneps2bf16): narrow16's answer for every value but one
 * below f32's smallest normal (1.2e-38), which it flushes to zero. The rotary's products and sums reach that only
 * for q or k elements that are zero in all but name; WindowAttentionProbe: 1.0-1.2 ms of rotary inside the vision
 * window attention with narrow16's seven steps per rounding, less with this one.
 */
AVX512BF16 static inline __m512 round16(__m512 f) {
    return widen16((__m256i)_mm512_cvtneps_pbh(f));
}

/*
 * n / d for 16 lanes, d finite and not zero: n times a reciprocal estimate with one Newton step, corrected by its
 * remainder: f32's division but in rare last-bit cases, where vdivps takes 10-16 cycles a vector.
 */
AVX512BF16 static inline __m512 quotient16(__m512 n, __m512 d) {
    __m512 r = _mm512_rcp14_ps(d);
    r = _mm512_mul_ps(r, _mm512_fnmadd_ps(d, r, _mm512_set1_ps(2.0f)));
    __m512 q = _mm512_mul_ps(n, r);
    return _mm512_fmadd_ps(_mm512_fnmadd_ps(q, d, n), r, q);
}

/*
 * The exact GELU, x / 2 · (1 + erf(x / √2)), in f32 for 16 lanes, as libtorch's vectorized CPU kernel computes it:
 * erf by Abramowitz and Stegun's 7.1.26 (|error| < 1.5e-7), 1 - t · r(t) · e^-z² with t = 1 / (1 + p|z|). |z| is
 * taken at most 10 inside erf (erf is 1 in f32 long before), so that t stays finite: ±inf and NaN in x give
 * libtorch's inf, NaN and NaN.
 */
AVX512BF16 static inline __m512 gelu16(__m512 x) {
    __m512 z = _mm512_mul_ps(x, _mm512_set1_ps(0.70710678118654752440f));
    __m512 a = _mm512_min_ps(_mm512_abs_ps(z), _mm512_set1_ps(10.0f));
    __m512 t = quotient16(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(_mm512_set1_ps(0.3275911f), a, _mm512_set1_ps(1.0f)));
    __m512 r = _mm512_fmadd_ps(_mm512_set1_ps(1.061405429f), t, _mm512_set1_ps(-1.453152027f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(1.421413741f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(-0.284496736f));
    r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(0.254829592f));
    __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(a, a)));
    __m512 erfAbs = _mm512_fnmadd_ps(_mm512_mul_ps(e, t), r, _mm512_set1_ps(1.0f));
    __m512 erf = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(erfAbs),
                                                     _mm512_and_si512(_mm512_castps_si512(z), _mm512_set1_epi32(INT32_MIN))));
    return _mm512_mul_ps(_mm512_mul_ps(x, _mm512_set1_ps(0.5f)), _mm512_add_ps(_mm512_set1_ps(1.0f), erf));
}

/*
 * bf16(bf16(silu(g)) · up) for 16 lanes: silu(g) = g / (1 + e^-g) in f32, rounded, then the product in f32, rounded:
 * Hugging Face's act_fn(gate_proj(x)) * up_proj(x) in bf16, rounded where libtorch's silu and mul kernels round. The
 * quotient is g times a reciprocal estimate with one Newton step, then corrected by its remainder (f32's division
 * but in rare last-bit cases; vdivps is 10-16 cycles a vector), and each rounding one vcvtneps2bf16 (round16). Where
 * e^-g overflows (g below -88.7) the result is the -0 of libtorch's g / inf; NaN stays NaN.
 */
AVX512BF16 static inline __m256i silu_mul16(__m512 g, __m512 up) {
    __m512 d = _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), g)));
    __mmask16 finite = _mm512_cmp_ps_mask(d, _mm512_set1_ps(INFINITY), _CMP_LT_OQ);
    __m512 s = _mm512_mask_mov_ps(_mm512_mul_ps(g, _mm512_setzero_ps()), finite, quotient16(g, d));
    return (__m256i)_mm512_cvtneps_pbh(_mm512_mul_ps(round16(s), up));
}

/* out = silu_mul16(gate, up) over elements [i0, i1) of dense bf16 arrays. */
AVX512BF16 void jepd_bf16_silu_mul(const uint16_t *gate, const uint16_t *up, uint16_t *out, long i0, long i1) {
    for (long i = i0; i < i1; i += 16) {
        __mmask16 m = first16(i1 - i);
        _mm256_mask_storeu_epi16(out + i, m, silu_mul16(load16(gate + i, m), load16(up + i, m)));
    }
}

/* One row of d (even) elements of the rotary embedding below; o may not overlap x. */
AVX512BF16 static inline void rotary_row(const uint16_t *xr, const uint16_t *cr, const uint16_t *sr, uint16_t *o,
                                         long d) {
    long half = d / 2;
    for (long e = 0; e < half; e += 16) {
        __mmask16 m = first16(half - e);
        __m512 x1 = load16(xr + e, m), x2 = load16(xr + half + e, m);
        __m512 c1 = load16(cr + e, m), c2 = load16(cr + half + e, m);
        __m512 s1 = load16(sr + e, m), s2 = load16(sr + half + e, m);
        __m512 lo = _mm512_sub_ps(round16(_mm512_mul_ps(x1, c1)), round16(_mm512_mul_ps(x2, s1)));
        __m512 hi = _mm512_add_ps(round16(_mm512_mul_ps(x2, c2)), round16(_mm512_mul_ps(x1, s2)));
        _mm256_mask_storeu_epi16(o + e, m, (__m256i)_mm512_cvtneps_pbh(lo));
        _mm256_mask_storeu_epi16(o + half + e, m, (__m256i)_mm512_cvtneps_pbh(hi));
    }
}

/*
 * Rotary embedding in the rotate-half layout over rows [r0, r1) of d elements: out[e] = bf16(bf16(x[e]·cos[e]) +
 * bf16(rot[e]·sin[e])) with rot = [-x2, x1] (the sign on sin: the same products), rounded where libtorch's mul, mul
 * and add round. Row r is (i, j) = (r / inner, r % inner); an operand's row (i, j) starts at element i·os + j·is
 * (stride 0 broadcasts; out's strides must not). d is even.
 */
AVX512BF16 void jepd_bf16_rotary(const uint16_t *x, long xos, long xis, const uint16_t *cs, long cos_os, long cos_is,
                                 const uint16_t *sn, long sin_os, long sin_is, uint16_t *out, long oos, long ois,
                                 long inner, long d, long r0, long r1) {
    for (long r = r0; r < r1; r++) {
        long i = r / inner, j = r % inner;
        rotary_row(x + i * xos + j * xis, cs + i * cos_os + j * cos_is, sn + i * sin_os + j * sin_is,
                   out + i * oos + j * ois, d);
    }
}

/*
 * The residual add and the next RMSNorm in one pass over rows [r0, r1) of d elements (x, y, sum and out dense): sum =
 * bf16(x + y) as libtorch's add rounds it; out = bf16(w · bf16(sum · rsqrt(mean(sum²) + eps))), Qwen2RMSNorm in f32 as
 * Bf16Rows computes it (the sum of squares of the rounded sums in f32, in its own order). The row stays in L1 between
 * the two halves.
 */
AVX512BF16 void jepd_bf16_add_rms_norm(const uint16_t *x, const uint16_t *y, const uint16_t *w, long d, float eps,
                                       uint16_t *sum, uint16_t *out, long r0, long r1) {
    for (long r = r0; r < r1; r++) {
        const uint16_t *xr = x + r * d, *yr = y + r * d;
        uint16_t *sr = sum + r * d, *o = out + r * d;
        __m512 ss = _mm512_setzero_ps();
        for (long e = 0; e < d; e += 16) {
            __mmask16 m = first16(d - e);
            __m256i s = narrow16(_mm512_add_ps(load16(xr + e, m), load16(yr + e, m)));
            _mm256_mask_storeu_epi16(sr + e, m, s);
            __m512 f = widen16(s);
            ss = _mm512_mask3_fmadd_ps(f, f, ss, m);
        }
        float inv = 1.0f / sqrtf(_mm512_reduce_add_ps(ss) / (float)d + eps);
        __m512 iv = _mm512_set1_ps(inv);
        for (long e = 0; e < d; e += 16) {
            __mmask16 m = first16(d - e);
            __m512 n = widen16(narrow16(_mm512_mul_ps(load16(sr + e, m), iv)));
            _mm256_mask_storeu_epi16(o + e, m, narrow16(_mm512_mul_ps(n, load16(w + e, m))));
        }
    }
}

/* ---- products of many rows: y = x · Wᵀ (+ b) for prefill and the vision tower, on AMX tiles */

/*
 * libtorch 2.7.1's oneDNN runs these at 1,100-1,500 GFLOP/s on the 2-core machine of docs/PERF.md (random data),
 * where the tiles alone do ~4,000. Here the roles are the other way round from the few-row kernel above: 32 rows of
 * x (packed once per slab of rows by jepd_bf16_gemm_pack into A tiles) against a block of GEMM_NC weight rows × kc k
 * (packed into B tiles' pair layout when the block is reached, while the next block is prefetched into L2), four C
 * tiles of 16 rows × 16 outputs each: the sums come out row-major, so y is written straight from them.
 */
#define GEMM_NC 256 /* weight rows per packed block */
#define GEMM_GROUP 256 /* rows of x per run of a deferred epilogue (a multiple of 32) */
#define GEMM_KC 1280 /* the most k per packed block: a 32-row A panel of x is 80 KB, the weight block 640 KB (L2) */

/*
 * k per block and whether to prefetch the next weight block, by the rows of x, as measured on the machine of
 * docs/PERF.md (random data, weights from memory, 2 threads): with 1,024 rows the long block and the prefetch win
 * (1,984 against 1,633 GFLOP/s at [1024, 1280] · [3420, 1280]ᵀ); with 512 rows or fewer the short block without it
 * (1,649 against 1,471 at [512, 2048] · [11008, 2048]ᵀ, 1,402 against 1,211 at [256, 5120] · [5120, 5120]ᵀ), where x's
 * stream and the prefetched block no longer fit the 2 MB L2 together.
 */
static inline long gemm_kc(long M) {
    return M >= 768 ? GEMM_KC : 512;
}

typedef struct {
    uint16_t *wp;  /* [GEMM_NC / 32][kc / 32][2][16][32]: the weight block in B tiles' pair layout */
    float *acc;    /* [ceil(M / 32)][GEMM_NC / 32][4][16][16]: f32 sums between k blocks */
    long accBytes;
    uint16_t *last; /* x's last rows (M % 32 of them) copied into 32 rows of S · 32, zeros around them */
    long lastBytes;
} gemm_scratch;

static pthread_key_t gemm_key;
static pthread_once_t gemm_once = PTHREAD_ONCE_INIT;

static void gemm_free(void *p) {
    gemm_scratch *s = p;
    free(s->wp);
    free(s->acc);
    free(s->last);
    free(s);
}

static void gemm_key_init(void) {
    pthread_key_create(&gemm_key, gemm_free);
}

/* Makes *p hold at least need bytes (64-byte aligned; what it held is not kept); 0 when memory runs out. */
static int gemm_grow(void **p, long *bytes, long need) {
    if (*bytes >= need) {
        return 1;
    }
    free(*p);
    *p = aligned_alloc(64, (size_t)need);
    *bytes = *p == NULL ? 0 : need;
    return *p != NULL;
}

/*
 * This thread's scratch with room for M rows of sums, and for x's last rows when lastBytes > 0; NULL when memory runs
 * out. Freed when the thread ends.
 */
static gemm_scratch *gemm_scratch_for(long M, long lastBytes) {
    pthread_once(&gemm_once, gemm_key_init);
    gemm_scratch *s = pthread_getspecific(gemm_key);
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL) {
            return NULL;
        }
        s->wp = aligned_alloc(64, (size_t)GEMM_NC * GEMM_KC * 2);
        if (s->wp == NULL || pthread_setspecific(gemm_key, s) != 0) {
            gemm_free(s);
            return NULL;
        }
    }
    if (!gemm_grow((void **)&s->acc, &s->accBytes, (M + 31) / 32 * GEMM_NC * 32 * 4)
        || !gemm_grow((void **)&s->last, &s->lastBytes, lastBytes)) {
        return NULL;
    }
    return s;
}

/*
 * Rows m0 .. m0 + 32 of x (rows ldx apart, those at or past M zeros) at k from k0 to K (zeros from K to k0 + 32 · n)
 * into 32 rows of 32 · n, one after another: the A tiles of x's rows the direct path may not read in place.
 */
AVX512BF16 static void gemm_copy_rows(const uint16_t *x, long ldx, long M, long K, long m0, long k0, long n,
                                      uint16_t *out) {
    for (long r = 0; r < 32; r++) {
        for (long s = 0; s < n; s++) {
            long k = k0 + 32 * s;
            __m512i v = m0 + r < M && k < K ? _mm512_maskz_loadu_epi16(first32(K - k), x + (m0 + r) * ldx + k)
                                            : _mm512_setzero_si512();
            _mm512_storeu_si512((__m512i *)(out + (r * n + s) * 32), v);
        }
    }
}

/* Transposes 16 rows of 16 u32 in place (r[i] lane j goes to r[j] lane i): one u32 is a pair of weights. */
AVX512BF16 static inline void transpose16(__m512i r[16]) {
    __m512i a[16], b[16];
    for (int i = 0; i < 8; i++) {
        a[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        a[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        b[4 * i] = _mm512_unpacklo_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 1] = _mm512_unpackhi_epi64(a[4 * i], a[4 * i + 2]);
        b[4 * i + 2] = _mm512_unpacklo_epi64(a[4 * i + 1], a[4 * i + 3]);
        b[4 * i + 3] = _mm512_unpackhi_epi64(a[4 * i + 1], a[4 * i + 3]);
    }
    for (int q = 0; q < 4; q++) {
        __m512i c0 = _mm512_shuffle_i32x4(b[q], b[4 + q], 0x88);
        __m512i c1 = _mm512_shuffle_i32x4(b[q], b[4 + q], 0xDD);
        __m512i d0 = _mm512_shuffle_i32x4(b[8 + q], b[12 + q], 0x88);
        __m512i d1 = _mm512_shuffle_i32x4(b[8 + q], b[12 + q], 0xDD);
        r[q] = _mm512_shuffle_i32x4(c0, d0, 0x88);
        r[8 + q] = _mm512_shuffle_i32x4(c0, d0, 0xDD);
        r[4 + q] = _mm512_shuffle_i32x4(c1, d1, 0x88);
        r[12 + q] = _mm512_shuffle_i32x4(c1, d1, 0xDD);
    }
}

/*
 * Packs a block of weight rows, k0 .. k0 + kw, into B tiles: tile (j, s, h) row p holds, for each of 16 weight rows
 * r = o + i (o = rowJ·j + rowH·h, i < 16) of w[h], the pair W[r, k0 + 32s + 2p], W[r, k0 + 32s + 2p + 1]; zeros for
 * rows at or past `rows` - o and for k past kw. One weight: w[0] = w[1], rowJ 32, rowH 16 (32 consecutive rows per
 * j). Gate and up: w[0] the gate's rows, w[1] the up's, rowJ 16, rowH 0 (the same 16 rows of each per j).
 */
AVX512BF16 static void gemm_pack_w(const uint16_t *const w[2], long K, long rowJ, long rowH, long rows, long js,
                                   long k0, long kw, long kc, uint16_t *wp) {
    long steps = (kw + 31) / 32;
    for (long j = 0; j < js; j++) {
        for (int h = 0; h < 2; h++) {
            long o = rowJ * j + rowH * h;
            for (long s = 0; s < steps; s++) {
                __m512i r[16];
                long kk = k0 + 32 * s;
                __mmask32 km = first32(kw - 32 * s);
                for (int i = 0; i < 16; i++) {
                    r[i] = o + i < rows ? _mm512_maskz_loadu_epi16(km, w[h] + (o + i) * K + kk) : _mm512_setzero_si512();
                }
                transpose16(r);
                uint16_t *t = wp + ((j * (kc / 32) + s) * 2 + h) * 512;
                for (int p = 0; p < 16; p++) {
                    _mm512_store_si512((__m512i *)(t + p * 32), r[p]);
                }
            }
        }
    }
}

/* Bytes of x [M, K] packed by jepd_bf16_gemm_pack. */
long jepd_bf16_gemm_packed_bytes(long M, long K) {
    return (M + 31) / 32 * ((K + 31) / 32) * 2048;
}

/*
 * Packs the 32-row blocks [mb0, mb1) of x [M, K] (rows ldx apart) into A tiles: block mb, k step s, half h is the
 * tile at xp + ((mb · S + s) · 2 + h) · 512 (S = ceil(K / 32)), rows 32mb + 16h .. + 16 and k 32s .. + 32, zeros past
 * M and K. So a block's A tiles for a range of k steps lie one after another.
 */
AVX512BF16 void jepd_bf16_gemm_pack(const uint16_t *x, long ldx, long M, long K, uint16_t *xp, long mb0, long mb1) {
    long S = (K + 31) / 32;
    for (long mb = mb0; mb < mb1; mb++) {
        for (int r = 0; r < 32; r++) {
            long m = 32 * mb + r;
            uint16_t *t = xp + mb * S * 1024 + (r / 16) * 512 + (r % 16) * 32;
            const uint16_t *row = x + m * ldx;
            for (long s = 0; s < S; s++) {
                __m512i v = m < M ? _mm512_maskz_loadu_epi16(first32(K - 32 * s), row + 32 * s) : _mm512_setzero_si512();
                _mm512_store_si512((__m512i *)(t + s * 1024), v);
            }
        }
    }
}

/* What the sums become: y = x · Wᵀ + b, gelu(bf16(x · Wᵀ + b)), or silu(x · Gᵀ + bg) · (x · Uᵀ + bu). */
enum { GEMM_PLAIN, GEMM_SILU_MUL, GEMM_GELU };

typedef struct {
    const uint16_t *xp; /* x packed by jepd_bf16_gemm_pack, or x itself when ldx > 0 */
    long ldx;           /* 0: xp is packed; else x's row stride, its tiles loaded straight from its rows */
    long M, K;
    const uint16_t *w[2], *bias[2]; /* the weight (both the same), or the gate's and the up's; biases or NULL */
    uint16_t *y; /* [M, N], rows ldy apart */
    long ldy;
    int mode;
} gemm_job;

/* 16 bf16 of a bias (zeros for NULL) from column n, the first `cols` of them. */
AVX512BF16 static inline __m512 gemm_bias(const uint16_t *bias, long n, __mmask16 cols) {
    return bias == NULL ? _mm512_setzero_ps() : load16(bias + n, cols);
}

/*
 * Rows m0 .. m0 + rows (< M) of a tile of sums c (16 f32 a row) into y's columns n.. (< n1): the bias added to the
 * f32 sum and one rounding to nearest even (vcvtneps2bf16, as oneDNN rounds its bf16 output; the bias as libtorch's
 * addmm hands it to oneDNN).
 */
AVX512BF16 static void gemm_store(const gemm_job *g, const float *c, long m0, int rows, long n, long n1) {
    if (n >= n1) {
        return;
    }
    __mmask16 cols = first16(n1 - n);
    __m512 b = gemm_bias(g->bias[0], n, cols);
    for (long r = 0; r < rows && m0 + r < g->M; r++) {
        __m256i v = (__m256i)_mm512_cvtneps_pbh(_mm512_add_ps(_mm512_load_ps(c + 16 * r), b));
        if (g->mode == GEMM_GELU) { /* libtorch's _addmm_activation: the bf16 product, then its GELU in place */
            v = (__m256i)_mm512_cvtneps_pbh(gelu16(widen16(v)));
        }
        _mm256_mask_storeu_epi16(g->y + (m0 + r) * g->ldy + n, cols, v);
    }
}

/*
 * GEMM_SILU_MUL: rows m0 .. m0 + rows of the gate's and the up's tiles of sums into y's columns n..: each rounded to
 * bf16 with its bias, then silu(gate) rounded, times up, rounded: libtorch's linear, linear, silu and mul in bf16
 * (the same steps as jepd_bf16_silu_mul).
 */
AVX512BF16 static void gemm_store_silu_mul(const gemm_job *g, const float *cg, const float *cu, long m0, int rows,
                                           long n, long n1) {
    if (n >= n1) {
        return;
    }
    __mmask16 cols = first16(n1 - n);
    __m512 bg = gemm_bias(g->bias[0], n, cols);
    __m512 bu = gemm_bias(g->bias[1], n, cols);
    for (long r = 0; r < rows && m0 + r < g->M; r++) {
        __m512 gate = widen16((__m256i)_mm512_cvtneps_pbh(_mm512_add_ps(_mm512_load_ps(cg + 16 * r), bg)));
        __m512 up = widen16((__m256i)_mm512_cvtneps_pbh(_mm512_add_ps(_mm512_load_ps(cu + 16 * r), bu)));
        _mm256_mask_storeu_epi16(g->y + (m0 + r) * g->ldy + n, cols, silu_mul16(gate, up));
    }
}

/*
 * The weight block that the next pack will read, fetched into L2 while the AMX units work on this one: the products
 * are compute-bound and the pack is memory-bound, so the read of W then overlaps the products.
 */
typedef struct {
    const char *base; /* the block's first row, at its first k */
    long stride;      /* bytes between rows */
    long rows, bytes; /* rows, bytes per row */
    long r, off;      /* the cursor */
    long perStep;     /* lines per AMX step */
} gemm_prefetch;

static inline void gemm_prefetch_start(gemm_prefetch *p, const uint16_t *w, long K, long n, long rows, long k0, long kw,
                                       long stepsAhead) {
    p->base = (const char *)(w + n * K + k0);
    p->stride = 2 * K;
    p->rows = rows;
    p->bytes = 2 * kw;
    p->r = 0;
    p->off = 0;
    long lines = rows * ((p->bytes + 63) / 64);
    p->perStep = stepsAhead <= 0 ? lines : (lines + stepsAhead - 1) / stepsAhead;
}

static inline void gemm_prefetch_some(gemm_prefetch *p) {
    for (long i = 0; i < p->perStep && p->r < p->rows; i++) {
        _mm_prefetch(p->base + p->r * p->stride + p->off, _MM_HINT_T1);
        p->off += 64;
        if (p->off >= p->bytes) {
            p->off = 0;
            p->r++;
        }
    }
}

/*
 * One k step of 32 rows × 32 outputs: the A tiles at a (their rows stride bytes apart, the second 16 rows half
 * elements on) times the pair of B tiles at b, into the sums in tiles 0-3.
 */
AMX static inline __attribute__((always_inline)) void gemm_step(const uint16_t *a, long half, long stride,
                                                                const uint16_t *b) {
    _tile_loadd(4, a, stride);
    _tile_loadd(6, b, 64);
    _tile_dpbf16ps(0, 4, 6);
    _tile_loadd(7, b + 512, 64);
    _tile_dpbf16ps(1, 4, 7);
    _tile_loadd(5, a + half, stride);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
}

/* The four 16 × 16 tiles of sums of rows m0 .. m0 + 32 and output columns n .. into y (c: the tiles in order). */
AVX512BF16 static void gemm_epilogue(const gemm_job *g, const float *c, long m0, long n, long n1) {
    if (g->mode == GEMM_SILU_MUL) {
        gemm_store_silu_mul(g, c, c + 256, m0, 16, n, n1);
        gemm_store_silu_mul(g, c + 512, c + 768, m0 + 16, 16, n, n1);
    } else {
        gemm_store(g, c, m0, 16, n, n1);
        gemm_store(g, c + 256, m0, 16, n + 16, n1);
        gemm_store(g, c + 512, m0 + 16, 16, n, n1);
        gemm_store(g, c + 768, m0 + 16, 16, n + 16, n1);
    }
}

/*
 * Output columns [n0, n1) of a gemm_job. Each of this thread's blocks of weight rows (GEMM_NC of them: as many
 * columns, or half as many of gate and up each) is packed once and met by every 32 rows of x; sums of a block that
 * spans several k blocks wait in f32 in the thread's scratch. Returns 0, or -1 when memory for the scratch runs out
 * (nothing written then).
 */
AMX AVX512BF16 static int gemm_run(const gemm_job *g, long n0, long n1) {
    long M = g->M, K = g->K, S = (K + 31) / 32;
    int direct = g->ldx > 0;
    long mFull = direct ? M / 32 * 32 : M; /* rows whose A tiles come straight from x's rows */
    gemm_scratch *s = gemm_scratch_for(M, mFull < M ? S * 2048 : 0);
    if (s == NULL) {
        return -1;
    }
    if (mFull < M) { /* the last, short block of rows: its tiles would read past x, so from a copy of its rows */
        gemm_copy_rows(g->xp, g->ldx, M, K, mFull, 0, S, s->last);
    }
    uint16_t tail[1024] __attribute__((aligned(64))); /* the last k step's A tiles of a block of rows, when K % 32 */
    int fused = g->mode == GEMM_SILU_MUL;
    long colsJ = fused ? 16 : 32;       /* output columns per 32 packed weight rows */
    long colsBlock = GEMM_NC / 32 * colsJ;
    float c[4][16][16] __attribute__((aligned(64)));
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 8; t++) {
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    _tile_loadconfig(&cfg);
    long kc = gemm_kc(M);
    int prefetch = kc == GEMM_KC;
    /*
     * The SiLU·mul and GELU epilogues are AVX-512 work heavy enough to run slower on a core whose tiles are configured: with them,
     * the block's sums wait in acc and the epilogue runs after _tile_release (15.3 against 16.1 ms at [1024, 1280] ·
     * 2 × [3420, 1280]ᵀ, 39-41 against 46-47 ms at [512, 2048] · 2 × [11008, 2048]ᵀ); the light ones run at once.
     * With one k block it runs every GEMM_GROUP rows, so that the sums it reads are the ones just written, in a
     * 256 KB ring that stays in L2, not the whole block's (1 MB at 1,024 rows, with the weight block and x's rows
     * beside it in a 2 MB L2): 12.5/12.8/12.5 against 13.0/13.1/13.1 ms at [1024, 1280] · 2 × [3420, 1280]ᵀ.
     */
    int deferred = fused || g->mode == GEMM_GELU;
    for (long nb0 = n0; nb0 < n1; nb0 += colsBlock) {
        long nw = n1 - nb0 < colsBlock ? n1 - nb0 : colsBlock;
        long js = (nw + colsJ - 1) / colsJ;
        const uint16_t *w[2] = {g->w[0] + nb0 * K, g->w[1] + nb0 * K};
        for (long k0 = 0; k0 < K; k0 += kc) {
            long kw = K - k0 < kc ? K - k0 : kc;
            long steps = (kw + 31) / 32;
            int first = k0 == 0, last = k0 + kw >= K;
            /* rows per run of a deferred epilogue; with one k block the sums of a group need no room past it */
            long group = first && last ? GEMM_GROUP : M;
            gemm_pack_w(w, K, fused ? 16 : 32, fused ? 0 : 16, nw, js, k0, kw, kc, s->wp);
            /* the next block of this call: the next k, else the next weight rows (both weights' when fused) */
            gemm_prefetch pf[2];
            long nextN = k0 + kw < K ? nb0 : nb0 + colsBlock, nextK = k0 + kw < K ? k0 + kw : 0;
            long nextCols = !prefetch || nextN >= n1 ? 0 : n1 - nextN < colsBlock ? n1 - nextN : colsBlock;
            long nextKw = K - nextK < kc ? K - nextK : kc, ahead = (M + 31) / 32 * js * steps;
            gemm_prefetch_start(&pf[0], g->w[0], K, nextN, nextCols, nextK, nextKw, ahead);
            gemm_prefetch_start(&pf[1], g->w[1], K, nextN, fused ? nextCols : 0, nextK, nextKw, ahead);
            for (long m0 = 0; m0 < M; m0 += 32) {
                /*
                 * A tiles: packed ones 1 KB apart, their rows 64 bytes apart; x's own rows ldx apart, except the last
                 * short block's (their copy's rows S · 64 bytes apart) and the last k step past K (from tail)
                 */
                const uint16_t *a = g->xp + ((m0 / 32) * S + k0 / 32) * 1024;
                long aStep = 1024, aHalf = 512, aStride = 64, tailStep = -1;
                if (direct && m0 >= mFull) {
                    a = s->last + k0;
                    aStep = 32, aHalf = 16 * 32 * S, aStride = 64 * S;
                } else if (direct) {
                    a = g->xp + m0 * g->ldx + k0;
                    aStep = 32, aHalf = 16 * g->ldx, aStride = 2 * g->ldx;
                    if (last && K % 32 != 0) {
                        tailStep = steps - 1;
                        gemm_copy_rows(g->xp, g->ldx, M, K, m0, K / 32 * 32, 1, tail);
                    }
                }
                /*
                 * x's next 32 rows into L2 while these are multiplied, where the weights' next block is prefetched
                 * too (≥ 768 rows): the tiles read 16 rows far apart, which the hardware's prefetchers follow poorly
                 * (the vision block's qkv product, right after the add·norm that wrote x: 7.3-7.7 against 8.7-9.8 ms
                 * in the model)
                 */
                gemm_prefetch px;
                long nextRows = direct && prefetch && m0 + 32 < mFull ? (mFull - m0 - 32 < 32 ? mFull - m0 - 32 : 32) : 0;
                gemm_prefetch_start(&px, g->xp + (m0 + 32) * g->ldx, g->ldx, 0, nextRows, k0, kw, js * steps);
                long am = m0 % group; /* where these rows' sums wait in acc */
                for (long j = 0; j < js; j++) {
                    float *acc = s->acc + ((am / 32) * (GEMM_NC / 32) + j) * 1024;
                    if (first) {
                        _tile_zero(0);
                        _tile_zero(1);
                        _tile_zero(2);
                        _tile_zero(3);
                    } else {
                        _tile_loadd(0, acc, 64);
                        _tile_loadd(1, acc + 256, 64);
                        _tile_loadd(2, acc + 512, 64);
                        _tile_loadd(3, acc + 768, 64);
                    }
                    const uint16_t *b = s->wp + j * (kc / 32) * 1024;
                    long inPlace = tailStep >= 0 ? tailStep : steps;
                    for (long t = 0; t < inPlace; t++) {
                        gemm_prefetch_some(&pf[0]);
                        gemm_prefetch_some(&pf[1]);
                        gemm_prefetch_some(&px);
                        gemm_step(a + t * aStep, aHalf, aStride, b + t * 1024);
                    }
                    if (tailStep >= 0) {
                        gemm_step(tail, 512, 64, b + tailStep * 1024);
                    }
                    if (last && !deferred) { /* tiles: rows m0 (0, 1), m0 + 16 (2, 3); B half 0 (0, 2), 1 (1, 3) */
                        _tile_stored(0, c[0], 64);
                        _tile_stored(1, c[1], 64);
                        _tile_stored(2, c[2], 64);
                        _tile_stored(3, c[3], 64);
                        gemm_epilogue(g, &c[0][0][0], m0, nb0 + colsJ * j, n1);
                    } else {
                        _tile_stored(0, acc, 64);
                        _tile_stored(1, acc + 256, 64);
                        _tile_stored(2, acc + 512, 64);
                        _tile_stored(3, acc + 768, 64);
                    }
                }
                long g1 = m0 + 32;
                if (last && deferred && (g1 % group == 0 || g1 >= M)) {
                    /* a group's sums are all in acc: its epilogue with the tiles released */
                    _tile_release();
                    for (long r0 = m0 / group * group; r0 < g1; r0 += 32) {
                        long am = r0 % group;
                        for (long j = 0; j < js; j++) {
                            gemm_epilogue(g, s->acc + ((am / 32) * (GEMM_NC / 32) + j) * 1024, r0, nb0 + colsJ * j, n1);
                        }
                    }
                    _tile_loadconfig(&cfg);
                }
            }
        }
    }
    _tile_release();
    return 0;
}

/*
 * y[m, n] = bf16(Σ_k x[m, k] · W[n, k] (+ bias[n])) for m < M and n in [n0, n1); with ldx 0, xp is x packed by
 * jepd_bf16_gemm_pack; else xp is x itself, its rows ldx apart (ldx >= K), its tiles read in place but for the
 * last k step where K % 32 and the last M % 32 rows, which are copied (no tile reads past x's rows or past x). W
 * [N, K] row-major, y's rows ldy apart. Returns 0, or -1 when memory for the scratch runs out.
 */
int jepd_bf16_gemm(const uint16_t *xp, long ldx, long M, long K, const uint16_t *w, const uint16_t *bias, uint16_t *y,
                   long ldy, long n0, long n1) {
    gemm_job g = {xp, ldx, M, K, {w, w}, {bias, NULL}, y, ldy, GEMM_PLAIN};
    return gemm_run(&g, n0, n1);
}

/*
 * y[m, n] = gelu(bf16(x · W[n] + bias[n])), the exact GELU rounded to bf16 (libtorch's _addmm_activation with
 * use_gelu on the CPU: the product rounded, then its GELU kernel in place): the vision mergers' first layer.
 */
int jepd_bf16_gemm_gelu(const uint16_t *xp, long ldx, long M, long K, const uint16_t *w, const uint16_t *bias,
                        uint16_t *y, long ldy, long n0, long n1) {
    gemm_job g = {xp, ldx, M, K, {w, w}, {bias, NULL}, y, ldy, GEMM_GELU};
    return gemm_run(&g, n0, n1);
}

/*
 * y[m, n] = silu(x · G[n] + bg[n]) · (x · U[n] + bu[n]) for n in [n0, n1), rounded as libtorch's ops in bf16: the
 * gated MLP's gate and up products and their SiLU·mul in one pass, without writing gate and up out. G and U [N, K].
 */
int jepd_bf16_gemm_silu_mul(const uint16_t *xp, long ldx, long M, long K, const uint16_t *gw, const uint16_t *gb,
                            const uint16_t *uw, const uint16_t *ub, uint16_t *y, long ldy, long n0, long n1) {
    gemm_job g = {xp, ldx, M, K, {gw, uw}, {gb, ub}, y, ldy, GEMM_SILU_MUL};
    return gemm_run(&g, n0, n1);
}

/* ---- products of many rows on AVX-512 BF16 (no AMX): the same jobs, the same packed weights */

/*
 * Where the CPU has AVX-512 BF16 but no AMX, the jobs above run on vdpbf16ps. Each block of GEMM5_NC weight rows
 * (half of them the gate's and half the up's when fused) is packed kc k at a time by gemm_pack_w, whose pair layout
 * makes one k pair of 16 weight rows one zmm; the block is then met by every GEMM5_MR rows of x, each k pair
 * broadcast from x's own row (x is never copied or packed): 6 rows × 4 vectors = 24 sums in registers per k pair, 4
 * loads of weights (from L1/L2) and 6 broadcasts per 24 products. Sums of a block that spans several k blocks wait in
 * f32 in the thread's scratch (M × 64 of them).
 */
#define GEMM5_NC 64 /* weight rows per packed block: two pair-layout j's of 32 */
#define GEMM5_MR 6  /* rows of x per step */

/* k per packed block for K: all of it up to GEMM5_KMAX, else blocks of GEMM5_KC (the block is GEMM5_NC × kc). */
#define GEMM5_KMAX 4096
#define GEMM5_KC 2048

/*
 * The products the AVX-512 builds of the GEMM and of the causal attention share: for t < n, c[r][v] += bcast(the bf16
 * pair at a + r·ra + t·ta) · (the 16 pairs at b + t·tb + vo[v]), for r < MR and v < NV (offsets in bytes; MR and NV
 * constants where it is inlined, so that the MR · NV sums stay in registers).
 */
AVX512BF16 static inline __attribute__((always_inline)) void bcast_products(__m512 c[][4], int MR, int NV, long n,
                                                                             const void *a, long ra, long ta,
                                                                             const void *b, long tb, const long vo[4]) {
    const char *ab = a, *bb = b;
    for (long t = 0; t < n; t++) {
        __m512bh w[4];
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) {
            w[v] = (__m512bh)_mm512_load_si512((const __m512i *)(bb + t * tb + vo[v]));
        }
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            int32_t pair;
            memcpy(&pair, ab + r * ra + t * ta, 4);
            __m512bh xb = (__m512bh)_mm512_set1_epi32(pair);
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                c[r][v] = _mm512_dpbf16_ps(c[r][v], xb, w[v]);
            }
        }
    }
}

/*
 * Rows m0 .. m0 + MR of x (rows ldx apart, from k0) times the packed block (NJ of its 32-row j's, jStride elements
 * apart) over kw k, added to the sums in acc (rows 64 floats apart) unless first; the sums go back to acc unless
 * last, else through the job's epilogue into y's columns from n (< n1). MR and NJ are constants where it is called,
 * so that the 4 · MR sums stay in registers.
 */
AVX512BF16 static inline __attribute__((always_inline)) void gemm5_step(const gemm_job *g, const uint16_t *x,
                                                                         const uint16_t *wp, long jStride, long kw,
                                                                         float *acc, int first, int last, long m0,
                                                                         long n, long n1, int MR, int NJ) {
    long ldx = g->ldx;
    __m512 c[GEMM5_MR][4];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < 2 * NJ; v++) {
            c[r][v] = first ? _mm512_setzero_ps() : _mm512_loadu_ps(acc + r * 64 + v * 16);
        }
    }
    long pairs = kw / 2;
    const long vo[4] = {0, 1024, 2 * jStride, 2 * jStride + 1024}; /* j's two halves, then the next j's */
    for (long s = 0; 16 * s < pairs; s++) { /* a pair tile: 16 pairs 64 bytes apart */
        bcast_products(c, MR, 2 * NJ, pairs - 16 * s < 16 ? pairs - 16 * s : 16, x + 32 * s, 2 * ldx, 4,
                       wp + s * 1024, 64, vo);
    }
    if (kw & 1) { /* K odd: the last k alone (its pair's second weight is the packing's zero) */
        const uint16_t *b = wp + (pairs >> 4) * 1024 + (pairs & 15) * 32;
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            __m512bh xb = (__m512bh)_mm512_set1_epi32(x[r * ldx + 2 * pairs]);
#pragma GCC unroll 4
            for (int v = 0; v < 2 * NJ; v++) {
                const uint16_t *bv = b + (v >> 1) * jStride + (v & 1) * 512;
                c[r][v] = _mm512_dpbf16_ps(c[r][v], xb, (__m512bh)_mm512_load_si512((const __m512i *)bv));
            }
        }
    }
    if (!last) {
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
#pragma GCC unroll 4
            for (int v = 0; v < 2 * NJ; v++) {
                _mm512_storeu_ps(acc + r * 64 + v * 16, c[r][v]);
            }
        }
        return;
    }
    float t[4][GEMM5_MR][16] __attribute__((aligned(64))); /* vector v's rows, as gemm_store reads a tile */
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < 2 * NJ; v++) {
            _mm512_store_ps(t[v][r], c[r][v]);
        }
    }
    for (int j = 0; j < NJ; j++) {
        if (g->mode == GEMM_SILU_MUL) { /* j's 16 rows of the gate (v = 2j) and of the up (2j + 1) */
            gemm_store_silu_mul(g, t[2 * j][0], t[2 * j + 1][0], m0, MR, n + 16 * j, n1);
        } else { /* j's 32 rows: columns n + 32j .. + 16 (v = 2j), + 16 .. + 32 (2j + 1) */
            gemm_store(g, t[2 * j][0], m0, MR, n + 32 * j, n1);
            gemm_store(g, t[2 * j + 1][0], m0, MR, n + 32 * j + 16, n1);
        }
    }
}

/* gemm5_step with MR and NJ as constants. */
AVX512BF16 static void gemm5_rows(const gemm_job *g, const uint16_t *x, const uint16_t *wp, long jStride, long kw,
                                  float *acc, int first, int last, long m0, long n, long n1, int mr, int nj) {
#define GEMM5_CASE(R)                                                                                                  \
    case R:                                                                                                            \
        if (nj == 2) {                                                                                                 \
            gemm5_step(g, x, wp, jStride, kw, acc, first, last, m0, n, n1, R, 2);                                      \
        } else {                                                                                                       \
            gemm5_step(g, x, wp, jStride, kw, acc, first, last, m0, n, n1, R, 1);                                      \
        }                                                                                                              \
        break;
    switch (mr) {
        GEMM5_CASE(1)
        GEMM5_CASE(2)
        GEMM5_CASE(3)
        GEMM5_CASE(4)
        GEMM5_CASE(5)
        GEMM5_CASE(6)
    }
#undef GEMM5_CASE
}

/* Output columns [n0, n1) of a gemm_job whose x is read in place (ldx > 0), on AVX-512 BF16. */
AVX512BF16 static int gemm5_run(const gemm_job *g, long n0, long n1) {
    long M = g->M, K = g->K;
    gemm_scratch *s = gemm_scratch_for(M, 0); /* its acc holds ≥ M × 256 floats, its wp GEMM_NC × GEMM_KC bf16 */
    if (s == NULL) {
        return -1;
    }
    int fused = g->mode == GEMM_SILU_MUL;
    long colsJ = fused ? 16 : 32; /* output columns per 32 packed weight rows */
    long colsBlock = GEMM5_NC / 32 * colsJ;
    long kc = K <= GEMM5_KMAX ? K : GEMM5_KC;
    long kcr = (kc + 31) / 32 * 32; /* the packed block's k, a whole number of pair tiles */
    for (long nb0 = n0; nb0 < n1; nb0 += colsBlock) {
        long nw = n1 - nb0 < colsBlock ? n1 - nb0 : colsBlock;
        long js = (nw + colsJ - 1) / colsJ;
        const uint16_t *w[2] = {g->w[0] + nb0 * K, g->w[1] + nb0 * K};
        for (long k0 = 0; k0 < K; k0 += kc) {
            long kw = K - k0 < kc ? K - k0 : kc;
            int first = k0 == 0, last = k0 + kw >= K;
            gemm_pack_w(w, K, fused ? 16 : 32, fused ? 0 : 16, nw, js, k0, kw, kcr, s->wp);
            for (long m0 = 0; m0 < M; m0 += GEMM5_MR) {
                int mr = M - m0 < GEMM5_MR ? (int)(M - m0) : GEMM5_MR;
                gemm5_rows(g, g->xp + m0 * g->ldx + k0, s->wp, kcr / 32 * 1024, kw, s->acc + m0 * 64, first, last,
                           m0, nb0, n1, mr, (int)js);
            }
        }
    }
    return 0;
}

/* jepd_bf16_gemm on AVX-512 BF16, for CPUs without AMX: x read in place (ldx ≥ K; no packed x). */
int jepd_bf16_gemm_avx512(const uint16_t *x, long ldx, long M, long K, const uint16_t *w, const uint16_t *bias,
                          uint16_t *y, long ldy, long n0, long n1) {
    gemm_job g = {x, ldx, M, K, {w, w}, {bias, NULL}, y, ldy, GEMM_PLAIN};
    return gemm5_run(&g, n0, n1);
}

/* jepd_bf16_gemm_gelu on AVX-512 BF16 (x in place, ldx ≥ K). */
int jepd_bf16_gemm_gelu_avx512(const uint16_t *x, long ldx, long M, long K, const uint16_t *w, const uint16_t *bias,
                               uint16_t *y, long ldy, long n0, long n1) {
    gemm_job g = {x, ldx, M, K, {w, w}, {bias, NULL}, y, ldy, GEMM_GELU};
    return gemm5_run(&g, n0, n1);
}

/* jepd_bf16_gemm_silu_mul on AVX-512 BF16 (x in place, ldx ≥ K). */
int jepd_bf16_gemm_silu_mul_avx512(const uint16_t *x, long ldx, long M, long K, const uint16_t *gw,
                                   const uint16_t *gb, const uint16_t *uw, const uint16_t *ub, uint16_t *y, long ldy,
                                   long n0, long n1) {
    gemm_job g = {x, ldx, M, K, {gw, uw}, {gb, ub}, y, ldy, GEMM_SILU_MUL};
    return gemm5_run(&g, n0, n1);
}

/* ---- attention within short segments (the vision tower's windows), on AMX tiles */

#define SEG_MAX 256 /* the longest segment this kernel takes */

/* 16 bf16 of each of two rows side by side as 16 pairs (a[e], b[e]): a B tile's row for two keys. */
AVX512BF16 static inline __m512i pair16(const uint16_t *a, const uint16_t *b, __mmask16 m) {
    __m512i lo = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, a));
    __m512i hi = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, b));
    return _mm512_or_si512(lo, _mm512_slli_epi32(hi, 16));
}

static pthread_key_t seg_key;
static pthread_once_t seg_once = PTHREAD_ONCE_INIT;

static void seg_key_init(void) {
    pthread_key_create(&seg_key, free);
}

/* This thread's scratch of `bytes` (the same size every call), kept for its next call; freed when it ends. */
static char *seg_scratch_mem(size_t bytes) {
    pthread_once(&seg_once, seg_key_init);
    char *m = pthread_getspecific(seg_key);
    if (m == NULL) {
        m = aligned_alloc(64, bytes);
        if (m == NULL || pthread_setspecific(seg_key, m) != 0) {
            free(m);
            return NULL;
        }
    }
    return m;
}

typedef struct {
    uint16_t *q;  /* [Lq][dk]: the queries, zero-padded to Lq = ceil16(L) rows and dk = ceil32(d) columns */
    uint32_t *kt; /* B tiles of the keys: (key block jb, e step s): 16 pairs × 16 keys */
    float *s;     /* [Lq][Lk] scores, Lk = ceil32(L) */
    uint16_t *p;  /* [Lq][Lk] the softmax terms in bf16 (zeros past L) */
    uint32_t *vt; /* B tiles of the values: (key step t, e block eb): 16 key pairs × 16 e */
    float *o;     /* a 16 × 16 tile of sums */
    float *sum;   /* [Lq] the softmax sums */
    uint16_t *k;  /* [L][dk]: the rotated keys (with the rotary) */
} seg_scratch;

/*
 * The scores without AMX, from the same B tiles: S[i][16 jb + c] for 4 query rows i0.. and NJ key blocks jb0..,
 * each pair of q broadcast against the tile row of the same pair for 16 keys (vdpbf16ps: the pair's two exact
 * products added into f32, as a tile's row does).
 */
__attribute__((always_inline)) AVX512BF16 static inline void seg_scores4(const seg_scratch *b, long dk, long es,
                                                                         long Lk, long i0, long jb0, const int NJ) {
    __m512 acc[4][4];
    for (int r = 0; r < 4; r++) {
        for (int c = 0; c < NJ; c++) {
            acc[r][c] = _mm512_setzero_ps();
        }
    }
    for (long s = 0; s < es; s++) {
        for (int p = 0; p < 16; p++) {
            __m512i kv[4];
            for (int c = 0; c < NJ; c++) {
                kv[c] = _mm512_load_si512((const __m512i *)(b->kt + ((jb0 + c) * es + s) * 256 + 16 * p));
            }
            for (int r = 0; r < 4; r++) {
                uint32_t pair;
                memcpy(&pair, b->q + (i0 + r) * dk + 32 * s + 2 * p, 4);
                __m512bh qa = (__m512bh)_mm512_set1_epi32((int)pair);
                for (int c = 0; c < NJ; c++) {
                    acc[r][c] = _mm512_dpbf16_ps(acc[r][c], qa, (__m512bh)kv[c]);
                }
            }
        }
    }
    for (int r = 0; r < 4; r++) {
        for (int c = 0; c < NJ; c++) {
            _mm512_storeu_ps(b->s + (i0 + r) * Lk + (jb0 + c) * 16, acc[r][c]);
        }
    }
}

/*
 * out rows i0.. (4 of them, those below L written) for NE blocks of 16 e from eb0: Σ over key pairs of the bf16
 * softmax terms' pair broadcast against the values' tile row, / the row's sum, rounded once.
 */
__attribute__((always_inline)) AVX512BF16 static inline void seg_values4(const seg_scratch *b, long Lk, long eb,
                                                                         long d, long L, long i0, long eb0,
                                                                         const int NE, uint16_t *out, long ots) {
    __m512 acc[4][4];
    for (int r = 0; r < 4; r++) {
        for (int c = 0; c < NE; c++) {
            acc[r][c] = _mm512_setzero_ps();
        }
    }
    for (long t = 0; t < Lk / 32; t++) {
        for (int p = 0; p < 16; p++) {
            __m512i vv[4];
            for (int c = 0; c < NE; c++) {
                vv[c] = _mm512_load_si512((const __m512i *)(b->vt + (t * eb + eb0 + c) * 256 + 16 * p));
            }
            for (int r = 0; r < 4; r++) {
                uint32_t pair;
                memcpy(&pair, b->p + (i0 + r) * Lk + 32 * t + 2 * p, 4);
                __m512bh pa = (__m512bh)_mm512_set1_epi32((int)pair);
                for (int c = 0; c < NE; c++) {
                    acc[r][c] = _mm512_dpbf16_ps(acc[r][c], pa, (__m512bh)vv[c]);
                }
            }
        }
    }
    for (int r = 0; r < 4 && i0 + r < L; r++) {
        __m512 sum = _mm512_set1_ps(b->sum[i0 + r]);
        for (int c = 0; c < NE; c++) {
            long e = 16 * (eb0 + c);
            _mm256_mask_storeu_epi16(out + (i0 + r) * ots + e, first16(d - e), narrow16(_mm512_div_ps(acc[r][c], sum)));
        }
    }
}

/* The scores of all Lq query rows against all Lq / 16 key blocks, without AMX. */
AVX512BF16 static void seg_scores_avx512(const seg_scratch *b, long dk, long es, long Lq, long Lk) {
    long nb = Lq / 16;
    for (long i0 = 0; i0 < Lq; i0 += 4) {
        long jb = 0;
        for (; jb + 4 <= nb; jb += 4) {
            seg_scores4(b, dk, es, Lk, i0, jb, 4);
        }
        switch (nb - jb) {
        case 3: seg_scores4(b, dk, es, Lk, i0, jb, 3); break;
        case 2: seg_scores4(b, dk, es, Lk, i0, jb, 2); break;
        case 1: seg_scores4(b, dk, es, Lk, i0, jb, 1); break;
        default: break;
        }
    }
}

/* The weighted sums of the values for the L rows of a segment, into out (row i at out + i · ots), without AMX. */
AVX512BF16 static void seg_values_avx512(const seg_scratch *b, long Lk, long eb, long d, long L, uint16_t *out,
                                         long ots) {
    for (long i0 = 0; i0 < L; i0 += 4) {
        long e = 0;
        for (; e + 4 <= eb; e += 4) {
            seg_values4(b, Lk, eb, d, L, i0, e, 4, out, ots);
        }
        switch (eb - e) {
        case 3: seg_values4(b, Lk, eb, d, L, i0, e, 3, out, ots); break;
        case 2: seg_values4(b, Lk, eb, d, L, i0, e, 2, out, ots); break;
        case 1: seg_values4(b, Lk, eb, d, L, i0, e, 1, out, ots); break;
        default: break;
        }
    }
}

/*
 * Attention within segments of tokens (the vision tower's windows), head by head, on AMX tiles: for head h and each
 * token i of a segment, out[h, i] = Σ_j softmax_j(scale · q[h, i] · k[h, j]) · v[h, j] over the segment's tokens j.
 * Element (h, t, e) of q is at q + h·qhs + t·qts + e (k and v alike, their own strides; e dense); out is dense
 * [H, N, d]. Numerics as libtorch's CPU flash attention in bf16: scores are sums of exact bf16 products in f32,
 * scaled; the softmax is f32 (the sum of its f32 terms); its terms are rounded to bf16 for the weighted sum of the
 * value rows (f32), which is divided by the sum and rounded once. With cs and sn (else NULL), q and k get the rotary
 * embedding first, as jepd_bf16_rotary computes it, with token t's angles at cs + t·cts and sn + t·sts (shared by
 * the heads): the rotated rows live only in the scratch. out (h, t, e) is at out + h·ohs + t·ots + e. Jobs [j0, j1):
 * job = segment · H + h; segment s is [cu[s], cu[s + 1]), at most SEG_MAX tokens, within [0, N); d at most 128, even
 * with the rotary. Returns 0, -1 when out of memory, -2 for a segment or d outside the kernel's limits.
 */
AMX AVX512BF16 static int segment_attention(const uint16_t *q, long qhs, long qts, const uint16_t *k, long khs,
                                            long kts, const uint16_t *v, long vhs, long vts, const uint16_t *cs,
                                            long cts, const uint16_t *sn, long sts, const int32_t *cu, long H, long d,
                                            float scale, uint16_t *out, long ohs, long ots, long N, long j0, long j1,
                                            int amx) {
    int rotary = cs != NULL && sn != NULL;
    if (d < 1 || d > 128 || (rotary && d % 2 != 0)) {
        return -2;
    }
    long dk = (d + 31) & ~31L;
    size_t need = (size_t)SEG_MAX * 128 * 2 + (size_t)SEG_MAX * 128 * 2 + (size_t)SEG_MAX * SEG_MAX * 4
                  + (size_t)SEG_MAX * SEG_MAX * 2 + (size_t)SEG_MAX * 128 * 2 + 1024 + SEG_MAX * 4
                  + (size_t)SEG_MAX * 128 * 2;
    char *mem = seg_scratch_mem((need + 63) & ~(size_t)63);
    if (mem == NULL) {
        return -1;
    }
    seg_scratch b;
    b.q = (uint16_t *)mem;
    b.kt = (uint32_t *)(mem + (size_t)SEG_MAX * 128 * 2);
    b.s = (float *)((char *)b.kt + (size_t)SEG_MAX * 128 * 2);
    b.p = (uint16_t *)((char *)b.s + (size_t)SEG_MAX * SEG_MAX * 4);
    b.vt = (uint32_t *)((char *)b.p + (size_t)SEG_MAX * SEG_MAX * 2);
    b.o = (float *)((char *)b.vt + (size_t)SEG_MAX * 128 * 2);
    b.sum = b.o + 256;
    b.k = (uint16_t *)(b.sum + SEG_MAX);
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    for (int t = 0; t < 3; t++) { /* 0: C, 1: A, 2: B */
        cfg.colsb[t] = 64;
        cfg.rows[t] = 16;
    }
    int rc = 0;
    for (long job = j0; job < j1; job++) {
        long seg = job / H, h = job % H;
        long s0 = cu[seg], L = cu[seg + 1] - s0;
        if (L < 0 || L > SEG_MAX || s0 < 0 || s0 + L > N) {
            rc = -2;
            break;
        }
        if (L == 0) {
            continue;
        }
        long Lq = (L + 15) & ~15L, Lk = (L + 31) & ~31L, es = dk / 32, eb = (d + 15) / 16;
        const uint16_t *qh = q + h * qhs + s0 * qts, *kh = k + h * khs + s0 * kts, *vh = v + h * vhs + s0 * vts;
        /* queries: rows padded with zeros (rotated with the rotary); keys: B tiles through the pair transpose */
        for (long i = 0; i < Lq; i++) {
            for (long e = 0; e < dk; e += 32) {
                __m512i x = i < L && !rotary ? _mm512_maskz_loadu_epi16(first32(d - e), qh + i * qts + e)
                                             : _mm512_setzero_si512();
                _mm512_store_si512((__m512i *)(b.q + i * dk + e), x);
            }
            if (i < L && rotary) {
                rotary_row(qh + i * qts, cs + (s0 + i) * cts, sn + (s0 + i) * sts, b.q + i * dk, d);
            }
        }
        long kstride = kts;
        if (rotary) {
            for (long j = 0; j < L; j++) {
                rotary_row(kh + j * kts, cs + (s0 + j) * cts, sn + (s0 + j) * sts, b.k + j * dk, d);
            }
            kh = b.k;
            kstride = dk;
        }
        for (long jb = 0; jb < Lq / 16; jb++) {
            for (long s = 0; s < es; s++) {
                __m512i r[16];
                for (int i = 0; i < 16; i++) {
                    long j = 16 * jb + i;
                    r[i] = j < L ? _mm512_maskz_loadu_epi16(first32(d - 32 * s), kh + j * kstride + 32 * s)
                                 : _mm512_setzero_si512();
                }
                transpose16(r);
                uint32_t *t = b.kt + (jb * es + s) * 256;
                for (int p = 0; p < 16; p++) {
                    _mm512_store_si512((__m512i *)(t + 16 * p), r[p]);
                }
            }
        }
        /* values: B tiles of key pairs (zeros past L) */
        for (long t = 0; t < Lk / 32; t++) {
            for (long e = 0; e < eb; e++) {
                uint32_t *tile = b.vt + (t * eb + e) * 256;
                __mmask16 m = first16(d - 16 * e);
                for (int p = 0; p < 16; p++) {
                    long j = 32 * t + 2 * p;
                    __m512i x;
                    if (j + 1 < L) {
                        x = pair16(vh + j * vts + 16 * e, vh + (j + 1) * vts + 16 * e, m);
                    } else if (j < L) {
                        x = _mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, vh + j * vts + 16 * e));
                    } else {
                        x = _mm512_setzero_si512();
                    }
                    _mm512_store_si512((__m512i *)(tile + 16 * p), x);
                }
            }
        }
        /* scores: S[16 queries][16 keys] per tile */
        if (!amx) {
            seg_scores_avx512(&b, dk, es, Lq, Lk);
        } else {
            _tile_loadconfig(&cfg);
            for (long qb = 0; qb < Lq / 16; qb++) {
                for (long jb = 0; jb < Lq / 16; jb++) {
                    _tile_zero(0);
                    for (long s = 0; s < es; s++) {
                        _tile_loadd(1, b.q + qb * 16 * dk + 32 * s, dk * 2);
                        _tile_loadd(2, b.kt + (jb * es + s) * 256, 64);
                        _tile_dpbf16ps(0, 1, 2);
                    }
                    _tile_stored(0, b.s + qb * 16 * Lk + jb * 16, Lk * 4);
                }
            }
            _tile_release();
        }
        /* softmax per query row, f32; the terms in bf16 (zeros past L, and in the padding rows) */
        __m512 sc = _mm512_set1_ps(scale);
        for (long i = 0; i < Lq; i++) {
            float *si = b.s + i * Lk;
            uint16_t *pi = b.p + i * Lk;
            if (i >= L) {
                for (long j = 0; j < Lk; j += 32) {
                    _mm512_store_si512((__m512i *)(pi + j), _mm512_setzero_si512());
                }
                continue;
            }
            __m512 mx = _mm512_set1_ps(-INFINITY);
            for (long j = 0; j < L; j += 16) {
                __m512 x = _mm512_mul_ps(_mm512_loadu_ps(si + j), sc);
                _mm512_storeu_ps(si + j, x);
                mx = _mm512_mask_max_ps(mx, first16(L - j), mx, x);
            }
            __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
            __m512 sum = _mm512_setzero_ps();
            for (long j = 0; j < Lk; j += 16) {
                __mmask16 live = j < L ? first16(L - j) : 0;
                __m512 t = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(_mm512_loadu_ps(si + j), m)));
                sum = _mm512_add_ps(sum, t);
                _mm256_store_si256((__m256i *)(pi + j), narrow16(t));
            }
            b.sum[i] = _mm512_reduce_add_ps(sum);
        }
        /* out[16 queries][16 e] = P · V per tile, / sum, rounded */
        if (!amx) {
            seg_values_avx512(&b, Lk, eb, d, L, out + h * ohs + s0 * ots, ots);
            continue;
        }
        _tile_loadconfig(&cfg);
        for (long qb = 0; qb < Lq / 16; qb++) {
            for (long e = 0; e < eb; e++) {
                _tile_zero(0);
                for (long t = 0; t < Lk / 32; t++) {
                    _tile_loadd(1, b.p + qb * 16 * Lk + 32 * t, Lk * 2);
                    _tile_loadd(2, b.vt + (t * eb + e) * 256, 64);
                    _tile_dpbf16ps(0, 1, 2);
                }
                _tile_stored(0, b.o, 64);
                __mmask16 m = first16(d - 16 * e);
                for (long r = 0; r < 16 && qb * 16 + r < L; r++) {
                    long i = qb * 16 + r;
                    __m512 x = _mm512_div_ps(_mm512_load_ps(b.o + 16 * r), _mm512_set1_ps(b.sum[i]));
                    _mm256_mask_storeu_epi16(out + h * ohs + (s0 + i) * ots + 16 * e, m, narrow16(x));
                }
            }
        }
        _tile_release();
    }
    return rc;
}

/* The kernel above on AMX tiles (the CPU has AMX-BF16 and Linux granted its tiles). */
AMX AVX512BF16 int jepd_bf16_segment_attention(const uint16_t *q, long qhs, long qts, const uint16_t *k, long khs,
                                               long kts, const uint16_t *v, long vhs, long vts, const uint16_t *cs,
                                               long cts, const uint16_t *sn, long sts, const int32_t *cu, long H,
                                               long d, float scale, uint16_t *out, long ohs, long ots, long N, long j0,
                                               long j1) {
    return segment_attention(q, qhs, qts, k, khs, kts, v, vhs, vts, cs, cts, sn, sts, cu, H, d, scale, out, ohs, ots,
                             N, j0, j1, 1);
}

/*
 * The same attention on AVX-512 BF16 alone (AMD's Zen 4 and 5, Intel's Cooper Lake, or AMX turned off): the same
 * tiles in the scratch, their products by vdpbf16ps; no tile instruction runs.
 */
AVX512BF16 int jepd_bf16_segment_attention_avx512(const uint16_t *q, long qhs, long qts, const uint16_t *k, long khs,
                                                  long kts, const uint16_t *v, long vhs, long vts, const uint16_t *cs,
                                                  long cts, const uint16_t *sn, long sts, const int32_t *cu, long H,
                                                  long d, float scale, uint16_t *out, long ohs, long ots, long N,
                                                  long j0, long j1) {
    return segment_attention(q, qhs, qts, k, khs, kts, v, vhs, vts, cs, cts, sn, sts, cu, H, d, scale, out, ohs, ots,
                             N, j0, j1, 0);
}

/* ---- causal attention of a prompt (prefill) over its keys, on AVX-512 BF16 */

/*
 * libtorch 2.7.1's CPU flash attention runs a 512-token causal prefill of 16 heads at ~60 GFLOP/s on the AMD machine
 * of docs/PERF.md (2,048 tokens ~120), where vdpbf16ps does ~900. Here every vector holds 16 queries of one head
 * (lanes are queries throughout), so that the softmax's maximum and sum over keys are vertical (no lane reductions)
 * and neither the keys nor the scores are transposed:
 *   scores S^T[key][query] = Σ pairs bcast(k[key] pair, from k's own row) · Q pairs (the queries packed once a job);
 *   P^T rounded to bf16 and paired over two keys per lane; O^T[e][query] += bcast(V pair of two keys at e) · P pairs
 *   (V packed per block of keys into key pairs).
 * A job is one KV head and 64 queries: its g query heads share each packed block of V, each head keeps its running
 * maximum, sum and O^T (f32) in the thread's scratch. The roundings are libtorch's: the scores in f32 from bf16
 * products, scaled, the terms exp(s - max) in f32, summed in f32 and rounded to bf16 for the product with V (f32
 * sums), the running sums rescaled by exp(max_old - max_new), the result times 1/sum rounded to bf16 once.
 */
#define CA_QB 64 /* queries per job (4 vectors of 16) */
#define CA_KB 64 /* keys per block */

typedef struct {
    uint32_t *qp; /* [g][d/2][4][16]: the queries' pairs, lanes = queries */
    float *ot;    /* [g][d][4][16]: the running O^T */
    float *ml;    /* [g][2][4][16]: the running maximum and sum per query */
    float *st;    /* [CA_KB][4][16]: one block's scores */
    uint32_t *pp; /* [CA_KB/2][4][16]: one block's terms in bf16, two keys per lane */
    uint32_t *vp; /* [CA_KB/2][d]: one block's values, two keys per element */
} ca_scratch;

static pthread_key_t ca_key;
static pthread_once_t ca_once = PTHREAD_ONCE_INIT;

static void ca_key_init(void) {
    pthread_key_create(&ca_key, free);
}

/* This thread's scratch for g heads of d (grown when a call needs more, kept for the next); NULL without memory. */
static int ca_scratch_for(long g, long d, ca_scratch *s) {
    pthread_once(&ca_once, ca_key_init);
    size_t qp = (size_t)g * d * 128, ot = (size_t)g * d * 256, ml = (size_t)g * 512, st = CA_KB * 256,
           pp = CA_KB / 2 * 256, vp = (size_t)CA_KB / 2 * d * 4;
    size_t need = qp + ot + ml + st + pp + vp + 64;
    size_t *m = pthread_getspecific(ca_key);
    if (m == NULL || m[0] < need) {
        free(m);
        pthread_setspecific(ca_key, NULL);
        m = aligned_alloc(64, (need + 63) / 64 * 64);
        if (m == NULL || pthread_setspecific(ca_key, m) != 0) {
            free(m);
            return -1;
        }
        m[0] = need;
    }
    char *p = (char *)m + 64;
    s->qp = (uint32_t *)p;
    s->ot = (float *)(p + qp);
    s->ml = (float *)(p + qp + ot);
    s->st = (float *)(p + qp + ot + ml);
    s->pp = (uint32_t *)(p + qp + ot + ml + st);
    s->vp = (uint32_t *)(p + qp + ot + ml + st + pp);
    return 0;
}

/* Scores of keys j .. j + MR (rows of k, kts apart) against the 64 packed queries qp, into st's rows: MR × 4 sums. */
AVX512BF16 static inline __attribute__((always_inline)) void ca_scores(const uint16_t *k, long kts, const uint32_t *qp,
                                                                        long d, float *st, int MR) {
    __m512 c[6][4];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            c[r][v] = _mm512_setzero_ps();
        }
    }
    static const long vo[4] = {0, 64, 128, 192}; /* the 4 vectors of 16 queries */
    bcast_products(c, MR, 4, d / 2, k, 2 * kts, 4, qp, 256, vo);
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            _mm512_store_ps(st + (r * 4 + v) * 16, c[r][v]);
        }
    }
}

AVX512BF16 static void ca_scores_rows(const uint16_t *k, long kts, const uint32_t *qp, long d, float *st, int mr) {
    switch (mr) {
    case 1: ca_scores(k, kts, qp, d, st, 1); break;
    case 2: ca_scores(k, kts, qp, d, st, 2); break;
    case 3: ca_scores(k, kts, qp, d, st, 3); break;
    case 4: ca_scores(k, kts, qp, d, st, 4); break;
    case 5: ca_scores(k, kts, qp, d, st, 5); break;
    default: ca_scores(k, kts, qp, d, st, 6); break;
    }
}

/*
 * O^T rows e .. e + MR (4 vectors of queries each, at ot) times corr, plus Σ over t < pairs of bcast(vp[t][e + r]) ·
 * pp[t]: MR × 4 sums.
 */
AVX512BF16 static inline __attribute__((always_inline)) void ca_values(float *ot, const __m512 corr[4],
                                                                        const uint32_t *vp, long d, const uint32_t *pp,
                                                                        long pairs, int MR) {
    __m512 c[6][4];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            c[r][v] = _mm512_mul_ps(_mm512_load_ps(ot + (r * 4 + v) * 16), corr[v]);
        }
    }
    static const long vo[4] = {0, 64, 128, 192}; /* the 4 vectors of 16 queries */
    bcast_products(c, MR, 4, pairs, vp, 4, 4 * d, pp, 256, vo);
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
#pragma GCC unroll 4
        for (int v = 0; v < 4; v++) {
            _mm512_store_ps(ot + (r * 4 + v) * 16, c[r][v]);
        }
    }
}

AVX512BF16 static void ca_values_rows(float *ot, const __m512 corr[4], const uint32_t *vp, long d, const uint32_t *pp,
                                      long pairs, int mr) {
    switch (mr) {
    case 1: ca_values(ot, corr, vp, d, pp, pairs, 1); break;
    case 2: ca_values(ot, corr, vp, d, pp, pairs, 2); break;
    case 3: ca_values(ot, corr, vp, d, pp, pairs, 3); break;
    case 4: ca_values(ot, corr, vp, d, pp, pairs, 4); break;
    case 5: ca_values(ot, corr, vp, d, pp, pairs, 5); break;
    default: ca_values(ot, corr, vp, d, pp, pairs, 6); break;
    }
}

/*
 * out[i, h] = softmax_j≤q0+i(q[i, h] · k[j, h / g] · scale) · v[j, h / g] for queries i < n at positions q0 + i and
 * keys j < S (j ≤ q0 + i): H query heads over kvH, g = H / kvH each; q, k, v, out bf16 rows of d (d a multiple of 16,
 * at most 256), head and token strides in elements (each row dense). Jobs j0 .. j1 of kvH · ceil(n / 64): job = KV
 * head · blocks + query block. Returns 0, or -1 when memory for the scratch runs out (nothing written then).
 */
AVX512BF16 int jepd_bf16_causal_attention(const uint16_t *q, long qhs, long qts, const uint16_t *k, long khs, long kts,
                                          const uint16_t *v, long vhs, long vts, long n, long S, long q0, long H,
                                          long kvH, long d, float scale, uint16_t *out, long ohs, long ots, long j0,
                                          long j1) {
    long g = H / kvH, blocks = (n + CA_QB - 1) / CA_QB;
    ca_scratch b;
    if (ca_scratch_for(g, d, &b) != 0) {
        return -1;
    }
    __m512 sc = _mm512_set1_ps(scale);
    for (long job = j0; job < j1; job++) {
        long kh = job / blocks, i0 = job % blocks * CA_QB;
        long rows = n - i0 < CA_QB ? n - i0 : CA_QB;
        long kEnd = q0 + i0 + rows < S ? q0 + i0 + rows : S; /* the last query sees keys < kEnd */
        const uint16_t *kr = k + kh * khs, *vr = v + kh * vhs;
        /* each head's queries as pairs (lanes = queries, zeros past n), its maximum at -inf and sums at 0 */
        for (long hh = 0; hh < g; hh++) {
            const uint16_t *qh = q + (kh * g + hh) * qhs + i0 * qts;
            uint32_t *qp = b.qp + hh * d * 32;
            for (long grp = 0; grp < 4; grp++) {
                for (long s = 0; s < d / 32 + (d % 32 != 0); s++) {
                    __m512i r[16];
                    __mmask32 km = first32(d - 32 * s);
                    for (int i = 0; i < 16; i++) {
                        long row = grp * 16 + i;
                        r[i] = row < rows ? _mm512_maskz_loadu_epi16(km, qh + row * qts + 32 * s)
                                          : _mm512_setzero_si512();
                    }
                    transpose16(r); /* r[p] lane i: the pair 32s + 2p of query row i */
                    for (int p = 0; p < 16 && 16 * s + p < d / 2; p++) {
                        _mm512_store_si512((__m512i *)(qp + ((16 * s + p) * 4 + grp) * 16), r[p]);
                    }
                }
            }
            float *ml = b.ml + hh * 128;
            for (int grp = 0; grp < 4; grp++) {
                _mm512_store_ps(ml + grp * 16, _mm512_set1_ps(-INFINITY));
                _mm512_store_ps(ml + 64 + grp * 16, _mm512_setzero_ps());
            }
            memset(b.ot + hh * d * 64, 0, (size_t)d * 64 * 4);
        }
        for (long kb0 = 0; kb0 < kEnd; kb0 += CA_KB) {
            long kw = kEnd - kb0 < CA_KB ? kEnd - kb0 : CA_KB;
            long pairs = (kw + 1) / 2;
            /* this block's values, two keys per element (zeros past kw) */
            for (long t = 0; t < pairs; t++) {
                const uint16_t *a = vr + (kb0 + 2 * t) * vts, *c = vr + (kb0 + 2 * t + 1) * vts;
                for (long e = 0; e < d; e += 16) {
                    __m512i x = 2 * t + 1 < kw ? pair16(a + e, c + e, 0xFFFF)
                                               : _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(a + e)));
                    _mm512_storeu_si512((__m512i *)(b.vp + t * d + e), x);
                }
            }
            for (long hh = 0; hh < g; hh++) {
                const uint32_t *qp = b.qp + hh * d * 32;
                float *ml = b.ml + hh * 128, *ot = b.ot + hh * d * 64;
                for (long j = 0; j < kw; j += 6) {
                    ca_scores_rows(kr + (kb0 + j) * kts, kts, qp, d, b.st + j * 64, kw - j < 6 ? (int)(kw - j) : 6);
                }
                __m512 corr[4];
                for (int grp = 0; grp < 4; grp++) {
                    /* the queries' positions; key kb0 + j is hidden from a query before it */
                    __m512i pos = _mm512_add_epi32(
                        _mm512_set1_epi32((int)(q0 + i0 + 16 * grp)),
                        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
                    __m512 mx = _mm512_set1_ps(-INFINITY);
                    for (long j = 0; j < kw; j++) {
                        float *s = b.st + (j * 4 + grp) * 16;
                        __mmask16 live = _mm512_cmp_epi32_mask(_mm512_set1_epi32((int)(kb0 + j)), pos, _MM_CMPINT_LE);
                        __m512 x = _mm512_mask_mov_ps(_mm512_set1_ps(-INFINITY), live,
                                                      _mm512_mul_ps(_mm512_load_ps(s), sc));
                        _mm512_store_ps(s, x);
                        mx = _mm512_max_ps(mx, x);
                    }
                    __m512 mOld = _mm512_load_ps(ml + grp * 16);
                    __m512 mNew = _mm512_max_ps(mOld, mx);
                    /* lanes that have seen no key yet keep 0 sums: their factor is 0, never NaN */
                    __mmask16 seen = _mm512_cmp_ps_mask(mOld, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
                    corr[grp] = _mm512_maskz_mov_ps(seen, exp16(_mm512_sub_ps(mOld, mNew)));
                    __mmask16 any = _mm512_cmp_ps_mask(mNew, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
                    __m512 sum = _mm512_setzero_ps();
                    for (long t = 0; t < CA_KB / 2; t++) {
                        __m256i lo = _mm256_setzero_si256(), hi = _mm256_setzero_si256();
                        for (int u = 0; u < 2; u++) {
                            long j = 2 * t + u;
                            if (j >= kw) {
                                continue;
                            }
                            __m512 x = _mm512_load_ps(b.st + (j * 4 + grp) * 16);
                            __mmask16 live = any & _mm512_cmp_ps_mask(x, _mm512_set1_ps(-INFINITY), _CMP_NEQ_OQ);
                            __m512 p = _mm512_maskz_mov_ps(live, exp16(_mm512_sub_ps(x, mNew)));
                            sum = _mm512_add_ps(sum, p);
                            if (u == 0) {
                                lo = narrow16(p);
                            } else {
                                hi = narrow16(p);
                            }
                        }
                        if (2 * t < kw) {
                            __m512i pr = _mm512_or_si512(_mm512_cvtepu16_epi32(lo),
                                                         _mm512_slli_epi32(_mm512_cvtepu16_epi32(hi), 16));
                            _mm512_store_si512((__m512i *)(b.pp + (t * 4 + grp) * 16), pr);
                        }
                    }
                    _mm512_store_ps(ml + grp * 16, mNew);
                    _mm512_store_ps(ml + 64 + grp * 16,
                                    _mm512_add_ps(_mm512_mul_ps(_mm512_load_ps(ml + 64 + grp * 16), corr[grp]), sum));
                }
                for (long e = 0; e < d; e += 6) {
                    ca_values_rows(ot + e * 64, corr, b.vp + e, d, b.pp, pairs, d - e < 6 ? (int)(d - e) : 6);
                }
            }
        }
        /* out = O^T · (1 / sum), transposed back to rows, rounded once */
        for (long hh = 0; hh < g; hh++) {
            const float *ot = b.ot + hh * d * 64, *ml = b.ml + hh * 128;
            uint16_t *oh = out + (kh * g + hh) * ohs + i0 * ots;
            for (int grp = 0; grp < 4 && 16 * grp < rows; grp++) {
                __m512 inv = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_load_ps(ml + 64 + grp * 16));
                for (long e0 = 0; e0 < d; e0 += 16) {
                    __m512i r[16];
                    for (int e = 0; e < 16; e++) {
                        r[e] = _mm512_castps_si512(_mm512_mul_ps(_mm512_load_ps(ot + ((e0 + e) * 4 + grp) * 16), inv));
                    }
                    transpose16(r); /* r[i] lane e: query grp · 16 + i, element e0 + e */
                    for (int i = 0; i < 16 && 16 * grp + i < rows; i++) {
                        _mm256_storeu_si256((__m256i *)(oh + (16 * grp + i) * ots + e0),
                                            narrow16(_mm512_castsi512_ps(r[i])));
                    }
                }
            }
        }
    }
    return 0;
}
