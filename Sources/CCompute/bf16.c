/* bf16 for mixed precision: conversions, and C[f32] = alpha · op(A[bf16]) · op(B[bf16]) + beta · C.

   Backends (docs/performance.md has the measurements behind the choice):
   - oneDNN (Debian's libdnnl 2.6), loaded at run time with dlopen so that lorabook builds and runs
     without it. Its matmul primitive takes plain row-major bf16 with strides (transposes need no
     copy), accumulates in fp32 and dispatches to AMX (Sapphire/Emerald Rapids: ~3.4× fp32 sgemm)
     or AVX512-BF16 (Zen 4: ~1.8×). Primitives are created once per shape and cached here. Without
     AMX the token dimension (M, or K for weight gradients) is a runtime dimension: one primitive
     serves every batch length (oneDNN's gemm:jit, as fast as its per-shape brgemm on Zen 4/5), so
     a training run stops creating primitives (~0.3 ms each, ~2.3 ms a step) and growing the heap as
     new batch lengths appear. With AMX only the per-shape brgemm kernels use the tiles, so shapes
     stay fixed there. LORABOOK_AMP_SHAPES=fixed|runtime overrides.
   - reference: the bf16 operands widened to fp32 and multiplied by OpenBLAS. Same inputs, fp32
     accumulation, so the same numerics as the hardware path up to summation order; no speed gain.
     Used where the CPU has no bf16 instructions or oneDNN is missing, and by tests to compare.
   OpenMP (oneDNN's threading) must wait passively between calls or it fights OpenBLAS's threads
   (anchors: 1.2-2× slower); OMP_WAIT_POLICY is set before the library loads unless the user set it. */
#include "ckernels.h"
#include <cblas.h>
#include <cpuid.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- conversions (round to nearest even; NaN stays NaN) ---- */

static inline uint16_t f2bf(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (uint16_t)(u >> 16);
}

LB_HOT void lb_f32_to_bf16(uint16_t *y, const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) y[i] = f2bf(x[i]);
}

LB_HOT void lb_bf16_to_f32(float *y, const uint16_t *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t u = (uint32_t)x[i] << 16;
    memcpy(y + i, &u, 4);
  }
}

void lb_f32_to_bf16_rows(uint16_t *y, size_t ldy, const float *x, size_t ldx, size_t rows, size_t cols) {
  for (size_t r = 0; r < rows; r++) lb_f32_to_bf16(y + r * ldy, x + r * ldx, cols);
}

/* ---- backend selection ---- */

static int cpu_bf16_isa(void) { /* 2: AMX-BF16, 1: AVX512-BF16, 0: none */
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  int amx = (d >> 22) & 1; /* AMX-BF16 */
  unsigned a1, b1, c1, d1;
  int avx512bf16 = __get_cpuid_count(7, 1, &a1, &b1, &c1, &d1) ? (int)(a1 >> 5) & 1 : 0;
  return amx ? 2 : avx512bf16 ? 1 : 0;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int threads = 0; /* lorabook's thread count (oneDNN's OpenMP threads); 0: OpenBLAS's */

void lb_set_threads(int n) { threads = n; }
static int requested = -1;  /* -1 auto, 0 reference, 1 onednn */
static int active = -1;     /* resolved backend: 0 reference, 1 onednn */
static char note[256] = "";

#if __has_include(<oneapi/dnnl/dnnl.h>)
#include <oneapi/dnnl/dnnl.h>
#define LB_DNNL 1

#define SYM(name) static __typeof__(name) *p_##name
SYM(dnnl_engine_create); SYM(dnnl_stream_create); SYM(dnnl_memory_desc_init_by_strides);
SYM(dnnl_matmul_desc_init); SYM(dnnl_primitive_attr_create); SYM(dnnl_primitive_attr_destroy);
SYM(dnnl_primitive_attr_set_output_scales); SYM(dnnl_post_ops_create); SYM(dnnl_post_ops_destroy);
SYM(dnnl_post_ops_append_sum); SYM(dnnl_primitive_attr_set_post_ops); SYM(dnnl_primitive_desc_create);
SYM(dnnl_primitive_desc_destroy); SYM(dnnl_primitive_desc_query); SYM(dnnl_primitive_create);
SYM(dnnl_primitive_destroy); SYM(dnnl_memory_create); SYM(dnnl_memory_destroy);
SYM(dnnl_memory_set_data_handle); SYM(dnnl_primitive_execute); SYM(dnnl_stream_wait); SYM(dnnl_version);
static void (*p_omp_set_num_threads)(int);

static dnnl_engine_t engine;
static dnnl_stream_t stream;
static char impl_name[96] = "";

typedef struct {
  int used, ta, tb, m, n, k, lda, ldb, ldc;   /* m, k: 0 when runtime dimensions */
  float alpha, beta;
  dnnl_primitive_t prim;
  dnnl_memory_t a, b, c;   /* for (mem_m, mem_k); remade when a call's M or K differs */
  int mem_m, mem_k;
} entry_t;

static int runtime_shapes = 0; /* M and K as runtime dimensions (set when oneDNN loads) */

#define CACHE_SIZE 8192 /* power of two */
static entry_t *cache;
static size_t cached = 0;
static long created = 0;
static long executed = 0;
static double create_seconds = 0;

#include <time.h>
static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static int load_dnnl(void) {
  if (!getenv("OMP_WAIT_POLICY")) setenv("OMP_WAIT_POLICY", "passive", 1);
  void *h = dlopen("libdnnl.so.2", RTLD_NOW | RTLD_LOCAL);
  if (!h) h = dlopen("libdnnl.so", RTLD_NOW | RTLD_LOCAL);
  if (!h) { snprintf(note, sizeof note, "oneDNN (libdnnl.so.2) not found"); return 0; }
#define LOAD(name) if (!(p_##name = (__typeof__(name) *)dlsym(h, #name))) { \
    snprintf(note, sizeof note, "oneDNN lacks %s", #name); return 0; }
  LOAD(dnnl_engine_create) LOAD(dnnl_stream_create) LOAD(dnnl_memory_desc_init_by_strides)
  LOAD(dnnl_matmul_desc_init) LOAD(dnnl_primitive_attr_create) LOAD(dnnl_primitive_attr_destroy)
  LOAD(dnnl_primitive_attr_set_output_scales) LOAD(dnnl_post_ops_create) LOAD(dnnl_post_ops_destroy)
  LOAD(dnnl_post_ops_append_sum) LOAD(dnnl_primitive_attr_set_post_ops) LOAD(dnnl_primitive_desc_create)
  LOAD(dnnl_primitive_desc_destroy) LOAD(dnnl_primitive_desc_query) LOAD(dnnl_primitive_create)
  LOAD(dnnl_primitive_destroy) LOAD(dnnl_memory_create) LOAD(dnnl_memory_destroy)
  LOAD(dnnl_memory_set_data_handle) LOAD(dnnl_primitive_execute) LOAD(dnnl_stream_wait) LOAD(dnnl_version)
#undef LOAD
  p_omp_set_num_threads = (void (*)(int))dlsym(h, "omp_set_num_threads");
  if (p_dnnl_engine_create(&engine, dnnl_cpu, 0) != dnnl_success ||
      p_dnnl_stream_create(&stream, engine, dnnl_stream_default_flags) != dnnl_success) {
    snprintf(note, sizeof note, "oneDNN could not create a CPU engine");
    return 0;
  }
  const char *shapes = getenv("LORABOOK_AMP_SHAPES");
  runtime_shapes = shapes && !strcmp(shapes, "fixed") ? 0 : shapes && !strcmp(shapes, "runtime") ? 1 : cpu_bf16_isa() != 2;
  cache = calloc(CACHE_SIZE, sizeof(entry_t));
  return cache != NULL;
}

static void set_md(dnnl_memory_desc_t *md, dnnl_dim_t rows, dnnl_dim_t cols, int trans, int ld, dnnl_data_type_t dt) {
  dnnl_dims_t dims = {rows, cols};
  dnnl_dims_t strides = {trans ? 1 : ld, trans ? ld : 1};
  p_dnnl_memory_desc_init_by_strides(md, 2, dims, dt, strides);
}

/* Drops every cached primitive (and its memory objects). */
static void clear_cache(void) {
  for (size_t j = 0; j < CACHE_SIZE; j++) {
    entry_t *e = &cache[j];
    if (e->prim) {
      p_dnnl_primitive_destroy(e->prim);
      if (e->a) { p_dnnl_memory_destroy(e->a); p_dnnl_memory_destroy(e->b); p_dnnl_memory_destroy(e->c); }
    }
  }
  memset(cache, 0, CACHE_SIZE * sizeof(entry_t));
  cached = 0;
}

/* Creates the bf16 × bf16 → f32 matmul primitive of an entry (alpha as an output scale, beta as a
   sum post-op); 0 when oneDNN cannot. */
static int create_primitive(entry_t *e, int ta, int tb, int m, int n, int k, float alpha, int lda, int ldb, float beta, int ldc) {
  dnnl_memory_desc_t amd, bmd, cmd;
  dnnl_dim_t dm = runtime_shapes ? DNNL_RUNTIME_DIM_VAL : m, dk = runtime_shapes ? DNNL_RUNTIME_DIM_VAL : k;
  set_md(&amd, dm, dk, ta, lda, dnnl_bf16);
  set_md(&bmd, dk, n, tb, ldb, dnnl_bf16);
  set_md(&cmd, dm, n, 0, ldc, dnnl_f32);
  dnnl_matmul_desc_t desc;
  if (p_dnnl_matmul_desc_init(&desc, &amd, &bmd, NULL, &cmd) != dnnl_success) return 0;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t ops = NULL;
  p_dnnl_primitive_attr_create(&attr);
  if (alpha != 1.0f) p_dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha);
  if (beta != 0.0f) {
    p_dnnl_post_ops_create(&ops);
    p_dnnl_post_ops_append_sum(ops, beta);
    p_dnnl_primitive_attr_set_post_ops(attr, ops);
  }
  dnnl_primitive_desc_t pd = NULL;
  dnnl_status_t s = p_dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL);
  if (ops) p_dnnl_post_ops_destroy(ops);
  p_dnnl_primitive_attr_destroy(attr);
  if (s != dnnl_success) return 0;
  const char *impl = NULL;
  p_dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  if (impl && !impl_name[0]) snprintf(impl_name, sizeof impl_name, "%s", impl);
  s = p_dnnl_primitive_create(&e->prim, pd);
  p_dnnl_primitive_desc_destroy(pd);
  if (s != dnnl_success) { e->prim = NULL; return 0; }
  return 1;
}

static entry_t *primitive(int ta, int tb, int m, int n, int k, float alpha, int lda, int ldb, float beta, int ldc) {
  if (runtime_shapes) { m = 0; k = 0; }
  uint64_t h = 1469598103934665603ull;
  int key[9] = {ta, tb, m, n, k, lda, ldb, ldc, 0};
  float fk[2] = {alpha, beta};
  for (int i = 0; i < 9; i++) h = (h ^ (uint64_t)(uint32_t)key[i]) * 1099511628211ull;
  uint32_t fb[2];
  memcpy(fb, fk, 8);
  h = (h ^ fb[0]) * 1099511628211ull;
  h = (h ^ fb[1]) * 1099511628211ull;
  size_t i = (size_t)h & (CACHE_SIZE - 1);
  for (;; i = (i + 1) & (CACHE_SIZE - 1)) {
    entry_t *e = &cache[i];
    if (!e->used) break;
    if (e->ta == ta && e->tb == tb && e->m == m && e->n == n && e->k == k && e->lda == lda && e->ldb == ldb &&
        e->ldc == ldc && e->alpha == alpha && e->beta == beta)
      return e->prim ? e : NULL;
  }
  if (cached >= CACHE_SIZE * 3 / 4) { /* full: drop every primitive and start over */
    clear_cache();
    i = (size_t)h & (CACHE_SIZE - 1);
  }
  entry_t *e = &cache[i];
  *e = (entry_t){1, ta, tb, m, n, k, lda, ldb, ldc, alpha, beta, NULL, NULL, NULL, NULL, -1, -1};
  cached++;
  created++;
  double t0 = now_s();
  if (!create_primitive(e, ta, tb, m, n, k, alpha, lda, ldb, beta, ldc)) return NULL;
  create_seconds += now_s() - t0;
  return e;
}

static int onednn_gemm(int ta, int tb, int m, int n, int k, float alpha, const uint16_t *a, int lda,
                     const uint16_t *b, int ldb, float beta, float *c, int ldc) {
  entry_t *e = primitive(ta, tb, m, n, k, alpha, lda, ldb, beta, ldc);
  if (!e) return 0;
  executed++;
  if (e->mem_m != m || e->mem_k != k) {   /* memory objects carry the call's actual M and K */
    if (e->a) { p_dnnl_memory_destroy(e->a); p_dnnl_memory_destroy(e->b); p_dnnl_memory_destroy(e->c); }
    dnnl_memory_desc_t amd, bmd, cmd;
    set_md(&amd, m, k, ta, lda, dnnl_bf16);
    set_md(&bmd, k, n, tb, ldb, dnnl_bf16);
    set_md(&cmd, m, n, 0, ldc, dnnl_f32);
    p_dnnl_memory_create(&e->a, &amd, engine, DNNL_MEMORY_NONE);
    p_dnnl_memory_create(&e->b, &bmd, engine, DNNL_MEMORY_NONE);
    p_dnnl_memory_create(&e->c, &cmd, engine, DNNL_MEMORY_NONE);
    e->mem_m = m; e->mem_k = k;
  }
  if (p_omp_set_num_threads) p_omp_set_num_threads(threads > 0 ? threads : openblas_get_num_threads());
  p_dnnl_memory_set_data_handle(e->a, (void *)a);
  p_dnnl_memory_set_data_handle(e->b, (void *)b);
  p_dnnl_memory_set_data_handle(e->c, c);
  dnnl_exec_arg_t args[3] = {{DNNL_ARG_SRC, e->a}, {DNNL_ARG_WEIGHTS, e->b}, {DNNL_ARG_DST, e->c}};
  if (p_dnnl_primitive_execute(e->prim, stream, 3, args) != dnnl_success) return 0;
  return p_dnnl_stream_wait(stream) == dnnl_success;
}
#endif

static void resolve(void) {
  if (active >= 0) return;
  int isa = cpu_bf16_isa();
  int want = requested;
  if (want < 0) {
    const char *env = getenv("LORABOOK_AMP_BACKEND");
    want = env && !strcmp(env, "reference") ? 0 : env && !strcmp(env, "onednn") ? 1 : isa > 0 ? 1 : 0;
    if (want == 0 && isa == 0)
      snprintf(note, sizeof note, "this CPU has no bf16 instructions: bf16 operands, fp32 products (no speed-up)");
    else if (want == 0)
      snprintf(note, sizeof note, "reference backend chosen by LORABOOK_AMP_BACKEND: bf16 operands, fp32 products");
  }
  active = 0;
#ifdef LB_DNNL
  if (want == 1) {
    if (load_dnnl()) {
      active = 1;
      const dnnl_version_t *v = p_dnnl_version();
      snprintf(note, sizeof note, "oneDNN %d.%d.%d on %s", v->major, v->minor, v->patch,
               isa == 2 ? "AMX-BF16" : isa == 1 ? "AVX512-BF16" : "a CPU without bf16 instructions (emulated)");
    } else {
      char why[200];
      snprintf(why, sizeof why, "%s", note);
      snprintf(note, sizeof note, "%s: bf16 operands, fp32 products (no speed-up)", why);
    }
  }
#else
  if (want == 1) snprintf(note, sizeof note, "built without oneDNN's header: bf16 operands, fp32 products (no speed-up)");
#endif
}

int lb_bf16_backend(void) {
  pthread_mutex_lock(&lock);
  resolve();
  int b = active;
  pthread_mutex_unlock(&lock);
  return b;
}

int lb_bf16_set_backend(int backend) {
  pthread_mutex_lock(&lock);
  requested = backend;
  if (backend == 0) { active = 0; snprintf(note, sizeof note, "reference backend: bf16 operands, fp32 products"); }
  else { active = -1; resolve(); }
  int b = active;
  pthread_mutex_unlock(&lock);
  return b;
}

const char *lb_bf16_note(void) {
  lb_bf16_backend();
  return note;
}

void lb_bf16_stats(long *primitives, double *seconds) {
#ifdef LB_DNNL
  *primitives = created;
  *seconds = create_seconds;
#else
  *primitives = 0;
  *seconds = 0;
#endif
}

long lb_bf16_executions(void) {
#ifdef LB_DNNL
  return executed;
#else
  return 0;
#endif
}

const char *lb_bf16_impl(void) {
#ifdef LB_DNNL
  return impl_name;
#else
  return "";
#endif
}

/* The reference path: widen the operands into per-thread scratch and call sgemm. */
static __thread float *scratch;
static __thread size_t scratch_count;

static float *widen(const uint16_t *x, int rows, int cols, int ld, float *dst) {
  for (int r = 0; r < rows; r++) lb_bf16_to_f32(dst + (size_t)r * cols, x + (size_t)r * ld, cols);
  return dst;
}

static void reference_gemm(int ta, int tb, int m, int n, int k, float alpha, const uint16_t *a, int lda,
                           const uint16_t *b, int ldb, float beta, float *c, int ldc) {
  size_t na = (size_t)m * k, nb = (size_t)k * n;
  if (scratch_count < na + nb) {
    free(scratch);
    scratch = malloc((na + nb) * sizeof(float));
    scratch_count = na + nb;
  }
  /* stored shapes: A is [m, k] (or [k, m] when transposed), B is [k, n] (or [n, k]) */
  float *af = widen(a, ta ? k : m, ta ? m : k, lda, scratch);
  float *bf = widen(b, tb ? n : k, tb ? k : n, ldb, scratch + na);
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha,
              af, ta ? m : k, bf, tb ? k : n, beta, c, ldc);
}

void lb_bf16_gemm(int ta, int tb, int m, int n, int k, float alpha, const uint16_t *a, int lda,
                  const uint16_t *b, int ldb, float beta, float *c, int ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) { /* C = beta C */
    for (int i = 0; i < m; i++) for (int j = 0; j < n; j++) c[(size_t)i * ldc + j] *= beta;
    return;
  }
  if (lb_bf16_backend() == 1) {
#ifdef LB_DNNL
    pthread_mutex_lock(&lock);
    int ok = onednn_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    pthread_mutex_unlock(&lock);
    if (ok) return;
#endif
  }
  reference_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
