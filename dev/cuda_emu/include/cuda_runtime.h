// dev/cuda_emu/include/cuda_runtime.h: the part of the CUDA runtime train.cu
// calls, on the CPU, for the emulation (dev/cuda_emu/run.sh): device memory
// is host memory, one pretend device; it brings emu.h (threads, LAUNCH,
// DYNAMIC_SMEM), so every file that includes <cuda_runtime.h> gets them.
// Everything runs at once, in order, so the one stream is trivially ordered:
// an asynchronous copy is a copy, an event holds the wall-clock time it was
// recorded at (cudaEventElapsedTime gives the CPU's time between two).
// What a GPU would do differently and this checks instead:
//   - cudaMemcpyAsync's host side must be pinned (from cudaMallocHost): a
//     pageable one fails here (on a GPU it silently copies synchronously)
//   - emu_counts counts cudaMalloc, cudaMallocHost and blocking cudaMemcpy
//     calls, so that a test can check that a training step makes none
#ifndef EMU_CUDA_RUNTIME_H
#define EMU_CUDA_RUNTIME_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <chrono>
#include <utility>
#include <vector>
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
typedef void *cudaStream_t;  // one stream: 0

// what a test can read: allocations and blocking copies so far
struct EmuCounts {
    long device_allocs;    // cudaMalloc
    long pinned_allocs;    // cudaMallocHost
    long blocking_copies;  // cudaMemcpy
};
static EmuCounts emu_counts;
static std::vector<std::pair<const char *, size_t>> emu_pinned;  // cudaMallocHost's blocks
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
    emu_counts.device_allocs++;
    *(void **)p = malloc(bytes > 0 ? bytes : 1);
    if (*(void **)p == NULL) { return cudaErrorMemoryAllocation; }
    memset(*(void **)p, 0xCD, bytes);  // garbage, as on a GPU
    return cudaSuccess;
}
static cudaError_t cudaFree(void *p) { free(p); return cudaSuccess; }
static cudaError_t cudaMemset(void *p, int v, size_t n) { memset(p, v, n); return cudaSuccess; }
static cudaError_t cudaMemcpy(void *d, const void *s, size_t n, cudaMemcpyKind k) {
    (void)k;
    emu_counts.blocking_copies++;
    memmove(d, s, n);
    return cudaSuccess;
}
static cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t st) { (void)st; memset(p, v, n); return cudaSuccess; }

// pinned host memory: tracked, so that cudaMemcpyAsync can check its host side
static cudaError_t cudaMallocHost(void *p, size_t bytes) {
    emu_counts.pinned_allocs++;
    *(void **)p = malloc(bytes > 0 ? bytes : 1);
    if (*(void **)p == NULL) { return cudaErrorMemoryAllocation; }
    memset(*(void **)p, 0xCD, bytes);
    emu_pinned.push_back({(const char *)*(void **)p, bytes > 0 ? bytes : 1});
    return cudaSuccess;
}
static cudaError_t cudaFreeHost(void *p) {
    for (size_t i = 0; i < emu_pinned.size(); i++) {
        if (emu_pinned[i].first == p) {
            emu_pinned.erase(emu_pinned.begin() + (long)i);
            free(p);
            return cudaSuccess;
        }
    }
    return cudaErrorInvalidValue;  // not from cudaMallocHost
}
static bool emu_is_pinned(const void *p, size_t n) {
    for (const auto &b : emu_pinned) {
        if ((const char *)p >= b.first && (const char *)p + n <= b.first + b.second) { return true; }
    }
    return false;
}
static cudaError_t cudaMemcpyAsync(void *d, const void *s, size_t n, cudaMemcpyKind k, cudaStream_t st) {
    (void)st;
    const void *host = k == cudaMemcpyHostToDevice ? s : k == cudaMemcpyDeviceToHost ? d : NULL;
    if (host != NULL && n > 0 && !emu_is_pinned(host, n)) {
        fprintf(stderr, "cuda_emu: cudaMemcpyAsync of %zu bytes with pageable host memory %p "
                "(allocate it with cudaMallocHost)\n", n, host);
        return cudaErrorInvalidValue;
    }
    memmove(d, s, n);
    return cudaSuccess;
}

// events: the time they were recorded at
struct EmuEvent { double seconds; };
typedef EmuEvent *cudaEvent_t;
#define cudaEventDefault 0
#define cudaEventDisableTiming 2
static double emu_now(void) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags) {
    (void)flags;
    *e = new EmuEvent{emu_now()};
    return cudaSuccess;
}
static cudaError_t cudaEventCreate(cudaEvent_t *e) { return cudaEventCreateWithFlags(e, cudaEventDefault); }
static cudaError_t cudaEventDestroy(cudaEvent_t e) { delete e; return cudaSuccess; }
static cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t st) { (void)st; e->seconds = emu_now(); return cudaSuccess; }
static cudaError_t cudaEventSynchronize(cudaEvent_t e) { (void)e; return cudaSuccess; }
static cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    *ms = (float)((b->seconds - a->seconds) * 1e3);
    return cudaSuccess;
}
static cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
static cudaError_t cudaMemGetInfo(size_t *f, size_t *t) { *f = 0; *t = 0; return cudaSuccess; }
template <typename K>
static cudaError_t cudaFuncSetAttribute(K k, cudaFuncAttribute a, int v) {  // fails above the limit, as on a GPU
    (void)k;
    return a == cudaFuncAttributeMaxDynamicSharedMemorySize && v > emu_smem_optin() ? cudaErrorInvalidValue : cudaSuccess;
}
#endif
