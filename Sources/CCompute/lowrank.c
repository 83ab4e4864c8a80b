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

/* The reductions over the tokens: C[j, k] += alpha · Σ_n P[n, j] X[n, k] for j < r, k in [k0, k1)
   (dA += duᵀ x̃: P = du, X = x̃; dB += s dyᵀ u, stored transposed: P = u, X = dy). A block of 4 rows
   of C by 64 columns stays in registers while every token streams past; the workers split the
   columns, so no two write the same output. */
#define COLS 64

static inline __attribute__((always_inline)) void store(float *C, size_t ldc, int transposed, size_t j, size_t k, float v) {
  if (transposed) C[k * ldc + j] += v; else C[j * ldc + k] += v;
}

/* One row j of C over w ≤ COLS columns from kb: the ranks left over from the 4-row blocks, and the
   last columns. */
static inline __attribute__((always_inline)) void accumulate_row(float *restrict C, size_t ldc, int transposed,
                                                                 const float *restrict P, size_t ldp, const float *restrict X,
                                                                 size_t ldx, size_t rows, size_t j, size_t kb, size_t w,
                                                                 float alpha) {
  float a[COLS] = {0};
  for (size_t n = 0; n < rows; n++) {
    const float *x = X + n * ldx + kb;
    float pj = P[n * ldp + j];
    for (size_t l = 0; l < w; l++) a[l] += pj * x[l];
  }
  for (size_t l = 0; l < w; l++) store(C, ldc, transposed, j, kb + l, alpha * a[l]);
}

LB_HOT void lb_rank_accumulate(float *restrict C, size_t ldc, int transposed, const float *restrict P, size_t ldp,
                               const float *restrict X, size_t ldx, size_t rows, size_t r, size_t k0, size_t k1,
                               float alpha) {
  size_t kb = k0;
  for (; kb + COLS <= k1; kb += COLS) {
    size_t j = 0;
    for (; j + 4 <= r; j += 4) {
      float a0[COLS] = {0}, a1[COLS] = {0}, a2[COLS] = {0}, a3[COLS] = {0};
      for (size_t n = 0; n < rows; n++) {
        const float *x = X + n * ldx + kb, *p = P + n * ldp + j;
        float p0 = p[0], p1 = p[1], p2 = p[2], p3 = p[3];
        for (int l = 0; l < COLS; l++) {
          float v = x[l];
          a0[l] += p0 * v; a1[l] += p1 * v; a2[l] += p2 * v; a3[l] += p3 * v;
        }
      }
      for (int l = 0; l < COLS; l++) {
        store(C, ldc, transposed, j, kb + l, alpha * a0[l]); store(C, ldc, transposed, j + 1, kb + l, alpha * a1[l]);
        store(C, ldc, transposed, j + 2, kb + l, alpha * a2[l]); store(C, ldc, transposed, j + 3, kb + l, alpha * a3[l]);
      }
    }
    for (; j < r; j++) accumulate_row(C, ldc, transposed, P, ldp, X, ldx, rows, j, kb, COLS, alpha);
  }
  if (kb < k1) /* the last columns, fewer than COLS */
    for (size_t j = 0; j < r; j++) accumulate_row(C, ldc, transposed, P, ldp, X, ldx, rows, j, kb, k1 - kb, alpha);
}
