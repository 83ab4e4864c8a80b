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
#include <strings.h>

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
static char user_core[32];
const char *lb_blas_user_core(void) { return user_core[0] ? user_core : NULL; }

/* The vector width a core's kernels use: 1 SSE, 2 AVX, 3 AVX2+FMA, 4 AVX-512; 0 unknown name. */
static int core_level(const char *name) {
  static const char *sse[] = {"Katmai", "Coppermine", "Northwood", "Prescott", "Banias", "Core2", "Penryn", "Dunnington",
                              "Nehalem", "Atom", "Nano", "Opteron", "Opteron_SSE3", "Barcelona", "Bobcat"};
  static const char *avx[] = {"Sandybridge", "Bulldozer", "Piledriver", "Steamroller"};
  static const char *avx2[] = {"Haswell", "Zen", "Excavator"};
  static const char *avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids"};
#define IN(list) for (size_t i = 0; i < sizeof list / sizeof *list; i++) if (strcasecmp(name, list[i]) == 0)
  IN(avx512) return 4;
  IN(avx2) return 3;
  IN(avx) return 2;
  IN(sse) return 1;
#undef IN
  return 0;
}
static int cpu_level(void) { return cpu_has_skx_avx512() ? 4 : cpu_has_avx2_fma() ? 3 : 0; }

static void reload(const char *core) {
  if (core) setenv("OPENBLAS_CORETYPE", core, 1); else unsetenv("OPENBLAS_CORETYPE");
  gotoblas_dynamic_quit();
  gotoblas_dynamic_init();
}

/* origin: 0 detected by OpenBLAS, 1 repaired (a generic fallback replaced), 2 the user's
   OPENBLAS_CORETYPE kept, 3 LORABOOK_BLAS_CORE, 4 the user's OPENBLAS_CORETYPE replaced because its
   kernels are narrower than the CPU's vectors (e.g. Haswell's AVX2 on an AVX-512 CPU: a stale
   setting in a shell profile or a container image costs 1.5x here). */
const char *lb_blas_core_fix(void) {
  if (!openblas_get_corename) return NULL;
  if (done) return openblas_get_corename();
  done = 1;
  const char *cur = openblas_get_corename();
  strncpy(detected, cur ? cur : "unknown", sizeof detected - 1);
  int dynamic = gotoblas_dynamic_init && gotoblas_dynamic_quit;
  const char *forced = getenv("LORABOOK_BLAS_CORE");
  if (forced && *forced && dynamic) {   /* lorabook's own setting wins over everything */
    reload(forced);
    origin = 3;
    return openblas_get_corename();
  }
  const char *user = getenv("OPENBLAS_CORETYPE");
  if (user && *user) {
    strncpy(user_core, user, sizeof user_core - 1);
    int have = core_level(cur), can = cpu_level();
    if (!dynamic || have == 0 || have >= can) { origin = 2; return cur; }   /* the user decided */
    reload(NULL);                        /* what OpenBLAS detects on its own */
    cur = openblas_get_corename();
    strncpy(detected, cur ? cur : "unknown", sizeof detected - 1);
    origin = 4;
  } else if (!dynamic) {
    return cur;
  }
  /* Leave good detections alone; repair only generic fallbacks. */
  if (core_level(cur) >= 3 && core_level(cur) >= cpu_level()) {
    if (origin == 4) setenv("OPENBLAS_CORETYPE", cur, 1);   /* child processes get the same kernels */
    return cur;
  }
  const char *want = cpu_level() == 4 ? "SkylakeX" : cpu_level() == 3 ? "Haswell" : NULL;
  if (!want) return cur;
  reload(want); /* inherited by child processes too */
  if (origin != 4) origin = 1;
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
