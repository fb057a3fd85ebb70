/* The CPU's fp32 peak, one core: twelve independent chains of 256-bit fused multiply-adds (AVX2 + FMA), enough
 * to keep both FMA pipes of a core busy whatever their latency. Run one process per core for the machine's peak:
 *
 *     gcc -O2 -mavx2 -mfma scripts/fp32_peak.c -o /tmp/fp32_peak
 *     (/tmp/fp32_peak & /tmp/fp32_peak & wait)
 *
 * Each prints its seconds and GFLOP/s (an FMA counts as 2 FLOP a lane). docs/benchmark.md quotes it. */
#include <immintrin.h>
#include <stdio.h>
#include <time.h>

#define FMA(a) a = _mm256_fmadd_ps(a, m, c)

int main(void) {
    const long iters = 400000000L;
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-7f);
    __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3);
    __m256 a4 = _mm256_set1_ps(4), a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7);
    __m256 a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9), a10 = _mm256_set1_ps(10), a11 = _mm256_set1_ps(11);
    struct timespec start, end;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (long k = 0; k < iters; k++) {
        FMA(a0); FMA(a1); FMA(a2); FMA(a3); FMA(a4); FMA(a5);
        FMA(a6); FMA(a7); FMA(a8); FMA(a9); FMA(a10); FMA(a11);
    }
    clock_gettime(CLOCK_MONOTONIC, &end);
    double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) * 1e-9;
    /* the chains' sum, printed, keeps the compiler from dropping the loop */
    __m256 sum = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
                               _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
    sum = _mm256_add_ps(sum, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
    printf("%.3f s, %.1f GFLOP/s (checksum %g)\n", seconds, iters * 12.0 * 8 * 2 / seconds / 1e9, (double)sum[0]);
    return 0;
}
