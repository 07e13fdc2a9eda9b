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
// Header only, file-local (static) functions: include it in one .cu per binary.
#ifndef CUDA_COMMON_H
#define CUDA_COMMON_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <ctype.h>
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
