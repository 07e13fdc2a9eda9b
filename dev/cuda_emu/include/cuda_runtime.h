// dev/cuda_emu/include/cuda_runtime.h: the part of the CUDA runtime train.cu
// calls, on the CPU, for the emulation (dev/cuda_emu/run.sh): device memory
// is host memory, one pretend device; it brings emu.h (threads, LAUNCH,
// DYNAMIC_SMEM), so every file that includes <cuda_runtime.h> gets them.
#ifndef EMU_CUDA_RUNTIME_H
#define EMU_CUDA_RUNTIME_H
#include <stdlib.h>
#include <string.h>
#include "../emu.h"

typedef int cudaError_t;
#define cudaSuccess 0
#define cudaErrorInvalidValue 1
#define cudaErrorMemoryAllocation 2
static const char *cudaGetErrorString(cudaError_t e) { return e == 0 ? "no error" : "emulated error"; }
static cudaError_t cudaGetLastError(void) { return cudaSuccess; }

typedef struct {
    char name[256];
    int multiProcessorCount, major, minor;
} cudaDeviceProp;
enum cudaDeviceAttr { cudaDevAttrClockRate, cudaDevAttrMemoryClockRate, cudaDevAttrGlobalMemoryBusWidth,
                      cudaDevAttrMaxSharedMemoryPerBlockOptin };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
static cudaError_t cudaGetDeviceCount(int *n) { *n = 8; return cudaSuccess; }  // room for mpirun ranks
static cudaError_t cudaSetDevice(int d) { (void)d; return cudaSuccess; }
static cudaError_t cudaGetDevice(int *d) { *d = 0; return cudaSuccess; }
// the opt-in shared memory per block: EMU_SMEM_OPTIN bytes (run.sh sets a
// laptop GPU's 101376, 99 KiB), else H100's 232448 (227 KiB)
static int emu_smem_optin(void) {
    const char *e = getenv("EMU_SMEM_OPTIN");
    return e != NULL && atoi(e) > 0 ? atoi(e) : 232448;
}
static cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    (void)d;
    memset(p, 0, sizeof(*p));
    strcpy(p->name, "CPU emulation");
    p->multiProcessorCount = 1;
    p->major = 8;
    return cudaSuccess;
}
static cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d) {
    (void)d;
    *v = a == cudaDevAttrMaxSharedMemoryPerBlockOptin ? emu_smem_optin() : 0;
    return cudaSuccess;
}
static cudaError_t cudaMalloc(void *p, size_t bytes) {
    *(void **)p = malloc(bytes > 0 ? bytes : 1);
    if (*(void **)p == NULL) { return cudaErrorMemoryAllocation; }
    memset(*(void **)p, 0xCD, bytes);  // garbage, as on a GPU
    return cudaSuccess;
}
static cudaError_t cudaFree(void *p) { free(p); return cudaSuccess; }
static cudaError_t cudaMemset(void *p, int v, size_t n) { memset(p, v, n); return cudaSuccess; }
static cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind k) { (void)k; memmove(d, s, n); return cudaSuccess; }
static cudaError_t cudaMemGetInfo(size_t *f, size_t *t) { *f = 0; *t = 0; return cudaSuccess; }
template <typename K>
static cudaError_t cudaFuncSetAttribute(K k, cudaFuncAttribute a, int v) {  // fails above the limit, as on a GPU
    (void)k;
    return a == cudaFuncAttributeMaxDynamicSharedMemorySize && v > emu_smem_optin() ? cudaErrorInvalidValue : cudaSuccess;
}
#endif
