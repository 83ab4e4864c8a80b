/* Backward and training kernels: LayerNorm, GELU, softmax, bias sums, counter-based dropout, AdamW.
   Each is written row- or element-wise so that callers can split rows across threads; column
   reductions (parameter gradients) take a column range so that threads own disjoint columns and the
   result does not depend on the thread count. */
#include "ckernels.h"
#include <string.h>
#include <math.h>
#include <stdint.h>
#include "approx.h"

LB_HOT void lb_layernorm_backward(float *restrict dx, const float *restrict dy, const float *restrict x,
                           const float *restrict mean, const float *restrict rstd,
                           const float *restrict gamma, size_t rows, size_t C, int accumulate) {
  /* xhat = (x - mean) rstd; g = dy * gamma;
     dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) */
  for (size_t r = 0; r < rows; r++) {
    const float *dyr = dy + r * C, *xr = x + r * C;
    float *dxr = dx + r * C;
    float m = mean[r], rs = rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (size_t c = 0; c < C; c++) {
      float g = dyr[c] * gamma[c];
      float xh = (xr[c] - m) * rs;
      sg += g;
      sgx += g * xh;
    }
    sg /= (float)C;
    sgx /= (float)C;
    if (accumulate) {
      for (size_t c = 0; c < C; c++) dxr[c] += rs * (dyr[c] * gamma[c] - sg - (xr[c] - m) * rs * sgx);
    } else {
      for (size_t c = 0; c < C; c++) dxr[c] = rs * (dyr[c] * gamma[c] - sg - (xr[c] - m) * rs * sgx);
    }
  }
}

LB_HOT void lb_layernorm_param_grads(float *restrict dgamma, float *restrict dbeta, const float *restrict dy,
                              const float *restrict x, const float *restrict mean,
                              const float *restrict rstd, size_t rows, size_t C, size_t c0, size_t c1) {
  for (size_t r = 0; r < rows; r++) {
    const float *dyr = dy + r * C, *xr = x + r * C;
    float m = mean[r], rs = rstd[r];
    if (dgamma) for (size_t c = c0; c < c1; c++) dgamma[c] += dyr[c] * (xr[c] - m) * rs;
    if (dbeta) for (size_t c = c0; c < c1; c++) dbeta[c] += dyr[c];
  }
}

LB_HOT void lb_gelu_backward(float *restrict dpre, const float *restrict dact, const float *restrict pre, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float x = pre[i];
    float cdf = 0.5f * (1.0f + erf_approx(x * 0.70710678118654752f));
    float pdf = 0.39894228040143268f * exp_approx(-0.5f * x * x);
    dpre[i] = dact[i] * (cdf + x * pdf);
  }
}

LB_HOT void lb_gelu_backward_bf16(float *restrict dpre, const float *restrict dact, const uint16_t *restrict pre, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)pre[i] << 16;
    float x;
    memcpy(&x, &u, 4);
    float cdf = 0.5f * (1.0f + erf_approx(x * 0.70710678118654752f));
    float pdf = 0.39894228040143268f * exp_approx(-0.5f * x * x);
    dpre[i] = dact[i] * (cdf + x * pdf);
  }
}

LB_HOT void lb_softmax_backward(float *dS, const float *P, const float *dP, size_t rows, size_t L, float scale) {
  for (size_t r = 0; r < rows; r++) {
    const float *pr = P + r * L, *dpr = dP + r * L;
    float *dsr = dS + r * L;
    float dot = 0.0f;
    for (size_t c = 0; c < L; c++) dot += dpr[c] * pr[c];
    for (size_t c = 0; c < L; c++) dsr[c] = scale * pr[c] * (dpr[c] - dot);
  }
}

LB_HOT void lb_column_sums(float *restrict db, const float *restrict dy, size_t rows, size_t ld, size_t c0, size_t c1) {
  for (size_t r = 0; r < rows; r++) {
    const float *row = dy + r * ld;
    for (size_t c = c0; c < c1; c++) db[c] += row[c];
  }
}

/* SplitMix64 finaliser of (seed, index): a counter-based generator, so a mask element depends only on
   where it is, never on the order or the thread that computes it. */
static inline float uniform01(uint64_t seed, uint64_t index) {
  uint64_t z = seed + (index + 1) * 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return (float)(z >> 40) * (1.0f / 16777216.0f);
}

LB_HOT void lb_dropout(float *y, const float *x, size_t n, size_t i0, float p, unsigned long long seed) {
  float keep = 1.0f / (1.0f - p);
  for (size_t i = 0; i < n; i++) y[i] = uniform01(seed, i0 + i) >= p ? x[i] * keep : 0.0f;
}

LB_HOT void lb_dropout_backward_kept(float *dy, const float *kept, size_t n, float p) {
  float keep = 1.0f / (1.0f - p);
  for (size_t i = 0; i < n; i++) dy[i] = kept[i] != 0.0f ? dy[i] * keep : 0.0f;
}

LB_HOT void lb_bias_dropout(float *y, const float *bias, size_t rows, size_t cols, size_t row0, float p,
                     unsigned long long seed) {
  float keep = 1.0f / (1.0f - p);
  for (size_t r = 0; r < rows; r++) {
    float *yr = y + r * cols;
    size_t base = (row0 + r) * cols;
    for (size_t c = 0; c < cols; c++) {
      float v = yr[c] + (bias ? bias[c] : 0.0f);
      yr[c] = uniform01(seed, base + c) >= p ? v * keep : 0.0f;
    }
  }
}

LB_HOT void lb_adamw(float *restrict p, const float *restrict g, float *restrict m, float *restrict v, size_t n,
              float lr, float beta1, float beta2, float eps, float wd, float bc1, float bc2) {
  /* torch.optim.AdamW: p *= 1 - lr wd; m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
     p -= lr (m / bc1) / (sqrt(v / bc2) + eps), with bc = 1 - beta^t. */
  float decay = 1.0f - lr * wd;
  for (size_t i = 0; i < n; i++) {
    float gi = g[i];
    float mi = beta1 * m[i] + (1.0f - beta1) * gi;
    float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    p[i] = p[i] * decay - lr * (mi / bc1) / (sqrtf(vi / bc2) + eps);
  }
}

void lb_scale_columns(float *restrict y, const float *restrict scale, size_t rows, size_t cols, size_t ld) {
  for (size_t r = 0; r < rows; r++) {
    float *yr = y + r * ld;
    for (size_t c = 0; c < cols; c++) yr[c] *= scale[c];
  }
}
