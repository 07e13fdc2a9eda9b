// gpu_peaks.h: the GPU peak table, in plain C: what train.cu's MFU column
// (through cuda_common.h) and ./train --dry-run's time estimates (train_bill.h)
// share. No CUDA here, so train.c can include it.
//   gpu_peak_table[]              the rows, matched in order
//   gpu_name_matches(name, key)   does a device name (or a user's --gpu name) match a row?
#ifndef GPU_PEAKS_H
#define GPU_PEAKS_H

#include <ctype.h>
#include <string.h>
#include <strings.h>

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

#endif // GPU_PEAKS_H
