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
// peak throughput: dense (no 2:4 sparsity) tensor-core TFLOP/s with fp32
// accumulation, non-tensor fp32 TFLOP/s, and DRAM bandwidth, from the vendors'
// data sheets. GeForce cards run bf16 with fp32 accumulation at half the rate
// of fp16 accumulation; the numbers below are the fp32-accumulate ones, which
// is what training uses. Laptop parts vary with the power limit; the entries
// use the maximum boost clock.

typedef struct {
    const char *name;      // the table row's key, or "estimated"
    double tflops_bf16;    // dense bf16 tensor core, fp32 accumulate
    double tflops_fp32;    // CUDA cores, fp32 FMA
    double tflops_tf32;    // dense tf32 tensor core
    double bandwidth_gbs;  // DRAM, GB/s
    int from_table;        // 1: a table row, 0: estimated from SMs and clocks
} GpuPeak;

// Rows are matched in order, case-insensitively, as a substring of the device
// name; a row does not match when the next word of the name is a qualifier
// ("Ti", "SUPER", "Laptop") the key lacks, so the RTX 4070 row never claims an
// RTX 4070 Ti. More specific keys come first.
static const GpuPeak gpu_peak_table[] = {
    //  key                  bf16    fp32   tf32    GB/s
    {"A100-PCIE-80GB",      312.0,  19.5, 156.0, 1935.0, 1},
    {"A100 80GB PCIe",      312.0,  19.5, 156.0, 1935.0, 1},
    {"A100-PCIE-40GB",      312.0,  19.5, 156.0, 1555.0, 1},
    {"A100 PCIe",           312.0,  19.5, 156.0, 1555.0, 1},
    {"A100-SXM4-80GB",      312.0,  19.5, 156.0, 2039.0, 1},
    {"A100-SXM4-40GB",      312.0,  19.5, 156.0, 1555.0, 1},
    {"A100 80GB",           312.0,  19.5, 156.0, 2039.0, 1},
    {"A100",                312.0,  19.5, 156.0, 1555.0, 1},
    {"H100 PCIe",           756.0,  51.2, 378.0, 2000.0, 1},
    {"H100 NVL",            835.0,  60.0, 418.0, 3900.0, 1},
    {"H100",                989.4,  66.9, 494.7, 3350.0, 1},  // SXM5
    {"GH200",               989.4,  66.9, 494.7, 4000.0, 1},
    {"H200 NVL",            835.0,  60.0, 418.0, 4800.0, 1},
    {"H200",                989.4,  66.9, 494.7, 4800.0, 1},  // SXM
    {"RTX 3090",             71.0,  35.6,  35.6,  936.0, 1},
    {"RTX 3080 Laptop",      42.0,  21.0,  21.0,  448.0, 1},
    {"RTX 3080",             59.5,  29.8,  29.8,  760.0, 1},
    {"RTX 3070 Laptop",      33.2,  16.6,  16.6,  448.0, 1},
    {"RTX 3070",             40.6,  20.3,  20.3,  448.0, 1},
    {"RTX 3060 Laptop",      26.2,  13.1,  13.1,  336.0, 1},
    {"RTX 3060",             25.6,  12.7,  12.7,  360.0, 1},
    {"RTX 4090 Laptop",      79.4,  39.7,  39.7,  576.0, 1},
    {"RTX 4090",            165.2,  82.6,  82.6, 1008.0, 1},
    {"RTX 4080 Laptop",      67.8,  33.9,  33.9,  432.0, 1},
    {"RTX 4080",             97.5,  48.7,  48.7,  717.0, 1},
    {"RTX 4070 Laptop",      40.0,  20.0,  20.0,  256.0, 1},
    {"RTX 4070",             58.3,  29.1,  29.1,  504.0, 1},
    {"RTX 4060 Laptop",      29.2,  14.6,  14.6,  256.0, 1},
    {"RTX 4060",             30.2,  15.1,  15.1,  272.0, 1},
    {"RTX 5090 Laptop",      90.6,  45.3,  45.3,  896.0, 1},
    {"RTX 5090",            209.5, 104.8, 104.8, 1792.0, 1},
    {"RTX 5080 Laptop",      69.8,  34.9,  34.9,  896.0, 1},
    {"RTX 5080",            112.6,  56.3,  56.3,  960.0, 1},
    {"RTX 5070 Laptop",      42.4,  21.2,  21.2,  384.0, 1},
    {"RTX 5070",             61.7,  30.9,  30.9,  672.0, 1},
};

// case-insensitive: does `name` contain `key` as a whole model name (the next
// word, if any, is not a qualifier that would make it a different part)?
static int gpu_name_matches(const char *name, const char *key) {
    size_t n = strlen(name), k = strlen(key);
    for (size_t i = 0; i + k <= n; i++) {
        size_t j = 0;
        while (j < k && tolower((unsigned char)name[i + j]) == tolower((unsigned char)key[j])) j++;
        if (j < k) continue;
        const char *rest = name + i + k;
        if (*rest == '\0') return 1;
        if (isalnum((unsigned char)*rest)) continue;  // "A100" inside "A1000"
        while (*rest == ' ' || *rest == '-') rest++;
        static const char *qualifiers[] = {"Ti", "SUPER", "Laptop"};
        int qualified = 0;
        for (size_t q = 0; q < sizeof(qualifiers) / sizeof(qualifiers[0]); q++) {
            size_t ql = strlen(qualifiers[q]);
            if (strncasecmp(rest, qualifiers[q], ql) == 0 && !isalnum((unsigned char)rest[ql])) qualified = 1;
        }
        if (!qualified) return 1;
    }
    return 0;
}

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
