/* Make Debian's OpenBLAS 0.3.21 (DYNAMIC_ARCH) use the right kernels without the user exporting
   OPENBLAS_CORETYPE.

   Why: 0.3.21's CPU detection has no case for family 6 / extended model 0xC (Emerald Rapids,
   CPUID model 0xCF); its switch falls through to the Pentium-4 branch and returns "Prescott"
   (SSE3 kernels, ~15-20 GFLOP/s a core instead of ~110-150). The library reads OPENBLAS_CORETYPE
   in its ELF constructor, before main(), so a setenv() in Swift code is too late.

   How (mechanism (g) of ../shared/anchors/cpu-limits.md, measured there): DYNAMIC_ARCH builds export
   gotoblas_dynamic_quit()/gotoblas_dynamic_init(); quit() clears the kernel table, init() re-reads
   OPENBLAS_CORETYPE and installs the table and its GEMM blocking. Nothing else in the library depends
   on the table, so switching before the first BLAS call is complete. References are weak: with a
   BLAS that is not a DYNAMIC_ARCH OpenBLAS every function here is a harmless no-op.

   The constructor below runs after every shared library's constructor and before any Swift code, so
   no BLAS call can precede it; lb_blas_core_fix() may still be called explicitly (idempotent). */
#include "ckernels.h"
#include <cpuid.h>
#include <stdlib.h>
#include <string.h>

extern char *openblas_get_corename(void) __attribute__((weak));
extern void gotoblas_dynamic_init(void) __attribute__((weak));
extern void gotoblas_dynamic_quit(void) __attribute__((weak));

static char detected[32];
static int origin = 0;
static int done = 0;

static int os_saves_zmm(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return 0; /* OSXSAVE */
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0xe6) == 0xe6; /* SSE, AVX, opmask, ZMM_Hi256, Hi16_ZMM state saved by the OS */
}
static int cpu_has_skx_avx512(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  unsigned need = (1u << 16) | (1u << 17) | (1u << 30) | (1u << 31); /* AVX512 F DQ BW VL */
  return (b & need) == need && os_saves_zmm();
}
static int cpu_has_avx2_fma(void) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 12))) return 0; /* FMA */
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
  if (!(b & (1u << 5))) return 0; /* AVX2 */
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (lo & 0x6) == 0x6;
}

const char *lb_blas_detected_core(void) { return openblas_get_corename ? detected : NULL; }
const char *lb_blas_current_core(void) { return openblas_get_corename ? openblas_get_corename() : NULL; }
int lb_blas_core_origin(void) { return origin; }

const char *lb_blas_core_fix(void) {
  if (!openblas_get_corename) return NULL;
  if (done) return openblas_get_corename();
  done = 1;
  const char *cur = openblas_get_corename();
  strncpy(detected, cur ? cur : "unknown", sizeof detected - 1);
  if (getenv("OPENBLAS_CORETYPE")) { origin = 2; return cur; }        /* the user decided */
  if (!gotoblas_dynamic_init || !gotoblas_dynamic_quit) return cur;   /* not DYNAMIC_ARCH */
  /* Leave good detections alone; repair only generic fallbacks. */
  static const char *good[] = {"Haswell", "SkylakeX", "Cooperlake", "SapphireRapids",
                               "Zen", "Excavator", "Steamroller", "Piledriver"};
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    if (strcmp(cur, good[i]) == 0) return cur;
  const char *want = cpu_has_skx_avx512() ? "SkylakeX" : cpu_has_avx2_fma() ? "Haswell" : NULL;
  if (!want) return cur;
  setenv("OPENBLAS_CORETYPE", want, 1); /* inherited by child processes too */
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  origin = 1;
  return openblas_get_corename();
}

const char *lb_blas_select_core(const char *name) {
  if (!openblas_get_corename || !gotoblas_dynamic_init || !gotoblas_dynamic_quit) return lb_blas_current_core();
  setenv("OPENBLAS_CORETYPE", name, 1);
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
  return openblas_get_corename();
}

__attribute__((constructor)) static void lb_blas_core_fix_ctor(void) { (void)lb_blas_core_fix(); }

/* Heap in use (glibc's mallinfo2): allocated chunks plus mmap'd blocks. */
#include <malloc.h>
size_t lb_heap_in_use(void) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
#else
  return 0;
#endif
}
