/*
dev/cuda/global_norm.cu: the sum of squares of all gradients (GPT-2 124M), the
number whose square root is the global gradient norm for clipping. The sum, not
the root, is what a data-parallel trainer all-reduces across ranks.
CPU twin: gpt2_grad_sumsq in train.c (fixed chunks in double, added in order).
Memory bound: 4 bytes per gradient; the yardstick is the measured copy bandwidth.

Versions (each zeroes its output first; the grid is sized to fill the GPU once
and threads walk the gradients in a grid-stride loop):
  1. each thread sums its elements, then atomicAdd into the one float: as many
     atomics on one address as there are threads, and a different order of
     float additions on every run
  2. each block reduces its threads' sums (shuffles, then shared memory) and
     adds one atomic per block
  3. deterministic: 128-bit loads, one partial per block written to memory,
     and a second one-thread kernel adds the partials in order, in double:
     the same bits on every run of the same GPU
  4. train.cu's grad_norm_kernel and grad_norm_finish_kernel, as the trainer
     (both builds: its gradients are fp32) runs them: one block per chunk of
     NORM_CHUNK (65536) gradients, the CPU twin's chunks, each thread
     summing its 128-bit packs in double; a per-chunk partial in double,
     added in chunk order by one thread, as the CPU adds them. The same
     result as the CPU twin up to the order of the double additions within
     a chunk, on every GPU and every run, whatever the block size (train.cu:
     256). Also checked on two shards of the gradients (a ZeRO-1 rank's
     range): one starting 16-byte aligned with a ragged end, one not aligned,
     which takes the one-element-at-a-time path. The grid is the number of
     chunks (1899 for GPT-2 124M), not the GPU's size

    make -C dev/cuda global_norm && ./dev/cuda/global_norm [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"

// ----------------------------------------------------------------------------
// kernels. out: one float, zeroed before versions 1 and 2

__global__ void global_norm_kernel1(float *out, const float *g, size_t n) {
    float s = 0.0f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        s += g[i] * g[i];
    }
    atomicAdd(out, s);
}

__global__ void global_norm_kernel2(float *out, const float *g, size_t n) {
    __shared__ float scratch[WARP_SIZE];
    float s = 0.0f;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x) {
        s += g[i] * g[i];
    }
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) { atomicAdd(out, s); }
}

// partial[blockIdx.x] = this block's sum of squares
__global__ void global_norm_kernel3(float *partial, const float *g, size_t n) {
    __shared__ float scratch[WARP_SIZE];
    const float4 *g4 = (const float4 *)g;
    const size_t n4 = n / 4, stride = (size_t)gridDim.x * blockDim.x;
    const size_t tid = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    float s = 0.0f;
    for (size_t j = tid; j < n4; j += stride) {
        float4 x = g4[j];
        s += x.x * x.x + x.y * x.y + x.z * x.z + x.w * x.w;
    }
    for (size_t i = 4 * n4 + tid; i < n; i += stride) { s += g[i] * g[i]; }  // the last n % 4
    s = block_sum(s, scratch);
    if (threadIdx.x == 0) { partial[blockIdx.x] = s; }
}

__global__ void global_norm_final_kernel(float *out, const float *partial, int num_partials) {
    double s = 0.0;
    for (int b = 0; b < num_partials; b++) { s += partial[b]; }
    *out = (float)s;
}

// version 4: partial[ch] = the sum of g^2 over chunk ch (NORM_CHUNK
// gradients), in double. Thread t sums the packs t, t + blockDim.x, ... of its
// chunk (NORM_CHUNK % 4 == 0, so a chunk of an aligned g starts aligned), and
// the thread whose pack would run past the chunk's end takes the last
// elements one at a time; an unaligned g (a shard starting inside a group of
// 4) goes one element at a time throughout
__global__ void global_norm_kernel4(double *partial, const float *g, size_t n) {
    __shared__ double sm[WARP_SIZE];
    const size_t ch = blockIdx.x, start = ch * NORM_CHUNK;
    const size_t end = start + NORM_CHUNK < n ? start + NORM_CHUNK : n;
    double s = 0.0;
    if ((uintptr_t)g % 16 == 0) {
        size_t i = start + (size_t)threadIdx.x * F128;
        for (; i + F128 <= end; i += (size_t)blockDim.x * F128) {
            f128 x = load128(g + i);
            for (int e = 0; e < F128; e++) { s += (double)x[e] * x[e]; }
        }
        for (; i < end; i++) { s += (double)g[i] * g[i]; }
    } else {
        for (size_t i = start + threadIdx.x; i < end; i += blockDim.x) { s += (double)g[i] * g[i]; }
    }
    for (int o = WARP_SIZE / 2; o > 0; o /= 2) { s += __shfl_xor_sync(0xffffffffu, s, o); }
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    if (lane == 0) { sm[warp] = s; }
    __syncthreads();
    if (threadIdx.x == 0) {  // the warps' sums in order
        double t = 0.0;
        for (int w = 0; w < (int)(blockDim.x / WARP_SIZE); w++) { t += sm[w]; }
        partial[ch] = t;
    }
}

// total[0] = partial[0] + ... + partial[chunks - 1], in order, by one thread:
// the CPU twin's last loop
__global__ void global_norm_finish_kernel4(double *total, const double *partial, size_t chunks) {
    if (threadIdx.x != 0 || blockIdx.x != 0) { return; }
    double t = 0.0;
    for (size_t ch = 0; ch < chunks; ch++) { t += partial[ch]; }
    total[0] = t;
}

// version 4 over n gradients: train.cu's launches (a block per chunk) at any block size
static void global_norm4(int block_size, double *total, double *partial, const float *g, size_t n) {
    const size_t chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    LAUNCH((unsigned int)chunks, block_size, 0, global_norm_kernel4)(partial, g, n);
    cudaCheck(cudaGetLastError());
    LAUNCH(1, 1, 0, global_norm_finish_kernel4)(total, partial, chunks);
    cudaCheck(cudaGetLastError());
}

// the double on the device against the CPU twin's: |x - ref| <= rtol |ref|
// (validate's format; exits 1 on a mismatch)
static void validate_double(const char *what, const double *d_x, double ref, double rtol) {
    double x = 0.0;
    cudaCheck(cudaMemcpy(&x, d_x, sizeof(double), cudaMemcpyDeviceToHost));
    double d = fabs(x - ref), tol = rtol * fabs(ref);
    int bad = !(d <= tol);  // also catches NaN
    printf("%s %-36s maxabs %.2e  worst %.2f of tol (at 0: %.17g vs %.17g)\n", bad ? "FAIL" : "OK  ", what, d,
           tol > 0.0 ? d / tol : 0.0, x, ref);
    if (bad) { exit(1); }
}

// ----------------------------------------------------------------------------
// launcher: out (1 float), the gradients (n), a scratch of at least
// global_norm_grid(...) floats for version 3

static unsigned int global_norm_grid(int block_size, int num_sms) {
    return (unsigned int)num_sms * (2048u / (unsigned int)block_size);  // 2048 threads per SM
}

static void global_norm(int version, int block_size, float *out, const float *g, size_t n, float *scratch,
                        int num_sms) {
    const unsigned int grid = global_norm_grid(block_size, num_sms);
    switch (version) {
        case 1:
            cudaCheck(cudaMemsetAsync(out, 0, sizeof(float)));
            LAUNCH(grid, block_size, 0, global_norm_kernel1)(out, g, n);
            break;
        case 2:
            cudaCheck(cudaMemsetAsync(out, 0, sizeof(float)));
            LAUNCH(grid, block_size, 0, global_norm_kernel2)(out, g, n);
            break;
        case 3:
            if ((uintptr_t)g % 16 != 0) { die("global_norm v3 needs 16-byte aligned gradients"); }
            LAUNCH(grid, block_size, 0, global_norm_kernel3)(scratch, g, n);
            cudaCheck(cudaGetLastError());
            LAUNCH(1, 1, 0, global_norm_final_kernel)(out, scratch, (int)grid);
            break;
        default: die("global_norm: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "global_norm");
    GPT2Config cfg;
#ifdef LAB_EMU  // a tiny GPT-2 (about 110k parameters: two of version 4's chunks)
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_seq_len = 32; cfg.vocab_size = 100; cfg.padded_vocab_size = pad_vocab(100);
    cfg.num_layers = 2; cfg.channels = 64; cfg.num_heads = 2;
#else
    if (!config_from_preset(&cfg, "d12", 50257)) { die("no d12 preset in train.c"); }
#endif
    GPT2 model;
    gpt2_init(&model, &cfg);  // the CPU twin's model
    const size_t n = model.num_parameters;
    fill_random(model.grads_memory, n, 1e-2f, 1);
    float ref = (float)gpt2_grad_sumsq(&model, 0, n);  // the CPU twin

    const int num_sms = lab.prop.multiProcessorCount;
    float *d_g = to_device(model.grads_memory, n), *d_out = device_alloc<float>(1);
    float *d_scratch = device_alloc<float>(global_norm_grid(32, num_sms));  // the largest grid
    static const char *names[] = {"", "atomic per thread", "atomic per block", "partials, in order"};
    const int block_sizes[] = {64, 128, 256, 512, 1024};
    for (int v = 1; v <= 3; v++) {
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, v, bs)) { continue; }
            global_norm(v, bs, d_out, d_g, n, d_scratch, num_sms);
            char what[64];
            snprintf(what, sizeof(what), "v%d bs %d sum of squares", v, bs);
            // 124M squares summed in float in another order than the CPU's double
            validate(what, d_out, &ref, 1, 0.0, 1e-4);
            float ms = lab_time(&lab, [&] { global_norm(v, bs, d_out, d_g, n, d_scratch, num_sms); });
            lab_report(&lab, "fp32", v, names[v], bs, ms, (double)n * 4, PEAK_BANDWIDTH, 0);
        }
    }
    // version 4, on all gradients and on two shards [lo, hi) (a ZeRO-1 rank's
    // range: train.cu passes grads + lo); bytes: the gradients read once (the
    // partials, 8 bytes per 65536 gradients, are not counted)
    {
        double *d_total = device_alloc<double>(1);
        double *d_partial = device_alloc<double>((n + NORM_CHUNK - 1) / NORM_CHUNK);
        const size_t shards[3][2] = {{0, n}, {4, n - 3}, {3, n}};
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, 4, bs)) { continue; }
            for (int sh = 0; sh < 3; sh++) {
                const size_t lo = shards[sh][0], hi = shards[sh][1];
                global_norm4(bs, d_total, d_partial, d_g + lo, hi - lo);
                char what[80];
                // positive terms summed in double in another order: each sum
                // within (terms - 1) 2^-53 of the exact one, 65536 terms a chunk
                snprintf(what, sizeof(what), "v4 bs %d [%zu, %zu) sum of squares", bs, lo, hi);
                validate_double(what, d_total, gpt2_grad_sumsq(&model, lo, hi), 2.0 * NORM_CHUNK * 0x1p-53);
            }
            float ms = lab_time(&lab, [&] { global_norm4(bs, d_total, d_partial, d_g, n); });
            lab_report(&lab, "fp32", 4, "chunks in double", bs, ms, (double)n * 4, PEAK_BANDWIDTH, 0);
        }
        cudaCheck(cudaFree(d_total)); cudaCheck(cudaFree(d_partial));
    }
    lab_summary(&lab);
    cudaCheck(cudaFree(d_g)); cudaCheck(cudaFree(d_out)); cudaCheck(cudaFree(d_scratch));
    gpt2_free(&model);
    lab_free(&lab);
    return 0;
}
