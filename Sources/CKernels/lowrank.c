/* The rank-r products of LoRA/DoRA whose output is (rows, r) with r small: u = x Aᵀ (forward) and
   du = dy B (backward, with B transposed to (r, out) first). As a GEMM each is a tall, skinny output
   with a long reduction: OpenBLAS runs them at 4–45 GFLOP/s (anchors) and its small-matrix kernel
   for SkylakeX/Cooperlake even calls malloc on every call. Here each output is a dot product of a
   row of X with a row of W; two rows of X against four rows of W share every load, in 16-float
   lanes that the compiler maps to one AVX-512 register (or two AVX2, four SSE). */
#include "ckernels.h"

#define LANES 16

/* c[j] = alpha · Σ_k x0[k] w_j[k] (and the same for x1 into d) for j in [j0, j0 + 4). */
static inline __attribute__((always_inline)) void dot_2x4(const float *restrict x0, const float *restrict x1,
                                                          const float *restrict w, size_t K, float alpha,
                                                          float *restrict c, float *restrict d) {
  const float *w0 = w, *w1 = w + K, *w2 = w + 2 * K, *w3 = w + 3 * K;
  float a0[LANES] = {0}, a1[LANES] = {0}, a2[LANES] = {0}, a3[LANES] = {0};
  float b0[LANES] = {0}, b1[LANES] = {0}, b2[LANES] = {0}, b3[LANES] = {0};
  size_t k = 0;
  for (; k + LANES <= K; k += LANES) {
    for (int l = 0; l < LANES; l++) {
      float u = x0[k + l], v = x1[k + l];
      float p = w0[k + l], q = w1[k + l], r = w2[k + l], s = w3[k + l];
      a0[l] += u * p; a1[l] += u * q; a2[l] += u * r; a3[l] += u * s;
      b0[l] += v * p; b1[l] += v * q; b2[l] += v * r; b3[l] += v * s;
    }
  }
  float sa[4] = {0}, sb[4] = {0};
  for (int l = 0; l < LANES; l++) {
    sa[0] += a0[l]; sa[1] += a1[l]; sa[2] += a2[l]; sa[3] += a3[l];
    sb[0] += b0[l]; sb[1] += b1[l]; sb[2] += b2[l]; sb[3] += b3[l];
  }
  for (; k < K; k++) {
    sa[0] += x0[k] * w0[k]; sa[1] += x0[k] * w1[k]; sa[2] += x0[k] * w2[k]; sa[3] += x0[k] * w3[k];
    sb[0] += x1[k] * w0[k]; sb[1] += x1[k] * w1[k]; sb[2] += x1[k] * w2[k]; sb[3] += x1[k] * w3[k];
  }
  for (int j = 0; j < 4; j++) { c[j] = alpha * sa[j]; d[j] = alpha * sb[j]; }
}

static inline __attribute__((always_inline)) float dot_1(const float *restrict x, const float *restrict w, size_t K) {
  float a[LANES] = {0};
  size_t k = 0;
  for (; k + LANES <= K; k += LANES)
    for (int l = 0; l < LANES; l++) a[l] += x[k + l] * w[k + l];
  float s = 0;
  for (int l = 0; l < LANES; l++) s += a[l];
  for (; k < K; k++) s += x[k] * w[k];
  return s;
}

LB_HOT void lb_rank_product(float *restrict C, size_t ldc, const float *restrict X, size_t ldx, const float *restrict W,
                            size_t rows, size_t r, size_t K, float alpha) {
  size_t n = 0;
  for (; n + 2 <= rows; n += 2) {
    const float *x0 = X + n * ldx, *x1 = x0 + ldx;
    float *c = C + n * ldc, *d = c + ldc;
    size_t j = 0;
    for (; j + 4 <= r; j += 4) dot_2x4(x0, x1, W + j * K, K, alpha, c + j, d + j);
    for (; j < r; j++) { c[j] = alpha * dot_1(x0, W + j * K, K); d[j] = alpha * dot_1(x1, W + j * K, K); }
  }
  for (; n < rows; n++) {
    const float *x = X + n * ldx;
    float *c = C + n * ldc;
    for (size_t j = 0; j < r; j++) c[j] = alpha * dot_1(x, W + j * K, K);
  }
}
