// C kernels for lorabook's model: the OpenBLAS core-type repair and the element-wise hot loops.
// Everything here works on contiguous row-major float arrays; shapes are given per function.
#ifndef LORABOOK_CKERNELS_H
#define LORABOOK_CKERNELS_H
#include <stddef.h>
#include <stdint.h>

// Hot element-wise loops are compiled three times (AVX-512, AVX2, baseline x86-64) and the loader
// picks the best the CPU has, so one binary runs anywhere and vectorises wide where it can.
// Under ThreadSanitizer they are compiled once: the loader runs the clones' resolvers before
// TSan's runtime is set up, and an instrumented resolver crashes there.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define LB_NO_CLONES 1
#endif
#endif
#if defined(__x86_64__) && defined(__linux__) && !defined(LB_NO_CLONES)
#define LB_HOT __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define LB_HOT
#endif

// ---- OpenBLAS core type (see openblas_core.c) ----
// The core name OpenBLAS detected on its own at load time (before any repair), or NULL.
const char *lb_blas_detected_core(void);
// The core name OpenBLAS uses now, or NULL if the BLAS is not OpenBLAS.
const char *lb_blas_current_core(void);
// Repairs a generic fallback detection (e.g. Prescott) by selecting SkylakeX/Haswell kernels when
// the CPU supports them and the user has not set OPENBLAS_CORETYPE. Idempotent; returns the core.
const char *lb_blas_core_fix(void);
// Why the core is what it is: 0 detected and kept, 1 repaired by lorabook, 2 chosen by the user.
int lb_blas_core_origin(void);
// The OPENBLAS_CORETYPE the process started with (NULL if none).
const char *lb_blas_user_core(void);
// Bytes of heap in use (glibc mallinfo2: allocated chunks + mmap'd blocks); 0 elsewhere.
size_t lb_heap_in_use(void);

// ---- element-wise kernels (elementwise.c) ----
// y[i] = exp(x[i]) with a branch-free polynomial (rel. error < 2e-7), vectorisable.
void lb_exp(float *y, const float *x, size_t n);
// Exact-erf GELU: y = 0.5 x (1 + erf(x / sqrt 2)), erf by a rational approximation (abs err < 5e-7).
void lb_gelu(float *y, const float *x, size_t n);
// pre[r, c] += bias[c]; act = GELU(pre) (the GELU input is kept for backward).
void lb_bias_gelu(float *pre, float *act, const float *bias, size_t rows, size_t cols);
// amp: x[r, c] += bias[c], kept as bf16 in pre_half; x = GELU(x) in place, also as bf16 in act_half.
void lb_bias_gelu_bf16(float *x, uint16_t *pre_half, uint16_t *act_half, const float *bias, size_t rows, size_t cols);
// Switches OpenBLAS to the kernels of `name` (tests and LORABOOK_BLAS_CORE); returns the core now in use.
const char *lb_blas_select_core(const char *name);
// out[r, c] += bias[c] for r < rows.
void lb_add_bias(float *out, const float *bias, size_t rows, size_t cols);
// Row-wise softmax of the first `valid` columns of each of `rows` rows (row stride `ld`); columns
// valid..cols-1 are set to exactly 0 (masked keys). In place.
void lb_softmax_rows(float *x, size_t rows, size_t cols, size_t ld, size_t valid);
// LayerNorm over rows of width C: x (in/out: x += residual if residual != NULL, kept for backward),
// y = (x - mean) * rstd * gamma + beta; mean and rstd ([rows]) saved for backward if non-NULL.
void lb_layernorm(float *y, float *x, const float *residual, const float *bias, const float *gamma,
                  const float *beta, float *mean, float *rstd, size_t rows, size_t C, float eps);
// y[i] = tanh(x[i]) (pooler).
void lb_tanh(float *y, const float *x, size_t n);
#endif

// ---- backward and training kernels (backward.c) ----
#ifndef LORABOOK_CKERNELS_BACKWARD
#define LORABOOK_CKERNELS_BACKWARD
// dx (+)= LayerNorm backward of dy for rows with saved mean/rstd; x is the LayerNorm input.
// accumulate != 0 adds into dx.
void lb_layernorm_backward(float *dx, const float *dy, const float *x, const float *mean, const float *rstd,
                           const float *gamma, size_t rows, size_t C, int accumulate);
// dgamma[c] += Σ_r dy[r,c] xhat[r,c], dbeta[c] += Σ_r dy[r,c] for columns c0..c1-1 (either may be NULL).
void lb_layernorm_param_grads(float *dgamma, float *dbeta, const float *dy, const float *x, const float *mean,
                              const float *rstd, size_t rows, size_t C, size_t c0, size_t c1);
// dpre = dact * GELU'(pre) (exact-erf GELU).
void lb_gelu_backward(float *dpre, const float *dact, const float *pre, size_t n);
// The same with the GELU input stored as bf16 (mixed precision).
void lb_gelu_backward_bf16(float *dpre, const float *dact, const uint16_t *pre, size_t n);
// Softmax backward for rows of width L: dS = scale * P ⊙ (dP − rowsum(dP ⊙ P)); dS may alias dP.
void lb_softmax_backward(float *dS, const float *P, const float *dP, size_t rows, size_t L, float scale);
// db[c] += Σ_r dy[r, c] for c0 <= c < c1 (row stride ld).
void lb_column_sums(float *db, const float *dy, size_t rows, size_t ld, size_t c0, size_t c1);
// Dropout with a counter-based mask: y[i] = x[i] * (keep(seed, i0 + i) ? 1/(1-p) : 0). The mask depends
// only on (seed, index), so backward regenerates it. y may alias x.
void lb_dropout(float *y, const float *x, size_t n, size_t i0, float p, unsigned long long seed);
// Dropout's backward where the dropped forward output is kept: dy[i] *= 1/(1-p) where kept[i] != 0,
// else 0 (attention probabilities: a kept probability of exactly 0 has no gradient through softmax).
void lb_dropout_backward_kept(float *dy, const float *kept, size_t n, float p);
// y[r, c] = (y[r, c] + bias[c]) then dropout as lb_dropout over the row-major index (i0 = first row * cols).
void lb_bias_dropout(float *y, const float *bias, size_t rows, size_t cols, size_t row0, float p, unsigned long long seed);
// AdamW (decoupled weight decay, bias-corrected), PyTorch's update; see Training/AdamW.swift.
void lb_adamw(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1, float beta2,
              float eps, float wd, float bc1, float bc2);
// y[r, c] *= scale[c]
void lb_scale_columns(float *y, const float *scale, size_t rows, size_t cols, size_t ld);
#endif

// ---- bf16 mixed precision (bf16.c) ----
#ifndef LORABOOK_CKERNELS_BF16
#define LORABOOK_CKERNELS_BF16
// fp32 -> bf16, round to nearest even (NaN stays NaN); bf16 -> fp32 is exact.
void lb_f32_to_bf16(uint16_t *y, const float *x, size_t n);
void lb_bf16_to_f32(float *y, const uint16_t *x, size_t n);
void lb_f32_to_bf16_rows(uint16_t *y, size_t ldy, const float *x, size_t ldx, size_t rows, size_t cols);
// C[m, n] = alpha · op(A) · op(B) + beta · C, row-major; A, B bf16 (A is [m, k] or [k, m] when ta),
// C fp32, fp32 accumulation. oneDNN where it pays, else the reference path (widen + sgemm).
void lb_bf16_gemm(int ta, int tb, int m, int n, int k, float alpha, const uint16_t *a, int lda,
                  const uint16_t *b, int ldb, float beta, float *c, int ldc);
// The backend in use: 1 oneDNN, 0 reference. Resolved on first use (LORABOOK_AMP_BACKEND=
// reference|onednn overrides the automatic choice).
int lb_bf16_backend(void);
// The thread count lorabook uses (oneDNN runs that many OpenMP threads).
void lb_set_threads(int n);
// Forces a backend (0 reference, 1 oneDNN if it loads, -1 automatic); returns the one in use.
int lb_bf16_set_backend(int backend);
// Primitives created so far and the seconds spent creating them (oneDNN's JIT).
void lb_bf16_stats(long *primitives, double *seconds);
// oneDNN products executed so far (each execution allocates a few small blocks inside oneDNN: its
// C API builds a std::unordered_map of the arguments per call).
long lb_bf16_executions(void);
// One line: what the backend is and does on this CPU.
const char *lb_bf16_note(void);
// oneDNN's implementation name of the first primitive created (e.g. "brg:avx512_core_amx_bf16").
const char *lb_bf16_impl(void);
#endif

// ---- worker pool (pool.c) ----
#ifndef LORABOOK_CKERNELS_POOL
#define LORABOOK_CKERNELS_POOL
// Runs fn(ctx, w) for w in 0..<workers: w = 0 on the caller, the others on persistent pool threads
// (created on first use); returns when all are done. Allocates nothing per call. One job at a time:
// call only from one thread, never from inside a job. Returns the number of workers that ran.
int lb_pool_run(int workers, void (*fn)(void *, int), void *ctx);
// Whether the calling thread is running a pool job (a region started there runs inline).
int lb_pool_inside_job(void);
#endif

// ---- LoRA/DoRA rank-r products (lowrank.c) ----
// C[n, j] = alpha · Σ_k X[n, k] W[j, k] for n < rows, j < r: X (rows, K) with row stride ldx, W (r, K)
// contiguous, C (rows, r) with row stride ldc. For r small (LoRA ranks), where a GEMM call is slow.
void lb_rank_product(float *C, size_t ldc, const float *X, size_t ldx, const float *W, size_t rows, size_t r,
                     size_t K, float alpha);
// C[j, k] += alpha · Σ_n P[n, j] X[n, k] for j < r and k in [k0, k1): P (rows, r) with row stride ldp,
// X (rows, K) with row stride ldx; C (r, K) with row stride ldc, or stored transposed (K, r) when
// `transposed`. The adapters' weight gradients, a reduction over the tokens.
void lb_rank_accumulate(float *C, size_t ldc, int transposed, const float *P, size_t ldp, const float *X, size_t ldx,
                        size_t rows, size_t r, size_t k0, size_t k1, float alpha);
