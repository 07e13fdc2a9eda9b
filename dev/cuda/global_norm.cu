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
#ifdef LAB_EMU  // a tiny GPT-2 (about 30k parameters)
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_seq_len = 32; cfg.vocab_size = 100; cfg.padded_vocab_size = pad_vocab(100);
    cfg.num_layers = 2; cfg.channels = 32; cfg.num_heads = 2;
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
    lab_summary(&lab);
    cudaCheck(cudaFree(d_g)); cudaCheck(cudaFree(d_out)); cudaCheck(cudaFree(d_scratch));
    gpt2_free(&model);
    lab_free(&lab);
    return 0;
}
