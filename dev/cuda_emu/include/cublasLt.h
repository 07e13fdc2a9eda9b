// dev/cuda_emu/include/cublasLt.h: the names train.cu uses outside matmul_lt
#ifndef EMU_CUBLASLT_H
#define EMU_CUBLASLT_H
#include "cublas_v2.h"
typedef enum { CUDA_R_32F, CUDA_R_16BF } cudaDataType;
typedef enum {
    CUBLASLT_EPILOGUE_DEFAULT, CUBLASLT_EPILOGUE_BIAS, CUBLASLT_EPILOGUE_GELU_AUX_BIAS, CUBLASLT_EPILOGUE_DGELU,
    CUBLASLT_EPILOGUE_BGRADB
} cublasLtEpilogue_t;
typedef void *cublasLtHandle_t;
static cublasStatus_t cublasLtCreate(cublasLtHandle_t *h) { *h = NULL; return CUBLAS_STATUS_SUCCESS; }
static cublasStatus_t cublasLtDestroy(cublasLtHandle_t h) { (void)h; return CUBLAS_STATUS_SUCCESS; }
#endif
