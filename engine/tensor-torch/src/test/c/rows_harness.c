/*
 * Not a test: a C harness over jepd_bf16_linear_rows_avx512 (the few-row products of the AVX-512 BF16 build), as
 * Bf16Amx calls it but without the JVM: x packed once, the weight rows split between the OpenMP threads in halves,
 * a ring of R distinct [N, K] matrices so that the weights come from memory (R = 1 and REP > 1: from the caches),
 * seven rounds, the best and the mean of the last five in GFLOP/s, then the first rows checked against sums in
 * doubles (bf16 inputs, one rounding of the sum plus the bias). The numbers in docs/PERF.md come from it.
 *
 *   gcc -O3 -std=gnu11 -fopenmp -I src/main/c -o /tmp/rows_harness src/test/c/rows_harness.c -lm
 *   OMP_NUM_THREADS=2 /tmp/rows_harness M N K R [REP]       # e.g. 32 11008 2048 12, or 32 151936 2048 1
 */
#include "jepd_kernels.c"
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static uint16_t rnd(unsigned *s) {
    *s = *s * 1103515245u + 12345u;
    return narrow(((int)((*s >> 8) & 0xFFFF) - 32768) / 32768.0f);
}

int main(int argc, char **argv) {
    if (argc < 5) {
        fprintf(stderr, "usage: %s M N K R [REP]\n", argv[0]);
        return 2;
    }
    int M = atoi(argv[1]), R = atoi(argv[4]), REP = argc > 5 ? atoi(argv[5]) : 1;
    long N = atol(argv[2]), K = atol(argv[3]);
    unsigned seed = 1;
    uint16_t **ws = malloc(R * sizeof *ws);
    for (int r = 0; r < R; r++) {
        ws[r] = aligned_alloc(64, (N * K * 2 + 63) / 64 * 64);
        for (long i = 0; i < N * K; i++) {
            ws[r][i] = rnd(&seed);
        }
    }
    uint16_t *x = malloc(M * K * 2), *bias = malloc(N * 2), *y = malloc(M * N * 2);
    uint16_t *xr = aligned_alloc(64, (jepd_bf16_packed_rows_bytes(M, K) + 63) / 64 * 64);
    for (long i = 0; i < M * K; i++) {
        x[i] = rnd(&seed);
    }
    for (long i = 0; i < N; i++) {
        bias[i] = rnd(&seed);
    }
    jepd_bf16_pack_rows(x, K, M, K, xr);
    double best = 0, sum = 0;
    for (int round = 0; round < 7; round++) {
        double t0 = now();
        for (int q = 0; q < REP; q++) {
            for (int r = 0; r < R; r++) {
#pragma omp parallel
                {
                    int t = omp_get_thread_num(), n = omp_get_num_threads();
                    long per = (N / n + 5) / 6 * 6, a = t * per, b = a + per < N ? a + per : N;
                    if (a < b) {
                        jepd_bf16_linear_rows_avx512(ws[r], K, xr, M, bias, y, N, a, b);
                    }
                }
            }
        }
        double g = 2.0 * M * N * K * R * REP / (now() - t0) / 1e9;
        best = g > best ? g : best;
        sum += round >= 2 ? g : 0;
    }
    const uint16_t *w = ws[R - 1];
    long bad = 0, checked = 0;
    for (long m = 0; m < M && m < 4; m++) {
        for (long n = 0; n < N && n < 4096; n++) {
            double s = widen(bias[n]);
            for (long k = 0; k < K; k++) {
                s += (double)widen(x[m * K + k]) * widen(w[n * K + k]);
            }
            double ref = widen(narrow((float)s)), got = widen(y[m * N + n]);
            bad += fabs(got - ref) > fabs(ref) / 128 + 1e-3;
            checked++;
        }
    }
    printf("M=%d N=%ld K=%ld R=%d REP=%d: best %.1f, mean %.1f GFLOP/s; checked %ld, bad %ld\n", M, N, K, R, REP, best,
           sum / 5, checked, bad);
    return bad != 0;
}
