/* Element-wise kernels of the BERT forward pass, written so that clang vectorises them at -O3:
   no branches in the inner loops, no libm calls (exp and erf are polynomials). */
#include "ckernels.h"
#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x): Cephes-style. n = round(x log2 e) (magic-number rounding, vectorisable without SSE4.1),
   r = x - n ln2 in two parts, degree-6 polynomial, times 2^n built in the exponent bits. */
static inline float exp_approx(float x) {
  x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
  const float magic = 12582912.0f; /* 1.5 * 2^23 */
  float fn = (x * 1.44269504088896341f + magic) - magic;
  float r = x - fn * 0.693359375f;
  r = r - fn * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t e = ((int32_t)fn + 127) << 23;
  float scale;
  memcpy(&scale, &e, sizeof scale);
  return p * scale;
}

/* erf(x): odd rational approximation on [-4, 4] (the one Eigen and XLA use for float);
   max abs error 4.2e-7 against the exact erf, checked in the tests. */
static inline float erf_approx(float x) {
  x = x < -4.0f ? -4.0f : (x > 4.0f ? 4.0f : x);
  float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  p = p * x;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return p / q;
}

void lb_exp(float *restrict y, const float *restrict x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = exp_approx(x[i]);
}

void lb_gelu(float *restrict y, const float *restrict x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    float v = x[i];
    y[i] = 0.5f * v * (1.0f + erf_approx(v * 0.70710678118654752f));
  }
}

void lb_bias_gelu(float *restrict pre, float *restrict act, const float *restrict bias, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++) {
    float *p = pre + r * cols, *a = act + r * cols;
    for (size_t c = 0; c < cols; c++) {
      float v = p[c] + bias[c];
      p[c] = v;
      a[c] = 0.5f * v * (1.0f + erf_approx(v * 0.70710678118654752f));
    }
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

void lb_softmax_rows(float *x, size_t rows, size_t cols, size_t ld, size_t valid) {
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

void lb_layernorm(float *restrict y, float *restrict x, const float *restrict residual,
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
