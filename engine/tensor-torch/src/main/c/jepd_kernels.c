/*
 * JEPD's own CPU kernels, called through Panama (dev.jepd.tensor.torch.Bf16Amx); built by build.sh when the
 * module is packaged. No function here touches an instruction the CPU lacks before jepd_kernels_caps() has said
 * it has it: only the kernels are compiled for AMX, through function attributes, and the file itself for x86-64.
 *
 * Two kernels: y = x · Wᵀ (+ b) in bf16 for 2..16 rows of x, the products of a batched decode step, on AMX tiles;
 * and the decode attention of a batch over the paged KV cache in AVX-512 (at the end of this file).
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

/* ---- decode attention */

/* e^x for x <= 0 (softmax's shifted scores): 2^n · p(r), r = x - n·ln 2 in [-ln2/2, ln2/2], p of degree 6. */
AVX512BF16 static inline __m512 exp_neg(__m512 x) {
    x = _mm512_max_ps(x, _mm512_set1_ps(-104.0f)); /* e^-104 is below the smallest f32: scalef gives 0 */
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
 * Decode attention of sequences b with KV heads kh, for jobs j = b · kvH + kh in [job0, job1): the g = H / kvH
 * query heads of KV head kh attend to sequence b's first lengths[b] cache slots, slots[b · S + t], t < lengths[b].
 * q and out are [B, H, d]; each cache is [slots, kvH, d], dense. Scores q · k are sums of exact bf16 products in
 * f32, scaled; softmax in f32; the probabilities weight V in f32; out is rounded once to bf16. Returns 0, or -1 when
 * the scratch cannot be had.
 */
AVX512BF16 int jepd_bf16_decode_attention(const uint16_t *q, const uint16_t *kc, const uint16_t *vc,
                                          const int64_t *slots, const int32_t *lengths, long S, long H, long kvH,
                                          long d, float scale, uint16_t *out, long job0, long job1) {
    long g = H / kvH;
    long dv = (d + 15) / 16; /* f32 vectors per row */
    float *scores = malloc(sizeof(float) * (size_t)(g * S + g * dv * 16 + dv * 16));
    if (scores == NULL) {
        return -1;
    }
    float *acc = scores + g * S;     /* [g][dv · 16] */
    float *vrow = acc + g * dv * 16; /* one V row widened */
    for (long job = job0; job < job1; job++) {
        long b = job / kvH, kh = job % kvH;
        long len = lengths[b];
        const int64_t *sl = slots + b * S;
        const uint16_t *qb = q + (b * H + kh * g) * d;
        /* scores[h][t] = scale · q_h · k_t */
        for (long t = 0; t < len; t++) {
            const uint16_t *k = kc + (sl[t] * kvH + kh) * d;
            for (long h = 0; h < g; h++) {
                const uint16_t *qh = qb + h * d;
                __m512 s = _mm512_setzero_ps();
                for (long e = 0; e < d; e += 32) {
                    __mmask32 m = first32(d - e);
                    s = _mm512_dpbf16_ps(s, (__m512bh)_mm512_maskz_loadu_epi16(m, qh + e),
                                         (__m512bh)_mm512_maskz_loadu_epi16(m, k + e));
                }
                scores[h * S + t] = _mm512_reduce_add_ps(s) * scale;
            }
        }
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
                __m512 p = exp_neg(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, sh + t), max));
                sum = _mm512_mask_add_ps(sum, m, sum, p);
                _mm512_mask_storeu_ps(sh + t, m, p);
            }
            sums[h] = _mm512_reduce_add_ps(sum);
        }
        /* acc[h] = Σ_t p[h][t] · v_t, each V row widened once */
        memset(acc, 0, sizeof(float) * (size_t)(g * dv * 16));
        for (long t = 0; t < len; t++) {
            const uint16_t *v = vc + (sl[t] * kvH + kh) * d;
            for (long e = 0; e < dv * 16; e += 16) {
                __m256i h16 = _mm256_maskz_loadu_epi16(first16(d - e), v + e);
                _mm512_storeu_ps(vrow + e, _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h16), 16)));
            }
            for (long h = 0; h < g; h++) {
                __m512 p = _mm512_set1_ps(scores[h * S + t]);
                float *ah = acc + h * dv * 16;
                for (long e = 0; e < dv * 16; e += 16) {
                    _mm512_storeu_ps(ah + e, _mm512_fmadd_ps(p, _mm512_loadu_ps(vrow + e), _mm512_loadu_ps(ah + e)));
                }
            }
        }
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
