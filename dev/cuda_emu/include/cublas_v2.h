// dev/cuda_emu/include/cublas_v2.h: the names train.cu uses; no cuBLAS calls
// are made (run.sh replaces matmul_lt by matmul_lt_emu.inc)
#ifndef EMU_CUBLAS_H
#define EMU_CUBLAS_H
#include "cuda_runtime.h"
typedef int cublasStatus_t;
#define CUBLAS_STATUS_SUCCESS 0
static const char *cublasGetStatusString(cublasStatus_t s) { return s == 0 ? "success" : "emulated error"; }
#endif
