/* Element-wise kernels of the BERT forward pass, written so that clang vectorises them at -O3:
   no branches in the inner loops, no libm calls (exp and erf are polynomials). */
#include "ckernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "approx.h"

LB_HOT void lb_exp(float *restrict y, const float *restrict x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = exp_approx(x[i]);
}

LB_HOT void lb_gelu(float *restrict y, const float *restrict x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = 0.5f * v * (1.0f + erf_approx(v * 0.70710678118654752f));
  }
}

LB_HOT void lb_bias_gelu(float *restrict pre, float *restrict act, const float *restrict bias, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++) {
    float *p = pre + r * cols, *a = act + r * cols;
    for (size_t c = 0; c < cols; c++) {
      float v = p[c] + bias[c];
      p[c] = v;
      a[c] = 0.5f * v * (1.0f + erf_approx(v * 0.70710678118654752f));
    }
  }
}

LB_HOT void lb_bias_gelu_bf16(float *restrict x, uint16_t *restrict pre_half, uint16_t *restrict act_half,
                       const float *restrict bias, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++) {
    float *p = x + r * cols;
    for (size_t c = 0; c < cols; c++) p[c] += bias[c];
    lb_f32_to_bf16(pre_half + r * cols, p, cols);
    for (size_t c = 0; c < cols; c++) p[c] = 0.5f * p[c] * (1.0f + erf_approx(p[c] * 0.70710678118654752f));
    lb_f32_to_bf16(act_half + r * cols, p, cols);
  }
}

void lb_tanh(float *restrict y, const float *restrict x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = tanhf(x[i]);
}

void lb_add_bias(float *restrict out, const float *restrict bias, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++) {
    float *o = out + r * cols;
    for (size_t c = 0; c < cols; c++) o[c] += bias[c];
  }
}

LB_HOT void lb_softmax_rows(float *x, size_t rows, size_t cols, size_t ld, size_t valid) {
  for (size_t r = 0; r < rows; r++) {
    float *row = x + r * ld;
    float mx = -INFINITY;
    for (size_t c = 0; c < valid; c++) mx = row[c] > mx ? row[c] : mx;
    float sum = 0.0f;
    for (size_t c = 0; c < valid; c++) {
      float e = exp_approx(row[c] - mx);
      row[c] = e;
      sum += e;
    }
    float inv = 1.0f / sum;
    for (size_t c = 0; c < valid; c++) row[c] *= inv;
    for (size_t c = valid; c < cols; c++) row[c] = 0.0f;
  }
}

LB_HOT void lb_layernorm(float *restrict y, float *restrict x, const float *restrict residual,
                  const float *restrict bias, const float *restrict gamma,
                  const float *restrict beta, float *restrict mean, float *restrict rstd,
                  size_t rows, size_t C, float eps) {
  for (size_t r = 0; r < rows; r++) {
    float *xr = x + r * C;
    if (residual) {
      const float *rr = residual + r * C;
      if (bias) for (size_t c = 0; c < C; c++) xr[c] += rr[c] + bias[c];
      else for (size_t c = 0; c < C; c++) xr[c] += rr[c];
    } else if (bias) {
      for (size_t c = 0; c < C; c++) xr[c] += bias[c];
    }
    float s = 0.0f;
    for (size_t c = 0; c < C; c++) s += xr[c];
    float m = s / (float)C;
    float v = 0.0f;
    for (size_t c = 0; c < C; c++) { float d = xr[c] - m; v += d * d; }
    float rs = 1.0f / sqrtf(v / (float)C + eps);
    float *yr = y + r * C;
    for (size_t c = 0; c < C; c++) yr[c] = (xr[c] - m) * rs * gamma[c] + beta[c];
    if (mean) mean[r] = m;
    if (rstd) rstd[r] = rs;
  }
}
