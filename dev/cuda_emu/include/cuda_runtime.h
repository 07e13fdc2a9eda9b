// dev/cuda_emu/include/cuda_runtime.h: the part of the CUDA runtime train.cu
// calls, on the CPU, for the whole-trainer emulation (dev/cuda_emu/run.sh):
// device memory is host memory, launches go through emu_launch (emu.h), one
// pretend device.
#ifndef EMU_CUDA_RUNTIME_H
#define EMU_CUDA_RUNTIME_H
#define EMU_RUNTIME
#include <stdlib.h>
#include <string.h>
#include "../emu.h"

typedef int cudaError_t;
#define cudaSuccess 0
#define cudaErrorMemoryAllocation 2
static const char *cudaGetErrorString(cudaError_t e) { return e == 0 ? "no error" : "emulated error"; }
static cudaError_t cudaGetLastError(void) { return cudaSuccess; }

struct dim3 {
    int x, y, z;
    dim3(int x_ = 1, int y_ = 1, int z_ = 1) : x(x_), y(y_), z(z_) {}
};
// kernel<<<grid, block, smem>>>(args) is rewritten by run.sh into this
template <typename F>
static void emu_launch_grid(dim3 grid, dim3 block, size_t smem, F f) {
    emu_launch(grid.x, grid.y, block.x, smem, f);
}

typedef struct {
    char name[256];
    int multiProcessorCount, major, minor;
} cudaDeviceProp;
enum cudaDeviceAttr { cudaDevAttrClockRate, cudaDevAttrMemoryClockRate, cudaDevAttrGlobalMemoryBusWidth };
enum cudaFuncAttribute { cudaFuncAttributeMaxDynamicSharedMemorySize };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
static cudaError_t cudaGetDeviceCount(int *n) { *n = 8; return cudaSuccess; }  // room for mpirun ranks
static cudaError_t cudaSetDevice(int d) { (void)d; return cudaSuccess; }
static cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    (void)d;
    memset(p, 0, sizeof(*p));
    strcpy(p->name, "CPU emulation");
    p->multiProcessorCount = 1;
    p->major = 8;
    return cudaSuccess;
}
static cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d) { (void)a; (void)d; *v = 0; return cudaSuccess; }
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
static cudaError_t cudaFuncSetAttribute(K k, cudaFuncAttribute a, int v) { (void)k; (void)a; (void)v; return cudaSuccess; }
#endif
