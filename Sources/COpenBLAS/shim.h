// The CBLAS interface of OpenBLAS plus the OpenBLAS-specific queries lorabook reports.
#include <cblas.h>
