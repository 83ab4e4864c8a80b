/* Branch-free exp and erf approximations shared by the forward and backward kernels, so that
   clang vectorises every loop that uses them (libm's expf/erff are scalar calls). */
#ifndef LORABOOK_APPROX_H
#define LORABOOK_APPROX_H
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

#endif
