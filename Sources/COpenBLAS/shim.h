// The CBLAS interface of OpenBLAS plus the OpenBLAS-specific queries lorabook reports.
#include <cblas.h>

// LAPACK, built into libopenblas: the singular values of a general matrix (column-major; the
// one-character job arguments are passed without Fortran's hidden lengths, as C callers do).
extern void dgesvd_(const char *jobu, const char *jobvt, const int *m, const int *n, double *a, const int *lda, double *s,
                    double *u, const int *ldu, double *vt, const int *ldvt, double *work, const int *lwork, int *info);
