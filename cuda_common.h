// cuda_common.h: what train.cu and the kernel lab (dev/cuda/*.cu) share.
//   cudaCheck(call), cublasCheck(call)  report file:line and the error, exit 1
//   floatX                              the compute type: bf16 by default,
//                                       float when built with -DENABLE_FP32
//   GpuPeak gpu_peak(device)            the device's dense peak TFLOP/s and
//                                       memory bandwidth, for MFU and GB/s
//   LAUNCH(grid, block, smem_bytes, kernel)(args...)
//                                       the one way a kernel is launched
//   DYNAMIC_SMEM(name)                  a kernel's dynamic shared memory, as
//                                       unsigned char name[] (128-byte aligned)
//   Packed128<T>, x128, f128            16 bytes of one type for 128-bit loads
//   load128, store128, load128cs,       and stores (cs: cache-streaming); X128 /
//   store128cs                          F128 elements per x128 / f128
// Header only, file-local (static) functions: include it in one .cu per binary.
#ifndef CUDA_COMMON_H
#define CUDA_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
#include <stdint.h>
#include <cuda_runtime.h>
#include <cublas_v2.h>
#include <cuda_bf16.h>

// ----------------------------------------------------------------------------
// launches and dynamic shared memory: the seam with the CPU emulation.
// Every launch is LAUNCH(grid, block, smem_bytes, kernel)(args...), with the
// kernel last so that a template's commas (attention_forward_kernel<BLK, HSP>)
// go into the variadic part. Here it is kernel<<<grid, block, smem_bytes>>>;
// dev/cuda_emu/emu.h (reached through its fake cuda_runtime.h, included above)
// defines both macros first, as a launch on CPU threads and the emulated
// block's shared buffer, and then these are skipped.
#ifndef LAUNCH
#define LAUNCH(grid, block, smem_bytes, ...) __VA_ARGS__<<<grid, block, smem_bytes>>>
#endif
#ifndef DYNAMIC_SMEM
#define DYNAMIC_SMEM(name) extern __shared__ __align__(128) unsigned char name[]
#endif

// ----------------------------------------------------------------------------
// error checks

static void cuda_check_(cudaError_t err, const char *what, const char *file, int line) {
    if (err != cudaSuccess) {
        fprintf(stderr, "CUDA error at %s:%d: %s\n  in: %s\n", file, line,
                cudaGetErrorString(err), what);
        exit(1);
    }
}
#define cudaCheck(call) cuda_check_((call), #call, __FILE__, __LINE__)

static void cublas_check_(cublasStatus_t st, const char *what, const char *file, int line) {
    if (st != CUBLAS_STATUS_SUCCESS) {
        fprintf(stderr, "cuBLAS error at %s:%d: %s (%d)\n  in: %s\n", file, line,
                cublasGetStatusString(st), (int)st, what);
        exit(1);
    }
}
#define cublasCheck(call) cublas_check_((call), #call, __FILE__, __LINE__)

// ----------------------------------------------------------------------------
// the compute type: activations, weights used by the matmuls, and their
// gradients. fp32 master weights and AdamW moments are float in both builds.

#ifdef ENABLE_FP32
typedef float floatX;
#define FLOATX_NAME "fp32"
#else
typedef __nv_bfloat16 floatX;
#define FLOATX_NAME "bf16"
#endif

// ----------------------------------------------------------------------------
// Packed128: 16 bytes of one element type, moved by one 128-bit load or store.
// A memory-bound kernel is limited by how many bytes per second the DRAM
// delivers, and the GPU reaches that rate with fewer, wider transactions: one
// 128-bit access per thread moves 8 bf16 (or 4 floats) where a scalar loop
// needs 8 (4) instructions and as many requests in flight. Every elementwise
// and row kernel below therefore moves its floatX data as x128 (8 bf16, or 4
// floats in the FP32 build and under dev/cuda_emu, where floatX is float) and
// its fp32 data as f128 (4 floats).
// Requirements: the address is 16-byte aligned. cudaMalloc returns 256-byte
// aligned memory, train.cu carves tensors at ALLOC_ALIGN (256) boundaries, and
// every row of C (or Vp) elements starts 16 bytes after the previous one when
// C % X128 == 0 (gpu_model_init requires C and Vp to be multiples of 8, so
// both builds qualify). Under the emulation load128 and store128 check the
// alignment, so a misaligned pointer fails the CPU checks instead of faulting
// on a GPU.
//   load128 / store128       plain: the data stays in the caches (it is read
//                            again soon: a layernorm weight, an output the
//                            next kernel reads)
//   load128cs / store128cs   cache-streaming (__ldcs / __stcs): read or
//                            written once and not again soon, so it should not
//                            push reusable lines out of L2
template <class T>
struct alignas(16) Packed128 {
    static constexpr int size = 16 / (int)sizeof(T);  // elements in 16 bytes
    T v[size];
    __device__ __forceinline__ T &operator[](int i) { return v[i]; }
    __device__ __forceinline__ const T &operator[](int i) const { return v[i]; }
};
typedef Packed128<floatX> x128;
typedef Packed128<float> f128;
#define X128 ((int)Packed128<floatX>::size)  // floatX elements per x128: 8 (bf16) or 4 (fp32)
#define F128 4                                // floats per f128

#ifdef CUDA_EMU
// the emulation's 128-bit access: a 16-byte copy (memcpy: no aliasing
// assumptions for g++), after checking the alignment a GPU would need
static void emu_check_align16(const void *p) {
    if ((uintptr_t)p % 16 != 0) {
        fprintf(stderr, "emulation: 128-bit access at %p, which is not 16-byte aligned\n", p);
        abort();
    }
}
template <class T> static Packed128<T> load128(const T *p) {
    emu_check_align16(p);
    Packed128<T> r;
    memcpy(&r, p, 16);
    return r;
}
template <class T> static void store128(T *p, const Packed128<T> &x) {
    emu_check_align16(p);
    memcpy(p, &x, 16);
}
template <class T> static Packed128<T> load128cs(const T *p) { return load128(p); }
template <class T> static void store128cs(T *p, const Packed128<T> &x) { store128(p, x); }
#else
template <class T> __device__ __forceinline__ Packed128<T> load128(const T *p) {
    return *reinterpret_cast<const Packed128<T> *>(p);
}
template <class T> __device__ __forceinline__ void store128(T *p, const Packed128<T> &x) {
    *reinterpret_cast<Packed128<T> *>(p) = x;
}
template <class T> __device__ __forceinline__ Packed128<T> load128cs(const T *p) {
    int4 bits = __ldcs(reinterpret_cast<const int4 *>(p));
    Packed128<T> r;
    memcpy(&r, &bits, 16);
    return r;
}
template <class T> __device__ __forceinline__ void store128cs(T *p, const Packed128<T> &x) {
    int4 bits;
    memcpy(&bits, &x, 16);
    __stcs(reinterpret_cast<int4 *>(p), bits);
}
#endif
// ----------------------------------------------------------------------------
// peak throughput: the table (and how a device name matches a row) is in
// gpu_peaks.h, shared with ./train --dry-run; the estimate for other devices
// needs CUDA, so it is here.
#include "gpu_peaks.h"

// Estimate for a device not in the table: per SM and clock, dense tensor-core
// bf16 FLOPs (fp32 accumulate) and fp32 FMA lanes by compute capability:
//   8.0 (A100): 2048 tensor, 64 fp32 lanes; 9.0 (H100): 4096, 128;
//   10.x (B200): 8192, 128; 8.6/8.9/12.x GeForce-class: 512, 128;
//   7.x (fp16 only): 1024, 64. tf32 is half of bf16 on data-centre parts
//   and equal to fp32 on GeForce parts. Unknown newer parts: GeForce numbers.
static GpuPeak gpu_peak_estimate(int device, const cudaDeviceProp *prop) {
    int clock_khz = 0, mem_khz = 0, bus_bits = 0;
    // clockRate left cudaDeviceProp in CUDA 13; the attributes remain
    if (cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, device) != cudaSuccess) clock_khz = 0;
    if (cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, device) != cudaSuccess) mem_khz = 0;
    if (cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, device) != cudaSuccess) bus_bits = 0;
    (void)cudaGetLastError();  // clear a failed query
    double tensor = 512, lanes = 128, tf32_ratio = 0.0;  // 0: tf32 = fp32
    int cc = prop->major * 10 + prop->minor;
    if (cc == 80) { tensor = 2048; lanes = 64; tf32_ratio = 0.5; }
    else if (cc == 90) { tensor = 4096; lanes = 128; tf32_ratio = 0.5; }
    else if (cc >= 100 && cc < 120) { tensor = 8192; lanes = 128; tf32_ratio = 0.5; }
    else if (cc < 80) { tensor = 1024; lanes = 64; }
    double ghz = clock_khz > 0 ? clock_khz * 1e-6 : 1.5;   // a typical boost clock
    double sms = prop->multiProcessorCount > 0 ? prop->multiProcessorCount : 1;
    GpuPeak p;
    p.name = "estimated";
    p.tflops_bf16 = sms * ghz * tensor * 1e-3;
    p.tflops_fp32 = sms * ghz * lanes * 2.0 * 1e-3;
    p.tflops_tf32 = tf32_ratio > 0 ? p.tflops_bf16 * tf32_ratio : p.tflops_fp32;
    // DDR: two transfers per memory clock
    p.bandwidth_gbs = (mem_khz > 0 && bus_bits > 0) ? 2.0 * mem_khz * 1e3 * (bus_bits / 8.0) * 1e-9 : 500.0;
    p.from_table = 0;
    return p;
}

// The peak of CUDA device `device`: the table row that matches its name, or
// the estimate. Every field is positive.
static GpuPeak gpu_peak(int device) {
    cudaDeviceProp prop;
    cudaCheck(cudaGetDeviceProperties(&prop, device));
    for (size_t i = 0; i < sizeof(gpu_peak_table) / sizeof(gpu_peak_table[0]); i++) {
        if (gpu_name_matches(prop.name, gpu_peak_table[i].name)) {
            return gpu_peak_table[i];
        }
    }
    return gpu_peak_estimate(device, &prop);
}

#endif // CUDA_COMMON_H
