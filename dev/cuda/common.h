// dev/cuda/common.h: the plumbing every kernel-lab file shares, in one place.
//
// A lab file (dev/cuda/<op>.cu) includes train.c first (for its CPU twin of the
// kernel, and its Rng and checked helpers), then this header:
//
//     #define TRAIN_NO_MAIN
//     #pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused
//     #include "../../train.c"
//     #include "common.h"
//
// What it gives:
//   lab_init(&lab, argc, argv, "op")    parse `./op [version] [block_size] [repeats]`
//                                       (0 or nothing = every version / block size),
//                                       print the device and its peak, allocate the
//                                       L2 flush buffer, measure the copy bandwidth
//   lab_wants(&lab, v, bs)              is version v at block size bs selected?
//                                       (bs 0: a library's own launch, always)
//   fill_random / make_random / make_random_ints
//                                       host inputs from train.c's seeded Rng
//   to_device / to_device_bf16 / ...    device copies
//   make_rounded_bf16                   inputs rounded to bf16, for a bf16 version's reference
//   validate(&lab, name, d_x, ref, n, atol, rtol)
//                                       |x - ref| <= atol + rtol * |ref| for every
//                                       element; prints the worst error, and exits 1
//                                       on a mismatch or a non-finite value
//   lab_time(&lab, launch)              median ms of `repeats` launches, with the L2
//                                       flushed (a buffer twice its size written)
//                                       before each; only the launch is timed
//   lab_report(&lab, ...)               prints ms, MB moved per call (memory-bound
//                                       ops), GB/s or TFLOP/s and % of peak (the
//                                       DRAM bandwidth of gpu_peaks.h's table),
//                                       and records the result for the summary
//   lab_summary(&lab)                   per group: the best version against its
//                                       yardstick (cuBLAS, or the copy bandwidth);
//                                       lines starting with SUMMARY are what
//                                       run_all.sh collects
#ifndef DEV_CUDA_COMMON_H
#define DEV_CUDA_COMMON_H

#include <cuda_runtime.h>
#include <cuda_bf16.h>
#include <algorithm>
#include <vector>
#include "../../cuda_common.h"

// LAB_EMU: built for the CPU emulation (dev/cuda/emu/run.sh): small shapes,
// every check, no timing. LAB_SHAPE(normal, emulated) picks a dimension.
#ifdef LAB_EMU
#define LAB_SHAPE(normal, emulated) (emulated)
#else
#define LAB_SHAPE(normal, emulated) (normal)
#endif

#define LAB_DEFAULT_REPEATS 10
#define LAB_MAX_RESULTS 256
#define LAB_COPY_BYTES ((size_t)256 << 20)  // the copy yardstick: 256 MiB each way

// what a timed result is measured against
typedef enum { PEAK_BANDWIDTH, PEAK_FP32, PEAK_TF32, PEAK_BF16 } PeakKind;

typedef struct {
    const char *group;  // results compete within a group ("fp32", "bf16", ...)
    int version;
    const char *name;   // the version's one-word idea
    int block_size;
    float ms;
    double value;       // GB/s or TFLOP/s
    double pct;         // of the device's peak of that kind
    int yardstick;      // 1: cuBLAS or another best-known way, not ours
    PeakKind kind;
} LabResult;

typedef struct {
    const char *op;
    int version;        // 0: all
    int block_size;     // 0: all that a version supports
    int repeats;
    cudaDeviceProp prop;
    GpuPeak peak;
    void *flush;        // written between repetitions to evict the L2
    size_t flush_bytes;
    double copy_gbs;    // measured device-to-device copy bandwidth (read + write)
    cudaEvent_t start, stop;
    LabResult results[LAB_MAX_RESULTS];
    int num_results;
} Lab;

static inline int lab_parse_int(const char *s, const char *what, int lo, int hi) {
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (end == s || *end != '\0' || v < lo || v > hi) {
        die("%s must be an integer in [%d, %d], got '%s'\n"
            "usage: ./op [version (0 = all)] [block size (0 = all)] [repeats]", what, lo, hi, s);
    }
    return (int)v;
}

#ifndef LAB_EMU
// the achievable DRAM bandwidth of this device, measured: a 256 MiB
// device-to-device copy, best of 5, counting the bytes read and written
static inline double lab_copy_bandwidth(Lab *lab) {
    void *a = NULL, *b = NULL;
    cudaCheck(cudaMalloc(&a, LAB_COPY_BYTES));
    cudaCheck(cudaMalloc(&b, LAB_COPY_BYTES));
    cudaCheck(cudaMemset(a, 1, LAB_COPY_BYTES));
    float best = 0.0f;
    for (int r = 0; r < 6; r++) {
        cudaCheck(cudaEventRecord(lab->start));
        cudaCheck(cudaMemcpyAsync(b, a, LAB_COPY_BYTES, cudaMemcpyDeviceToDevice));
        cudaCheck(cudaEventRecord(lab->stop));
        cudaCheck(cudaEventSynchronize(lab->stop));
        float ms = 0.0f;
        cudaCheck(cudaEventElapsedTime(&ms, lab->start, lab->stop));
        if (r > 0 && (best == 0.0f || ms < best)) { best = ms; }  // r = 0 warms up
    }
    cudaCheck(cudaFree(a));
    cudaCheck(cudaFree(b));
    return 2.0 * (double)LAB_COPY_BYTES / (best * 1e-3) / 1e9;
}
#endif

static inline void lab_init(Lab *lab, int argc, char **argv, const char *op) {
    memset(lab, 0, sizeof(*lab));
    lab->op = op;
    lab->repeats = LAB_DEFAULT_REPEATS;
    if (argc > 4 || (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))) {
        printf("usage: %s [version (0 = all)] [block size (0 = all)] [repeats (default %d)]\n",
               argv[0], LAB_DEFAULT_REPEATS);
        exit(argc > 4 ? 1 : 0);
    }
    if (argc > 1) { lab->version = lab_parse_int(argv[1], "version", 0, 100); }
    if (argc > 2) { lab->block_size = lab_parse_int(argv[2], "block size", 0, 1024); }
    if (argc > 3) { lab->repeats = lab_parse_int(argv[3], "repeats", 1, 10000); }
    int device = 0;
    cudaCheck(cudaSetDevice(device));
    cudaCheck(cudaGetDeviceProperties(&lab->prop, device));
#ifdef LAB_EMU
    printf("%s under the CPU emulation: every check, small shapes, no timing\n", op);
#else
    lab->peak = gpu_peak(device);
    cudaCheck(cudaEventCreate(&lab->start));
    cudaCheck(cudaEventCreate(&lab->stop));
    // twice the L2, and at least 64 MiB: every line the kernel left in L2 is
    // evicted by the writes, so each repetition starts from DRAM
    lab->flush_bytes = std::max((size_t)2 * (size_t)lab->prop.l2CacheSize, (size_t)64 << 20);
    cudaCheck(cudaMalloc(&lab->flush, lab->flush_bytes));
    lab->copy_gbs = lab_copy_bandwidth(lab);
    printf("%s on %s (sm_%d%d, %d SMs, L2 %d MiB)\n", op, lab->prop.name, lab->prop.major,
           lab->prop.minor, lab->prop.multiProcessorCount, lab->prop.l2CacheSize >> 20);
    printf("peak (%s): bf16 %.1f TFLOP/s, tf32 %.1f, fp32 %.1f, DRAM %.0f GB/s; "
           "measured copy %.0f GB/s\n",
           lab->peak.from_table ? lab->peak.name : "estimated, not in the table",
           lab->peak.tflops_bf16, lab->peak.tflops_tf32, lab->peak.tflops_fp32,
           lab->peak.bandwidth_gbs, lab->copy_gbs);
#endif
}

static inline int lab_wants(const Lab *lab, int version, int block_size) {
    return (lab->version == 0 || lab->version == version) &&
           (lab->block_size == 0 || block_size == 0 || lab->block_size == block_size);
}

static inline void lab_free(Lab *lab) {
#ifdef LAB_EMU
    (void)lab;
#else
    cudaCheck(cudaFree(lab->flush));
    cudaCheck(cudaEventDestroy(lab->start));
    cudaCheck(cudaEventDestroy(lab->stop));
#endif
}

// ----------------------------------------------------------------------------
// inputs

#define LAB_RANDOM_CHUNK ((size_t)1 << 16)

// x[0:n] = normal(0, scale) draws from train.c's Rng, one stream per chunk of
// 65536 (seeded from seed and the chunk's index), so threads can fill chunks
// in parallel and the values do not depend on the thread count
static inline void fill_random(float *x, size_t n, float scale, uint64_t seed) {
    const size_t chunks = (n + LAB_RANDOM_CHUNK - 1) / LAB_RANDOM_CHUNK;
    #pragma omp parallel for
    for (size_t ch = 0; ch < chunks; ch++) {
        Rng rng;
        rng_seed(&rng, seed * 1000003u + ch);
        size_t end = std::min(n, (ch + 1) * LAB_RANDOM_CHUNK);
        for (size_t i = ch * LAB_RANDOM_CHUNK; i < end; i++) { x[i] = scale * rng_normal(&rng); }
    }
}

// n floats, normal(0, scale) (see fill_random)
static inline float *make_random(size_t n, float scale, uint64_t seed) {
    float *x = (float *)mallocCheck(n * sizeof(float));
    fill_random(x, n, scale, seed);
    return x;
}

// n ints uniform in [0, below)
static inline int *make_random_ints(size_t n, int below, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    int *x = (int *)mallocCheck(n * sizeof(int));
    for (size_t i = 0; i < n; i++) { x[i] = (int)rng_below(&rng, (size_t)below); }
    return x;
}

template <typename T>
static inline T *device_alloc(size_t n) {
    T *d = NULL;
    cudaCheck(cudaMalloc((void **)&d, n * sizeof(T)));
    return d;
}

template <typename T>
static inline T *to_device(const T *h, size_t n) {
    T *d = device_alloc<T>(n);
    cudaCheck(cudaMemcpy(d, h, n * sizeof(T), cudaMemcpyHostToDevice));
    return d;
}

// a bf16 copy (round to nearest even) of n host floats, on the device
static inline __nv_bfloat16 *to_device_bf16(const float *h, size_t n) {
    __nv_bfloat16 *tmp = (__nv_bfloat16 *)mallocCheck(n * sizeof(__nv_bfloat16));
    for (size_t i = 0; i < n; i++) { tmp[i] = __float2bfloat16(h[i]); }
    __nv_bfloat16 *d = to_device(tmp, n);
    free(tmp);
    return d;
}

// x rounded to the nearest bf16 (ties to even) and back: inputs as a bf16 kernel
// sees them, for a CPU reference that leaves out the rounding of the inputs
static inline float *make_rounded_bf16(const float *x, size_t n) {
    float *y = (float *)mallocCheck(n * sizeof(float));
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) { y[i] = __bfloat162float(__float2bfloat16(x[i])); }
    return y;
}

// dst (device) = src (host): resets an output that a backward adds into
template <typename T>
static inline void reset_device(T *d, const T *h, size_t n) {
    cudaCheck(cudaMemcpy(d, h, n * sizeof(T), cudaMemcpyHostToDevice));
}

// the root mean square of n floats: the scale for an absolute tolerance
static inline double rms(const float *x, size_t n) {
    double s = 0.0;
    for (size_t i = 0; i < n; i++) { s += (double)x[i] * x[i]; }
    return sqrt(s / (double)(n > 0 ? n : 1));
}

// ----------------------------------------------------------------------------
// validation

static inline float lab_to_float(float x) { return x; }
#ifndef LAB_EMU  // there __nv_bfloat16 is float
static inline float lab_to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
#endif

// every element of d_x (device, n) against ref (host): |x - ref| <= atol + rtol*|ref|.
// Prints OK|FAIL, the worst absolute error and the worst fraction of the
// tolerance used; exits 1 on a mismatch or a non-finite value.
template <typename T>
static inline void validate(const char *what, const T *d_x, const float *ref, size_t n,
                            double atol, double rtol) {
    T *x = (T *)mallocCheck(n * sizeof(T));
    cudaCheck(cudaDeviceSynchronize());
    cudaCheck(cudaMemcpy(x, d_x, n * sizeof(T), cudaMemcpyDeviceToHost));
    double worst_abs = 0.0, worst_frac = 0.0;
    size_t worst_i = 0, bad = 0, first_bad = n;
    // threads take fixed slices and merge their findings under a lock (the
    // arrays reach 10^8 elements; the result does not depend on the thread count)
    #pragma omp parallel
    {
        double t_abs = 0.0, t_frac = 0.0;
        size_t t_i = 0, t_bad = 0, t_first = n;
        #pragma omp for schedule(static) nowait
        for (size_t i = 0; i < n; i++) {
            double xi = lab_to_float(x[i]);
            double d = fabs(xi - (double)ref[i]);
            double tol = atol + rtol * fabs((double)ref[i]);
            double frac = d == 0.0 ? 0.0 : d / tol;  // tol may be 0: exact equality asked
            if (!(frac <= 1.0)) {                    // also catches NaN
                if (t_bad == 0) { t_first = i; }
                t_bad++;
                if (frac != frac) { frac = INFINITY; d = INFINITY; }
            }
            if (d > t_abs) { t_abs = d; }
            if (frac > t_frac) { t_frac = frac; t_i = i; }
        }
        #pragma omp critical
        {
            if (t_abs > worst_abs) { worst_abs = t_abs; }
            if (t_frac > worst_frac || (t_frac == worst_frac && t_i < worst_i)) { worst_frac = t_frac; worst_i = t_i; }
            bad += t_bad;
            if (t_first < first_bad) { first_bad = t_first; }
        }
    }
    printf("%s %-36s maxabs %.2e  worst %.2f of tol (at %zu: %.6g vs %.6g)\n",
           bad ? "FAIL" : "OK  ", what, worst_abs, worst_frac, worst_i,
           (double)lab_to_float(x[worst_i]), (double)ref[worst_i]);
    if (bad) {
        printf("     %zu of %zu elements out of tolerance (atol %.1e, rtol %.1e); first at %zu: "
               "%.6g vs %.6g\n", bad, n, atol, rtol, first_bad,
               (double)lab_to_float(x[first_bad]), (double)ref[first_bad]);
        exit(1);
    }
    free(x);
}

// ----------------------------------------------------------------------------
// timing

// median milliseconds of lab->repeats calls of launch(), each after the L2 was
// flushed; only launch() lies between the two events
template <typename F>
static inline float lab_time(Lab *lab, F launch) {
#ifdef LAB_EMU
    (void)lab;
    launch();  // one more call (outputs that are added into keep working), no timing
    return 0.0f;
#else
    std::vector<float> ms((size_t)lab->repeats);
    launch();  // warm-up: first-launch costs (module load, cuBLAS heuristics)
    cudaCheck(cudaDeviceSynchronize());
    for (int r = 0; r < lab->repeats; r++) {
        cudaCheck(cudaMemsetAsync(lab->flush, r & 0xff, lab->flush_bytes));
        cudaCheck(cudaEventRecord(lab->start));
        launch();
        cudaCheck(cudaEventRecord(lab->stop));
        cudaCheck(cudaEventSynchronize(lab->stop));
        cudaCheck(cudaEventElapsedTime(&ms[(size_t)r], lab->start, lab->stop));
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
#endif
}

static inline double lab_peak(const Lab *lab, PeakKind kind) {
    switch (kind) {
        case PEAK_BANDWIDTH: return lab->peak.bandwidth_gbs;
        case PEAK_FP32: return lab->peak.tflops_fp32;
        case PEAK_TF32: return lab->peak.tflops_tf32;
        case PEAK_BF16: return lab->peak.tflops_bf16;
    }
    return 1.0;
}

static inline const char *lab_peak_name(PeakKind kind) {
    switch (kind) {
        case PEAK_BANDWIDTH: return "DRAM";
        case PEAK_FP32: return "fp32";
        case PEAK_TF32: return "tf32";
        case PEAK_BF16: return "bf16";
    }
    return "?";
}

// Prints one timed result and records it. `amount` is bytes (PEAK_BANDWIDTH:
// the least traffic the op needs, each input read once and each output written
// once) or FLOPs (the others).
static inline void lab_report(Lab *lab, const char *group, int version, const char *name,
                              int block_size, float ms, double amount, PeakKind kind,
                              int yardstick) {
    if (ms <= 0.0f) {  // the CPU emulation: checked, not timed
        printf("  v%-2d %-22s bs %4d  checked\n", version, name, block_size);
        return;
    }
    double value = kind == PEAK_BANDWIDTH ? amount / (ms * 1e-3) / 1e9 : amount / (ms * 1e-3) / 1e12;
    double pct = 100.0 * value / lab_peak(lab, kind);
    char moved[32] = "";  // a memory-bound op: the bytes one call moves
    if (kind == PEAK_BANDWIDTH) { snprintf(moved, sizeof(moved), "%8.1f MB/call", amount / 1e6); }
    printf("  v%-2d %-22s bs %4d  %9.4f ms %s %8.1f %s  %5.1f%% of %s peak%s\n", version, name,
           block_size, ms, moved, value, kind == PEAK_BANDWIDTH ? "GB/s   " : "TFLOP/s",
           pct, lab_peak_name(kind), yardstick ? "  (yardstick)" : "");
    if (lab->num_results < LAB_MAX_RESULTS) {
        LabResult r = {group, version, name, block_size, ms, value, pct, yardstick, kind};
        lab->results[lab->num_results++] = r;
    }
}

// One line per group: the fastest of our versions (any block size), and its
// speed against the group's yardstick: the fastest cuBLAS-style result in the
// group (>1: ours is faster), or, in a group without one, the measured copy
// bandwidth (our GB/s / copy GB/s). Format, for run_all.sh:
//   SUMMARY|op|group|vN name (bs B)|ms|pct of peak|vs yardstick|yardstick
static inline void lab_summary(Lab *lab) {
    if (lab->num_results == 0) { return; }
    printf("\nsummary (median of %d repeats, L2 flushed before each)\n", lab->repeats);
    for (int i = 0; i < lab->num_results; i++) {
        const char *g = lab->results[i].group;
        int seen = 0;
        for (int j = 0; j < i; j++) { seen |= strcmp(lab->results[j].group, g) == 0; }
        if (seen) { continue; }
        const LabResult *best = NULL, *yard = NULL;
        for (int j = i; j < lab->num_results; j++) {
            const LabResult *r = &lab->results[j];
            if (strcmp(r->group, g) != 0) { continue; }
            const LabResult **slot = r->yardstick ? &yard : &best;
            if (*slot == NULL || r->ms < (*slot)->ms) { *slot = r; }
        }
        if (best == NULL) { continue; }
        char yname[96], bname[96];
        double vs;
        if (yard != NULL) {
            vs = yard->ms / best->ms;
            snprintf(yname, sizeof(yname), "v%d %s", yard->version, yard->name);
        } else if (best->kind == PEAK_BANDWIDTH) {
            vs = best->value / lab->copy_gbs;
            snprintf(yname, sizeof(yname), "copy %.0f GB/s", lab->copy_gbs);
        } else {
            vs = 0.0;
            snprintf(yname, sizeof(yname), "-");
        }
        snprintf(bname, sizeof(bname), "v%d %s (bs %d)", best->version, best->name, best->block_size);
        printf("SUMMARY|%s|%s|%s|%.4f|%.1f%% %s|%.2fx|%s\n", lab->op, g, bname, best->ms, best->pct,
               lab_peak_name(best->kind), vs, yname);
    }
}

// ----------------------------------------------------------------------------
// device helpers shared by the kernels

#define WARP_SIZE 32

__device__ __forceinline__ float warp_sum(float x) {
    for (int offset = WARP_SIZE / 2; offset > 0; offset /= 2) {
        x += __shfl_xor_sync(0xffffffffu, x, offset);
    }
    return x;  // every lane holds the sum
}

__device__ __forceinline__ float warp_max(float x) {
    for (int offset = WARP_SIZE / 2; offset > 0; offset /= 2) {
        x = fmaxf(x, __shfl_xor_sync(0xffffffffu, x, offset));
    }
    return x;
}

// sum over the block, every thread gets it; `scratch` holds 32 floats in shared
// memory; blockDim.x is a multiple of 32. Two barriers: the first publishes the
// warp sums, the second keeps a later call from overwriting them too early.
__device__ __forceinline__ float block_sum(float x, float *scratch) {
    const int lane = threadIdx.x % WARP_SIZE, warp = threadIdx.x / WARP_SIZE;
    const int warps = blockDim.x / WARP_SIZE;
    x = warp_sum(x);
    if (lane == 0) { scratch[warp] = x; }
    __syncthreads();
    float s = lane < warps ? scratch[lane] : 0.0f;
    s = warp_sum(s);
    __syncthreads();
    return s;
}

static inline unsigned int ceil_div(size_t a, size_t b) { return (unsigned int)((a + b - 1) / b); }

#endif  // DEV_CUDA_COMMON_H
