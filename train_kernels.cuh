/*
train_kernels.cuh: the device code of train.cu, one kernel (or a few) per layer
of train.c, in train.c's order. Each kernel is named after its CPU twin
(<twin>_kernel); train.cu's launchers (<twin>_gpu, the twin's argument order)
pick the grid and launch them. Two programs include this file:
  - train.cu (nvcc, or g++ under dev/cuda_emu for the whole-trainer emulation)
  - dev/cuda_emu/check_kernels.cpp (g++): each kernel, emulated on the CPU,
    against its train.c twin
so what the emulation checks is this text, not a copy of it.

Include train.c first (the kernels use its LAYERNORM_EPS, GELU_SCALE,
GELU_CUBIC, NORM_CHUNK and NUM_PARAMETER_TENSORS). Under the emulation,
dev/cuda_emu/include's cuda_runtime.h (through cuda_common.h) brings emu.h:
__global__, threadIdx, __syncthreads, WMMA, LAUNCH and DYNAMIC_SMEM.

Memory-bound kernels (all but the matmuls and attention) move their data in
128-bit pieces: cuda_common.h's Packed128 (x128 = X128 floatX, f128 = 4
floats), which needs C and Vp to be multiples of 8 (gpu_model_init checks).

Map, in train.c's layer order:
  constants and helpers  WARP, COLSUM_ROWS, ATT_MAX_HS; to_f / to_x, warp sums,
                         ceil_div (host)
  encoder                encoder_forward_kernel; encoder_backward_wte_kernel,
                         encoder_backward_wte_partial_kernel (frequent tokens'
                         positions in chunks), encoder_backward_wpe_kernel and
                         the host-built token buckets the wte ones read
                         (TokenBuckets); encoder_backward_wte_launch,
                         encoder_backward_wpe_launch
  layernorm              layernorm_forward_kernel<PACKS> (the row in
                         registers), layernorm_recompute_kernel (--recompute),
                         layernorm_backward_kernel<PACKS> (dinp, and dweight
                         and dbias as per-block partials in the same pass),
                         column_finish_kernel (the partials in order),
                         column_partials_kernel (the matmuls' dbias when
                         cuBLASLt's BGRADB epilogue is not used); their
                         launches: layernorm_forward_launch (also the
                         residual's), layernorm_backward_launch,
                         column_sums_launch
  matmul helpers         add_bias_kernel (cuBLASLt does the products; the
                         bias as a kernel: --gelu-fusion 0 and the fallback),
                         add_floats_kernel (dbias += BGRADB's sums)
  attention              the tile products, the forward kernel, and the
                         backward of attention: attention_dot_kernel,
                         attention_backward_dkv_kernel, attention_backward_dq_kernel
                         (the bf16 build's tensor-core kernels for head
                         sizes 64 and 128 are in train_attention.cuh)
  gelu                   gelu_forward_kernel, gelu_backward_kernel
  residual               residual_layernorm_forward_kernel (residual_forward
                         fused with the layernorm_forward after it)
  classifier             classifier_kernel (softmax_crossentropy_forward and
                         _backward fused), loss_mean_kernel (gpt2_loss's mean)
  optimizer              grad_norm_kernel, grad_norm_finish_kernel,
                         adamw_kernel (AdamWTable, adamw_blocks), and the
                         float <-> floatX copies
  LoRA                   lora_scale_kernel (the adapters' scale)
*/
#ifndef TRAIN_KERNELS_CUH
#define TRAIN_KERNELS_CUH
#include "cuda_common.h"  // floatX, cudaCheck, LAUNCH, DYNAMIC_SMEM
#include <mma.h>
#include <stdint.h>  // uintptr_t
#include "train_attention.cuh"  // the bf16 build's tensor-core attention (mma.sync, cp.async)
// ----------------------------------------------------------------------------
// constants and small helpers

#define WARP 32
#define COLSUM_ROWS 64         // rows per partial sum of a column reduction (bias, layernorm)
#define ATT_MAX_HS 128         // the attention kernels handle head sizes up to this

__device__ __forceinline__ float to_f(floatX x) { return (float)x; }
__device__ __forceinline__ floatX to_x(float x) { return (floatX)x; }

// sum over the 32 lanes of a warp: a fixed butterfly, so every lane gets the
// same bits in every run
__device__ __forceinline__ float warp_sum(float v) {
    for (int o = WARP / 2; o > 0; o /= 2) { v += __shfl_xor_sync(0xffffffffu, v, o); }
    return v;
}

__device__ __forceinline__ double warp_sum_d(double v) {
    for (int o = WARP / 2; o > 0; o /= 2) { v += __shfl_xor_sync(0xffffffffu, v, o); }
    return v;
}

static int ceil_div(size_t a, size_t b) { return (int)((a + b - 1) / b); }

// Packed128 (x128, f128, load128/store128 and their cache-streaming
// variants) is in cuda_common.h, shared with the kernel lab.

// ----------------------------------------------------------------------------
// encoder: twin of encoder_forward / encoder_backward. Every kernel moves
// X128 channels per thread with 128-bit accesses (C % X128 == 0).

// twin of encoder_forward: out[b,t,:] = wte[inp[b,t],:] + wpe[t,:]; one
// thread per X128 channels of one (b,t); overwrites out
__global__ void encoder_forward_kernel(floatX *out, const int *inp, const floatX *wte,
                                       const floatX *wpe, int B, int T, int C) {
    size_t idx = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * X128;  // first element
    if (idx >= (size_t)B * T * C) { return; }
    size_t bt = idx / C;
    int c = (int)(idx % C), t = (int)(bt % T);
    x128 e = load128(wte + (size_t)inp[bt] * C + c), p = load128(wpe + (size_t)t * C + c), o;
    for (int k = 0; k < X128; k++) { o[k] = to_x(to_f(e[k]) + to_f(p[k])); }
    store128(out + idx, o);
}

// dst[0..X128) += src[0..X128): the fp32 read-modify-write of X128 channels
// of a gradient row, dst as X128 / F128 f128 accesses (src is a thread's
// local array: indexed, never loaded as a pack, whose 16-byte alignment
// nothing guarantees)
__device__ __forceinline__ void add_floats128(float *dst, const float *src) {
    for (int q = 0; q < X128; q += F128) {
        f128 d = load128(dst + q);
        for (int k = 0; k < F128; k++) { d[k] += src[q + k]; }
        store128(dst + q, d);
    }
}

// acc[0..X128) += the X128 channels of dout at row, channel c
__device__ __forceinline__ void add_row128(float *acc, const floatX *dout, size_t row, int C, int c) {
    x128 d = load128(dout + row * C + c);
    for (int k = 0; k < X128; k++) { acc[k] += to_f(d[k]); }
}

// encoder_backward's dwte: dwte[id,:] += sum of dout[b,t,:] over the
// positions where inp[b,t] == id.
// Deterministic without atomics: the host sorts the positions by token (a
// bucket per distinct id, positions in increasing order). A frequent token
// (a few percent of real text: thousands of positions in a batch) would make
// one block do thousands of serial loads, so a bucket of more than `chunk`
// positions is split into chunks of at most `chunk` positions:
//   encoder_backward_wte_partial_kernel: one block row per chunk sums its
//     positions in order into a partial row (scratch)
//   encoder_backward_wte_kernel: one block row per distinct id, which owns its
//     row of dwte, adds its chunks' partials in chunk order, or (a bucket of
//     at most `chunk` positions, not split) its positions in order.
// The same sums in the same order in every run; an unsplit bucket sums
// exactly as a single pass over its positions. A thread owns X128 channels.
__global__ void encoder_backward_wte_partial_kernel(float *partials, const floatX *dout,
                                                    const int *chunk_starts, const int *chunk_ends,
                                                    const int *positions, int C) {
    int j = blockIdx.x;
    int c = (blockIdx.y * blockDim.x + threadIdx.x) * X128;
    if (c >= C) { return; }
    float s[X128] = {0.0f};
    for (int k = chunk_starts[j]; k < chunk_ends[j]; k++) { add_row128(s, dout, positions[k], C, c); }
    for (int q = 0; q < X128; q += F128) {
        f128 o;
        for (int k = 0; k < F128; k++) { o[k] = s[q + k]; }
        store128(partials + (size_t)j * C + c + q, o);
    }
}

__global__ void encoder_backward_wte_kernel(float *dwte, const floatX *dout, const int *ids,
                                            const int *starts, const int *positions,
                                            const float *partials, const int *partial_starts, int C) {
    int u = blockIdx.x;
    int c = (blockIdx.y * blockDim.x + threadIdx.x) * X128;
    if (c >= C) { return; }
    float s[X128] = {0.0f};
    if (partial_starts[u] < partial_starts[u + 1]) {  // split: its chunks' sums, in chunk order
        for (int j = partial_starts[u]; j < partial_starts[u + 1]; j++) {
            for (int q = 0; q < X128; q += F128) {
                f128 p = load128(partials + (size_t)j * C + c + q);
                for (int k = 0; k < F128; k++) { s[q + k] += p[k]; }
            }
        }
    } else {
        for (int k = starts[u]; k < starts[u + 1]; k++) { add_row128(s, dout, positions[k], C, c); }
    }
    add_floats128(dwte + (size_t)ids[u] * C + c, s);
}

// encoder_backward's dwpe: dwpe[t,c] += sum_b dout[b,t,c]; one thread per
// X128 channels of one t, b in order
__global__ void encoder_backward_wpe_kernel(float *dwpe, const floatX *dout, int B, int T, int C) {
    size_t idx = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * X128;  // t * C + c
    if (idx >= (size_t)T * C) { return; }
    float s[X128] = {0.0f};
    for (int b = 0; b < B; b++) {
        x128 d = load128(dout + (size_t)b * T * C + idx);
        for (int k = 0; k < X128; k++) { s[k] += to_f(d[k]); }
    }
    add_floats128(dwpe + idx, s);
}

// positions per chunk of a split bucket (encoder_backward_wte_partial_kernel):
// bounds the serial loads of one block
#define ENCODER_CHUNK 256

// the buckets (and chunks) of the encoder_backward_wte kernels, built on the
// host from the batch's tokens (B*T ints: cheap next to a step) while the GPU
// runs the forward, then uploaded (token_buckets_upload)
typedef struct {
    int chunk;            // positions per chunk of a split bucket (ENCODER_CHUNK)
    int num_ids;          // distinct token ids in the batch
    int num_chunks;       // chunks of the split buckets (buckets of more than chunk positions)
    int *ids, *starts, *positions;  // host, pinned: (BT), (BT+1), (BT)
    int *partial_starts;  // host, pinned (BT+1): id u's chunks are [partial_starts[u], partial_starts[u+1])
    int *chunk_starts, *chunk_ends;  // host, pinned (max_chunks): chunk j's range of positions
    int *d_ids, *d_starts, *d_positions, *d_partial_starts, *d_chunk_starts, *d_chunk_ends;  // device copies
    float *d_partials;    // device (max_chunks, C): the chunks' sums
    int *count;           // host scratch (V)
} TokenBuckets;

// the most chunks a batch of BT tokens can have: only buckets of c > chunk
// positions are split, into ceil(c / chunk) <= 2 c / chunk chunks, and the
// split buckets hold at most BT positions in all
static size_t token_buckets_max_chunks(size_t BT, int chunk) { return 2 * (BT / (size_t)chunk) + 1; }

static void token_buckets_build(TokenBuckets *tb, const int *inp, size_t BT, int V) {
    memset(tb->count, 0, (size_t)V * sizeof(int));
    for (size_t i = 0; i < BT; i++) { tb->count[inp[i]]++; }
    size_t max_chunks = token_buckets_max_chunks(BT, tb->chunk);
    int u = 0, start = 0, nc = 0;
    for (int v = 0; v < V; v++) {
        if (tb->count[v] == 0) { continue; }
        tb->ids[u] = v;
        tb->starts[u] = start;
        tb->partial_starts[u] = nc;
        if (tb->count[v] > tb->chunk) {  // split into chunks of tb->chunk positions (the last may be shorter)
            for (int k = start; k < start + tb->count[v]; k += tb->chunk) {
                if ((size_t)nc >= max_chunks) {  // internal: token_buckets_max_chunks is wrong
                    die("token_buckets_build: more than the %zu chunks allocated", max_chunks);
                }
                tb->chunk_starts[nc] = k;
                tb->chunk_ends[nc] = k + tb->chunk < start + tb->count[v] ? k + tb->chunk : start + tb->count[v];
                nc++;
            }
        }
        start += tb->count[v];
        tb->count[v] = tb->starts[u];  // now the next free slot of v's bucket
        u++;
    }
    tb->starts[u] = start;
    tb->partial_starts[u] = nc;
    tb->num_ids = u;
    tb->num_chunks = nc;
    for (size_t i = 0; i < BT; i++) { tb->positions[tb->count[inp[i]]++] = (int)i; }
}

// the built buckets to the device, queued on the default stream (the step's)
// behind whatever is running: the host arrays are pinned (cudaMallocHost), so
// the copies are real DMA transfers that return at once; the caller must not
// rebuild the buckets before they are done (an event: train.cu's inputs_free)
static void token_buckets_upload(TokenBuckets *tb, size_t BT) {
    size_t u = (size_t)tb->num_ids, nc = (size_t)tb->num_chunks;
    cudaCheck(cudaMemcpyAsync(tb->d_ids, tb->ids, u * sizeof(int), cudaMemcpyHostToDevice, 0));
    cudaCheck(cudaMemcpyAsync(tb->d_starts, tb->starts, (u + 1) * sizeof(int), cudaMemcpyHostToDevice, 0));
    cudaCheck(cudaMemcpyAsync(tb->d_positions, tb->positions, BT * sizeof(int), cudaMemcpyHostToDevice, 0));
    cudaCheck(cudaMemcpyAsync(tb->d_partial_starts, tb->partial_starts, (u + 1) * sizeof(int),
                              cudaMemcpyHostToDevice, 0));
    if (nc > 0) {
        cudaCheck(cudaMemcpyAsync(tb->d_chunk_starts, tb->chunk_starts, nc * sizeof(int), cudaMemcpyHostToDevice, 0));
        cudaCheck(cudaMemcpyAsync(tb->d_chunk_ends, tb->chunk_ends, nc * sizeof(int), cudaMemcpyHostToDevice, 0));
    }
}

// encoder_backward's dwte from the built buckets: the split buckets' chunk
// sums, then one block row per distinct id (train.cu's launcher and
// check_kernels.cpp both launch through this)
static void encoder_backward_wte_launch(float *dwte, const floatX *dout, const TokenBuckets *tb, int C) {
    // a thread per X128 channels: C / X128 threads per row, in blocks of at
    // most 256 (GPT-2 124M, bf16: one block of 96 threads per id)
    int per_row = ceil_div(C, X128), threads = per_row < 256 ? WARP * ceil_div(per_row, WARP) : 256;
    if (tb->num_chunks > 0) {
        dim3 pgrid(tb->num_chunks, ceil_div(per_row, threads));
        LAUNCH(pgrid, threads, 0, encoder_backward_wte_partial_kernel)(tb->d_partials, dout, tb->d_chunk_starts,
                                                                       tb->d_chunk_ends, tb->d_positions, C);
        cudaCheck(cudaGetLastError());
    }
    dim3 grid(tb->num_ids, ceil_div(per_row, threads));
    LAUNCH(grid, threads, 0, encoder_backward_wte_kernel)(dwte, dout, tb->d_ids, tb->d_starts, tb->d_positions,
                                                          tb->d_partials, tb->d_partial_starts, C);
    cudaCheck(cudaGetLastError());
}

// encoder_backward's dwpe (train.cu's launcher and check_kernels.cpp)
static void encoder_backward_wpe_launch(float *dwpe, const floatX *dout, int B, int T, int C) {
    LAUNCH(ceil_div((size_t)T * C / X128, 256), 256, 0, encoder_backward_wpe_kernel)(dwpe, dout, B, T, C);
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// layernorm: twin of layernorm_forward / layernorm_backward. One warp per row
// (b,t), with the row in registers: lane `lane` holds PACKS x128 packs, pack k
// being the X128 channels from c = (k * WARP + lane) * X128 (when c < C), so
// the warp's accesses to pack k are 32 consecutive 16-byte pieces. PACKS is
// a compile-time bound (an array stays in registers only when every index is
// known at compile time, hence UNROLL): layernorm_packs(C) picks 4, 8 or 16,
// the smallest that holds the row (GPT-2 124M in bf16: 768 / 8 / 32 = 3 packs
// used of 4). Rows of more than LN_MAX_PACKS * WARP * X128 channels (4096 in
// bf16, 2048 in fp32) are refused by gpu_model_init.

// (sm_90, bf16: the 4- and 8-pack instances keep everything in registers;
// the backward's 16-pack one, used only for rows above 2048 bf16 or 1024
// fp32 channels, spills about 100 bytes per thread: ptxas --resource-usage)
#define LN_MAX_PACKS 16      // packs per lane: the longest row the layernorm kernels hold
#define LN_WARPS 8           // warps (rows in flight) per block
#define LN_BWD_SMEM 49152    // bytes of shared memory for the backward's per-warp column sums

#ifdef CUDA_EMU
#define UNROLL               // g++ unrolls on its own, and warns about nvcc's pragma
#else
#define UNROLL _Pragma("unroll")
#endif

// packs per lane for rows of C channels: 4, 8 or 16; 0 when the row is too long
static int layernorm_packs(int C) {
    int need = ceil_div(ceil_div(C, X128), WARP);
    return need <= 4 ? 4 : need <= 8 ? 8 : need <= LN_MAX_PACKS ? LN_MAX_PACKS : 0;
}

// a pack of zeros (the lanes' packs beyond C: never read, but initialised)
__device__ __forceinline__ x128 zero128() {
    x128 z;
    for (int e = 0; e < X128; e++) { z[e] = to_x(0.0f); }
    return z;
}

// one output of layernorm_forward from the row's statistics (shared with the
// recomputation in the backward, so both round the same way)
__device__ __forceinline__ floatX layernorm_out(floatX x, float mean, float rstd, floatX w, floatX b) {
    return to_x((to_f(x) - mean) * rstd * to_f(w) + to_f(b));
}

// the body of layernorm_forward for one row, held in registers (xs: this
// lane's packs), by one warp: the same two passes as the CPU (mean, then the
// variance around it: no cancellation), but over registers, so x is read
// from memory once. Overwrites out, *mean, *rstd.
template <int PACKS>
__device__ void layernorm_row(floatX *out, float *mean, float *rstd, const x128 (&xs)[PACKS],
                              const floatX *weight, const floatX *bias, int C, int lane) {
    float m = 0.0f;
    UNROLL for (int k = 0; k < PACKS; k++) {
        if ((k * WARP + lane) * X128 < C) {
            for (int e = 0; e < X128; e++) { m += to_f(xs[k][e]); }
        }
    }
    m = warp_sum(m) / C;
    float v = 0.0f;
    UNROLL for (int k = 0; k < PACKS; k++) {
        if ((k * WARP + lane) * X128 < C) {
            for (int e = 0; e < X128; e++) { float d = to_f(xs[k][e]) - m; v += d * d; }
        }
    }
    v = warp_sum(v) / C;
    float s = 1.0f / sqrtf(v + LAYERNORM_EPS);
    UNROLL for (int k = 0; k < PACKS; k++) {
        int c = (k * WARP + lane) * X128;
        if (c < C) {
            x128 w = load128(weight + c), b = load128(bias + c), o;
            for (int e = 0; e < X128; e++) { o[e] = layernorm_out(xs[k][e], m, s, w[e], b[e]); }
            store128(out + c, o);
        }
    }
    if (lane == 0) {
        *mean = m;
        *rstd = s;
    }
}

// twin of layernorm_forward: one warp per row, LN_WARPS rows per block;
// overwrites out, mean, rstd
template <int PACKS>
__global__ void __launch_bounds__(LN_WARPS * WARP)
layernorm_forward_kernel(floatX *out, float *mean, float *rstd, const floatX *inp, const floatX *weight,
                         const floatX *bias, size_t N, int C) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP;
    if (row >= N) { return; }
    int lane = threadIdx.x % WARP;
    x128 xs[PACKS];
    UNROLL for (int k = 0; k < PACKS; k++) {
        int c = (k * WARP + lane) * X128;
        xs[k] = c < C ? load128cs(inp + row * C + c) : zero128();  // read again only in the backward
    }
    layernorm_row<PACKS>(out + row * C, mean + row, rstd + row, xs, weight, bias, C, lane);
}

// --recompute: out = layernorm(inp) again from the saved mean and rstd (the
// backward's copy of what the forward computed and did not keep); one thread
// per X128 elements
__global__ void layernorm_recompute_kernel(floatX *out, const floatX *inp, const float *mean,
                                           const float *rstd, const floatX *weight,
                                           const floatX *bias, size_t N, int C) {
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * X128;
    if (i >= N * C) { return; }
    size_t row = i / C;
    int c = (int)(i % C);
    x128 x = load128cs(inp + i), w = load128(weight + c), b = load128(bias + c), o;
    for (int e = 0; e < X128; e++) { o[e] = layernorm_out(x[e], mean[row], rstd[row], w[e], b[e]); }
    store128(out + i, o);
}

// twin of layernorm_backward, with dweight's and dbias's column sums fused:
// one block per COLSUM_ROWS rows; warp w of the block's W warps takes rows
// w, w + W, ... of them, holds each (x and dout) in registers and
//   dx += rstd * (g - mean_c(g) - n * mean_c(g * n)), n = (x - mean) * rstd,
//   g = weight * dout  (the row part: two warp sums)
// then adds dout * n and dout into its own running column sums in shared
// memory (2 * C floats per warp; a lane touches only its own packs'
// channels, so no two threads ever write the same word). At the end the
// block adds its warps' sums in warp order into its partial row (part_w,
// part_b: (blocks, C)), and column_finish_kernel adds the partials in block
// order. Every sum has a fixed order: the same bits in every run, and dout
// and inp are read once (the old column_partials_kernel read both again).
template <int PACKS>
__global__ void __launch_bounds__(LN_WARPS * WARP)
layernorm_backward_kernel(floatX *dinp, float *part_w, float *part_b, const floatX *dout,
                          const floatX *inp, const floatX *weight, const float *mean,
                          const float *rstd, size_t N, int C) {
    DYNAMIC_SMEM(smem);
    int nwarps = blockDim.x / WARP, warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    float *acc_w = (float *)smem + (size_t)warp * 2 * C, *acc_b = acc_w + C;  // this warp's sums
    UNROLL for (int k = 0; k < PACKS; k++) {
        int c = (k * WARP + lane) * X128;
        for (int e = 0; c < C && e < X128; e++) { acc_w[c + e] = 0.0f; acc_b[c + e] = 0.0f; }
    }
    size_t r0 = (size_t)blockIdx.x * COLSUM_ROWS, r1 = r0 + COLSUM_ROWS < N ? r0 + COLSUM_ROWS : N;
    for (size_t row = r0 + warp; row < r1; row += nwarps) {
        x128 xs[PACKS], ds[PACKS];
        UNROLL for (int k = 0; k < PACKS; k++) {
            int c = (k * WARP + lane) * X128;
            // both read for the last time in the step: streamed past L2
            xs[k] = c < C ? load128cs(inp + row * C + c) : zero128();
            ds[k] = c < C ? load128cs(dout + row * C + c) : zero128();
        }
        float mu = mean[row], rs = rstd[row];
        float g_mean = 0.0f, gn_mean = 0.0f;
        UNROLL for (int k = 0; k < PACKS; k++) {
            int c = (k * WARP + lane) * X128;
            if (c < C) {
                x128 w = load128(weight + c);
                for (int e = 0; e < X128; e++) {
                    float n = (to_f(xs[k][e]) - mu) * rs, g = to_f(w[e]) * to_f(ds[k][e]);
                    g_mean += g;
                    gn_mean += g * n;
                }
            }
        }
        g_mean = warp_sum(g_mean) / C;
        gn_mean = warp_sum(gn_mean) / C;
        UNROLL for (int k = 0; k < PACKS; k++) {
            int c = (k * WARP + lane) * X128;
            if (c < C) {
                x128 w = load128(weight + c), dx = load128(dinp + row * C + c);
                for (int e = 0; e < X128; e++) {
                    float n = (to_f(xs[k][e]) - mu) * rs, d = to_f(ds[k][e]), g = to_f(w[e]) * d;
                    dx[e] = to_x(to_f(dx[e]) + rs * (g - g_mean - n * gn_mean));
                    acc_w[c + e] += d * n;
                    acc_b[c + e] += d;
                }
                store128(dinp + row * C + c, dx);
            }
        }
    }
    __syncthreads();  // every warp's sums are complete
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float sw = 0.0f, sb = 0.0f;
        for (int w = 0; w < nwarps; w++) {
            sw += ((float *)smem)[(size_t)w * 2 * C + c];
            sb += ((float *)smem)[(size_t)w * 2 * C + C + c];
        }
        part_w[(size_t)blockIdx.x * C + c] = sw;
        part_b[(size_t)blockIdx.x * C + c] = sb;
    }
}

// matmul_backward's dbias when cuBLASLt's BGRADB epilogue is not used
// (--gelu-fusion 0, or no algorithm with it): column sums of dout (N, C) in
// two deterministic stages, partial sums over COLSUM_ROWS rows each (a
// thread per X128 columns), then column_finish_kernel
__global__ void column_partials_kernel(float *part_b, const floatX *dout, size_t N, int C) {
    int c = (blockIdx.x * blockDim.x + threadIdx.x) * X128;
    size_t chunk = blockIdx.y;
    if (c >= C) { return; }
    size_t i0 = chunk * COLSUM_ROWS, i1 = i0 + COLSUM_ROWS < N ? i0 + COLSUM_ROWS : N;
    float s[X128] = {0.0f};
    for (size_t i = i0; i < i1; i++) { add_row128(s, dout, i, C, c); }
    for (int q = 0; q < X128; q += F128) {
        f128 o;
        for (int k = 0; k < F128; k++) { o[k] = s[q + k]; }
        store128(part_b + chunk * C + c + q, o);
    }
}

// dbias[c] += the partials of column c in chunk order (and dweight[c] when
// dweight != NULL)
__global__ void column_finish_kernel(float *dweight, float *dbias, const float *part_w,
                                     const float *part_b, int chunks, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) { return; }
    float sb = 0.0f, sw = 0.0f;
    for (int k = 0; k < chunks; k++) {
        sb += part_b[(size_t)k * C + c];
        if (dweight != NULL) { sw += part_w[(size_t)k * C + c]; }
    }
    dbias[c] += sb;
    if (dweight != NULL) { dweight[c] += sw; }
}

// The launches of the layernorm kernels, with the template instance for C
// (train.cu's launchers and check_kernels.cpp both launch through these).

// twin of layernorm_forward, or (inp2 != NULL) of residual_forward then
// layernorm_forward: residual = inp + inp2 (the kernel is in the residual
// section)
template <int PACKS>
__global__ void __launch_bounds__(LN_WARPS * WARP)
residual_layernorm_forward_kernel(floatX *residual, floatX *out, float *mean, float *rstd,
                                  const floatX *inp1, const floatX *inp2, const floatX *weight,
                                  const floatX *bias, size_t N, int C);

static void layernorm_forward_launch(floatX *residual, floatX *out, float *mean, float *rstd,
                                     const floatX *inp, const floatX *inp2, const floatX *weight,
                                     const floatX *bias, size_t N, int C) {
    int blocks = ceil_div(N, LN_WARPS), threads = LN_WARPS * WARP, packs = layernorm_packs(C);
    if (inp2 == NULL && packs == 4) {
        LAUNCH(blocks, threads, 0, layernorm_forward_kernel<4>)(out, mean, rstd, inp, weight, bias, N, C);
    } else if (inp2 == NULL && packs == 8) {
        LAUNCH(blocks, threads, 0, layernorm_forward_kernel<8>)(out, mean, rstd, inp, weight, bias, N, C);
    } else if (inp2 == NULL && packs == LN_MAX_PACKS) {
        LAUNCH(blocks, threads, 0, layernorm_forward_kernel<LN_MAX_PACKS>)(out, mean, rstd, inp, weight, bias, N, C);
    } else if (packs == 4) {
        LAUNCH(blocks, threads, 0, residual_layernorm_forward_kernel<4>)(residual, out, mean, rstd, inp, inp2,
                                                                         weight, bias, N, C);
    } else if (packs == 8) {
        LAUNCH(blocks, threads, 0, residual_layernorm_forward_kernel<8>)(residual, out, mean, rstd, inp, inp2,
                                                                         weight, bias, N, C);
    } else if (packs == LN_MAX_PACKS) {
        LAUNCH(blocks, threads, 0, residual_layernorm_forward_kernel<LN_MAX_PACKS>)(residual, out, mean, rstd,
                                                                                    inp, inp2, weight, bias, N, C);
    } else {  // gpu_model_init refuses such a C first
        die("layernorm: rows of C=%d channels are longer than the %d the kernels hold", C,
            LN_MAX_PACKS * WARP * X128);
    }
    cudaCheck(cudaGetLastError());
}

// warps per block of layernorm_backward_kernel: as many (up to LN_WARPS) as
// LN_BWD_SMEM bytes of per-warp column sums allow (at least one: C is at most
// LN_MAX_PACKS * WARP * X128 = 4096 channels, 32 KiB of sums)
static int layernorm_backward_warps(int C) {
    int w = (int)(LN_BWD_SMEM / (2 * (size_t)C * sizeof(float)));
    return w < 1 ? 1 : w > LN_WARPS ? LN_WARPS : w;
}

// twin of layernorm_backward: dinp, dweight and dbias all += (dweight and
// dbias in fp32); scratch holds 2 * ceil(N / COLSUM_ROWS) * C floats
static void layernorm_backward_launch(floatX *dinp, float *dweight, float *dbias, const floatX *dout,
                                      const floatX *inp, const floatX *weight, const float *mean,
                                      const float *rstd, size_t N, int C, float *scratch) {
    int blocks = ceil_div(N, COLSUM_ROWS), warps = layernorm_backward_warps(C), packs = layernorm_packs(C);
    size_t smem = (size_t)warps * 2 * C * sizeof(float);
    float *part_b = scratch, *part_w = scratch + (size_t)blocks * C;
    if (packs == 4) {
        LAUNCH(blocks, warps * WARP, smem, layernorm_backward_kernel<4>)(dinp, part_w, part_b, dout, inp, weight,
                                                                         mean, rstd, N, C);
    } else if (packs == 8) {
        LAUNCH(blocks, warps * WARP, smem, layernorm_backward_kernel<8>)(dinp, part_w, part_b, dout, inp, weight,
                                                                         mean, rstd, N, C);
    } else if (packs == LN_MAX_PACKS) {
        LAUNCH(blocks, warps * WARP, smem, layernorm_backward_kernel<LN_MAX_PACKS>)(dinp, part_w, part_b, dout,
                                                                                    inp, weight, mean, rstd, N, C);
    } else {  // gpu_model_init refuses such a C first
        die("layernorm: rows of C=%d channels are longer than the %d the kernels hold", C,
            LN_MAX_PACKS * WARP * X128);
    }
    cudaCheck(cudaGetLastError());
    if (dweight == NULL && dbias == NULL) { return; }  // a frozen layernorm (LoRA): dinp only
    LAUNCH(ceil_div(C, 256), 256, 0, column_finish_kernel)(dweight, dbias, part_w, part_b, blocks, C);
    cudaCheck(cudaGetLastError());
}

// matmul_backward's dbias by the column sums: dbias (C) += column sums of
// dout (N, C); scratch holds ceil(N / COLSUM_ROWS) * C floats
static void column_sums_launch(float *dbias, const floatX *dout, size_t N, int C, float *scratch) {
    int chunks = ceil_div(N, COLSUM_ROWS), per_row = ceil_div(C, X128);
    int threads = per_row < 256 ? WARP * ceil_div(per_row, WARP) : 256;
    dim3 grid(ceil_div(per_row, threads), chunks);
    LAUNCH(grid, threads, 0, column_partials_kernel)(scratch, dout, N, C);
    cudaCheck(cudaGetLastError());
    LAUNCH(ceil_div(C, 256), 256, 0, column_finish_kernel)(NULL, dbias, NULL, scratch, chunks, C);
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// matmul helpers: cuBLASLt does the products (train.cu); the bias of
// matmul_forward as a kernel of its own, for --gelu-fusion 0 and as the
// fallback of cuBLASLt's BIAS epilogue (matmul_backward's dbias is the column
// sums above)

// out[i,o] += bias[o]: matmul_forward's "+ bias" after a plain product; one
// thread per X128 elements (OC % X128 == 0: a pack never crosses a row)
__global__ void add_bias_kernel(floatX *out, const floatX *bias, size_t N, int OC) {
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * X128;
    if (i >= N * OC) { return; }
    x128 o = load128(out + i), b = load128(bias + i % OC);
    for (int e = 0; e < X128; e++) { o[e] = to_x(to_f(o[e]) + to_f(b[e])); }
    store128(out + i, o);
}

// dst[i] += src[i], i < n: matmul_backward's dbias += the BGRADB epilogue's
// column sums (which cuBLASLt overwrites into a scratch vector)
__global__ void add_floats_kernel(float *dst, const float *src, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) { dst[i] += src[i]; }
}

// ----------------------------------------------------------------------------
// attention: twin of attention_forward / attention_backward, in the
// flash-attention style. The CPU stores att (B,NH,T,T); here the T x T matrix
// lives only tile by tile in shared memory:
//   forward: per (b, h, tile of ATT_BLK query rows) walk the key tiles up to
//     the diagonal; S = q k^T * scale, online softmax (running row max m and
//     sum l; when the max grows, the running output and sum are rescaled by
//     exp(m_old - m_new)), O += P V. At the end O /= l, and the row's
//     log-sum-exp lse = m + log l is saved: att[t,t2] = exp(S - lse) later.
//   backward (per (b,h,t), as on the CPU, with D_t = dout_t . out_t, which is
//     the CPU's dot = sum_t2 att[t2] datt[t2]):
//       P = exp(S - lse), dP = dout v^T, dS = P (dP - D) * scale,
//       dv = P^T dout, dk = dS^T q, dq = dS k.
//     dk, dv are sums over query rows and dq over key rows; no atomics: one
//     kernel per key tile (owns its dk, dv), one per query tile (owns dq).
// Tile products: bf16 on tensor cores (WMMA 16x16x16, fp32 accumulate); the
// FP32 build uses plain fp32 FMAs for the same products.
// A warp owns 16 rows of every tile it writes; a block is ATT_BLK/16 warps.
// Head dims pad to HSP (64 or 128) with zeros in shared memory: zeros add
// nothing to the dot products and the padded outputs are never stored.

// shared-memory tile strides (elements): padded so that rows start in
// different banks; multiples of 8 (16 bytes) as WMMA needs
template <int HSP> struct AttLd { static const int x = HSP + 8; };

// out[r][c] = sum_k a[r][k] * b[c][k] for the warp's 16 rows r0.., all BLK columns
template <int BLK, int HSP>
__device__ void tile_abt(float *out, int ldo, const floatX *a, const floatX *b, int ld, int r0, int lane) {
#ifdef ENABLE_FP32
    for (int e = lane; e < 16 * BLK; e += WARP) {
        int r = r0 + e / BLK, c = e % BLK;
        float s = 0.0f;
        for (int k = 0; k < HSP; k++) { s += a[r * ld + k] * b[c * ld + k]; }
        out[r * ldo + c] = s;
    }
#else
    using namespace nvcuda;
    (void)lane;
    for (int c0 = 0; c0 < BLK; c0 += 16) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::fill_fragment(acc, 0.0f);
        for (int k0 = 0; k0 < HSP; k0 += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> fb;
            wmma::load_matrix_sync(fa, a + r0 * ld + k0, ld);
            wmma::load_matrix_sync(fb, b + c0 * ld + k0, ld);  // b^T, read as column-major
            wmma::mma_sync(acc, fa, fb, acc);
        }
        wmma::store_matrix_sync(out + r0 * ldo + c0, acc, ldo, wmma::mem_row_major);
    }
#endif
}

// out[r][d] += sum_c a[r][c] * b[c][d] for the warp's 16 rows r0..; a is (BLK x BLK), b (BLK x HSP)
template <int BLK, int HSP>
__device__ void tile_ab_acc(float *out, int ldo, const floatX *a, int lda, const floatX *b, int ldb,
                            int r0, int lane) {
#ifdef ENABLE_FP32
    for (int e = lane; e < 16 * HSP; e += WARP) {
        int r = r0 + e / HSP, d = e % HSP;
        float s = out[r * ldo + d];
        for (int c = 0; c < BLK; c++) { s += a[r * lda + c] * b[c * ldb + d]; }
        out[r * ldo + d] = s;
    }
#else
    using namespace nvcuda;
    (void)lane;
    for (int d0 = 0; d0 < HSP; d0 += 16) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::load_matrix_sync(acc, out + r0 * ldo + d0, ldo, wmma::mem_row_major);
        for (int c0 = 0; c0 < BLK; c0 += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb;
            wmma::load_matrix_sync(fa, a + r0 * lda + c0, lda);
            wmma::load_matrix_sync(fb, b + c0 * ldb + d0, ldb);
            wmma::mma_sync(acc, fa, fb, acc);
        }
        wmma::store_matrix_sync(out + r0 * ldo + d0, acc, ldo, wmma::mem_row_major);
    }
#endif
}

// out[c][d] += sum_r a[r][c] * b[r][d] for the warp's 16 rows c0.. of out;
// a is (BLK x BLK) read transposed, b (BLK x HSP)
template <int BLK, int HSP>
__device__ void tile_atb_acc(float *out, int ldo, const floatX *a, int lda, const floatX *b, int ldb,
                             int c0, int lane) {
#ifdef ENABLE_FP32
    for (int e = lane; e < 16 * HSP; e += WARP) {
        int c = c0 + e / HSP, d = e % HSP;
        float s = out[c * ldo + d];
        for (int r = 0; r < BLK; r++) { s += a[r * lda + c] * b[r * ldb + d]; }
        out[c * ldo + d] = s;
    }
#else
    using namespace nvcuda;
    (void)lane;
    for (int d0 = 0; d0 < HSP; d0 += 16) {
        wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc;
        wmma::load_matrix_sync(acc, out + c0 * ldo + d0, ldo, wmma::mem_row_major);
        for (int r0 = 0; r0 < BLK; r0 += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::col_major> fa;
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb;
            wmma::load_matrix_sync(fa, a + r0 * lda + c0, lda);  // a^T, read as column-major
            wmma::load_matrix_sync(fb, b + r0 * ldb + d0, ldb);
            wmma::mma_sync(acc, fa, fb, acc);
        }
        wmma::store_matrix_sync(out + c0 * ldo + d0, acc, ldo, wmma::mem_row_major);
    }
#endif
}

// copies rows [t0, t0+BLK) of one head's q, k or v (part 0, 1, 2 of qkv
// (B,T,3C)) into a shared tile, zeros beyond T and beyond hs
template <int BLK, int HSP>
__device__ void load_head_tile(floatX *tile, const floatX *qkv, int part, int b, int h, int t0,
                               int T, int C, int hs) {
    const int ld = AttLd<HSP>::x;
    for (int e = threadIdx.x; e < BLK * HSP; e += blockDim.x) {
        int r = e / HSP, d = e % HSP, t = t0 + r;
        floatX v = to_x(0.0f);
        if (t < T && d < hs) { v = qkv[((size_t)b * T + t) * 3 * C + (size_t)part * C + (size_t)h * hs + d]; }
        tile[r * ld + d] = v;
    }
}

// the same for a (B,T,C) tensor (out or dout) with heads side by side
template <int BLK, int HSP>
__device__ void load_btc_tile(floatX *tile, const floatX *x, int b, int h, int t0, int T, int C, int hs) {
    const int ld = AttLd<HSP>::x;
    for (int e = threadIdx.x; e < BLK * HSP; e += blockDim.x) {
        int r = e / HSP, d = e % HSP, t = t0 + r;
        floatX v = to_x(0.0f);
        if (t < T && d < hs) { v = x[((size_t)b * T + t) * C + (size_t)h * hs + d]; }
        tile[r * ld + d] = v;
    }
}

// shared memory carving: byte offsets rounded up to 128 (WMMA needs 32)
__host__ __device__ constexpr size_t att_round(size_t x) { return (x + 127) / 128 * 128; }

template <int BLK, int HSP> struct AttFwdSmem {
    static const int ldx = AttLd<HSP>::x, lds = BLK + 4, ldp = BLK + 8, ldo = HSP + 4;
    static constexpr size_t q = 0;
    static constexpr size_t k = q + att_round(sizeof(floatX) * BLK * ldx);
    static constexpr size_t v = k + att_round(sizeof(floatX) * BLK * ldx);
    static constexpr size_t s = v + att_round(sizeof(floatX) * BLK * ldx);
    static constexpr size_t p = s + att_round(sizeof(float) * BLK * lds);
    static constexpr size_t o = p + att_round(sizeof(floatX) * BLK * ldp);
    static constexpr size_t bytes = o + att_round(sizeof(float) * BLK * ldo);
};

// one block per (query tile, b*NH + h); writes out (B,T,C) and lse (B,NH,T)
template <int BLK, int HSP>
__global__ void __launch_bounds__(BLK * 2)
attention_forward_kernel(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH) {
    typedef AttFwdSmem<BLK, HSP> S;
    DYNAMIC_SMEM(smem);
    floatX *sq = (floatX *)(smem + S::q), *sk = (floatX *)(smem + S::k), *sv = (floatX *)(smem + S::v);
    float *ss = (float *)(smem + S::s), *so = (float *)(smem + S::o);
    floatX *sp = (floatX *)(smem + S::p);
    int qt = blockIdx.x, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int hs = C / NH, warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    float scale = 1.0f / sqrtf((float)hs);
    int r0 = warp * 16;                  // the warp's 16 rows
    int row = r0 + lane / 2, half = lane % 2;  // two lanes per row, half the columns each
    int t = qt * BLK + row;              // the query position of this lane's row
    load_head_tile<BLK, HSP>(sq, qkv, 0, b, h, qt * BLK, T, C, hs);
    for (int e = threadIdx.x; e < BLK * S::ldo; e += blockDim.x) { so[e] = 0.0f; }
    float m = 0.0f, l = 0.0f;  // running max and sum of this row (valid after tile 0)
    for (int kt = 0; kt <= qt; kt++) {
        __syncthreads();  // the previous tile's k, v are no longer read
        load_head_tile<BLK, HSP>(sk, qkv, 1, b, h, kt * BLK, T, C, hs);
        load_head_tile<BLK, HSP>(sv, qkv, 2, b, h, kt * BLK, T, C, hs);
        __syncthreads();
        tile_abt<BLK, HSP>(ss, S::lds, sq, sk, S::ldx, r0, lane);
        __syncwarp();
        // online softmax over this tile's columns t2 <= t (the causal mask).
        // Every row has at least one such column in every tile it visits
        // (all of them below the diagonal, column 0 on it), though one half
        // of a row may have none.
        int c0 = half * (BLK / 2);
        float tmax = 0.0f;
        int any = 0;
        for (int c = c0; c < c0 + BLK / 2; c++) {
            int t2 = kt * BLK + c;
            if (t2 <= t) {
                float s = ss[row * S::lds + c] * scale;
                tmax = any ? fmaxf(tmax, s) : s;
                any = 1;
            }
        }
        // combine the two halves (a half with no valid column, any = 0, takes the other's)
        float omax = __shfl_xor_sync(0xffffffffu, tmax, 1);
        int oany = __shfl_xor_sync(0xffffffffu, any, 1);
        if (!any) { tmax = omax; } else if (oany) { tmax = fmaxf(tmax, omax); }
        float m_new = kt == 0 ? tmax : fmaxf(m, tmax);
        float corr = kt == 0 ? 0.0f : expf(m - m_new);  // tile 0: nothing to rescale yet
        float psum = 0.0f;
        for (int c = c0; c < c0 + BLK / 2; c++) {
            int t2 = kt * BLK + c;
            float p = 0.0f;
            if (t2 <= t) { p = expf(ss[row * S::lds + c] * scale - m_new); }
            psum += p;
            sp[row * S::ldp + c] = to_x(p);
        }
        psum += __shfl_xor_sync(0xffffffffu, psum, 1);
        l = l * corr + psum;
        m = m_new;
        for (int d = half * (HSP / 2); d < (half + 1) * (HSP / 2); d++) { so[row * S::ldo + d] *= corr; }
        __syncwarp();
        tile_ab_acc<BLK, HSP>(so, S::ldo, sp, S::ldp, sv, S::ldx, r0, lane);
        __syncwarp();
    }
    if (t < T) {
        float inv = 1.0f / l;  // l >= 1: the max term is exp(0)
        floatX *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
        for (int d = half; d < hs; d += 2) { o[d] = to_x(so[row * S::ldo + d] * inv); }
        if (half == 0) { lse[((size_t)b * NH + h) * T + t] = m + logf(l); }
    }
}

// D[b,h,t] = dout[b,t,h,:] . out[b,t,h,:]; one warp per (b,t,h)
__global__ void attention_dot_kernel(float *D, const floatX *dout, const floatX *out, int B, int T,
                                     int C, int NH) {
    size_t w = (size_t)blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP;
    if (w >= (size_t)B * T * NH) { return; }
    int lane = threadIdx.x % WARP, hs = C / NH;
    int h = (int)(w % NH);
    size_t bt = w / NH;
    int t = (int)(bt % T), b = (int)(bt / T);
    const floatX *d = dout + bt * C + (size_t)h * hs, *o = out + bt * C + (size_t)h * hs;
    float s = 0.0f;
    for (int i = lane; i < hs; i += WARP) { s += to_f(d[i]) * to_f(o[i]); }
    s = warp_sum(s);
    if (lane == 0) { D[((size_t)b * NH + h) * T + t] = s; }
}

template <int BLK, int HSP> struct AttBwdSmem {
    static const int ldx = AttLd<HSP>::x, lds = BLK + 4, ldp = BLK + 8, lda = HSP + 4;
    static constexpr size_t q = 0;   // q (dkv kernel) or k (dq kernel)
    static constexpr size_t k = q + att_round(sizeof(floatX) * BLK * ldx);
    static constexpr size_t v = k + att_round(sizeof(floatX) * BLK * ldx);
    static constexpr size_t dout = v + att_round(sizeof(floatX) * BLK * ldx);
    static constexpr size_t s = dout + att_round(sizeof(floatX) * BLK * ldx);  // S, then dP
    static constexpr size_t p = s + att_round(sizeof(float) * BLK * lds);       // P, then dS
    static constexpr size_t acc1 = p + att_round(sizeof(floatX) * BLK * ldp);   // dk or dq
    static constexpr size_t acc2 = acc1 + att_round(sizeof(float) * BLK * lda); // dv
    static constexpr size_t lse = acc2 + att_round(sizeof(float) * BLK * lda);
    static constexpr size_t dd = lse + att_round(sizeof(float) * BLK);
    static constexpr size_t bytes = dd + att_round(sizeof(float) * BLK);
};

// P = exp(S * scale - lse) for the warp's rows (0 where masked or beyond T),
// written to sp; S (fp32) in ss. Query row r is position tq0 + r, key column c
// is position tk0 + c.
template <int BLK>
__device__ void att_probs(floatX *sp, int ldp, const float *ss, int lds, const float *slse, int r0,
                          int lane, int tq0, int tk0, int T, float scale) {
    for (int e = lane; e < 16 * BLK; e += WARP) {
        int r = r0 + e / BLK, c = e % BLK;
        int t = tq0 + r, t2 = tk0 + c;
        float p = 0.0f;
        if (t < T && t2 <= t) { p = expf(ss[r * lds + c] * scale - slse[r]); }
        sp[r * ldp + c] = to_x(p);
    }
}

// dS = P (dP - D) * scale in place of P, for the warp's rows; dP (fp32) in ss
template <int BLK>
__device__ void att_dscores(floatX *sp, int ldp, const float *ss, int lds, const float *sD, int r0,
                            int lane, float scale) {
    for (int e = lane; e < 16 * BLK; e += WARP) {
        int r = r0 + e / BLK, c = e % BLK;
        float p = to_f(sp[r * ldp + c]);
        sp[r * ldp + c] = to_x(p * (ss[r * lds + c] - sD[r]) * scale);
    }
}

// dk and dv of one key tile: one block per (key tile, b*NH + h), walking the
// query tiles from the diagonal to the end. Overwrites its rows of dqkv's k
// and v parts.
template <int BLK, int HSP>
__global__ void __launch_bounds__(BLK * 2)
attention_backward_dkv_kernel(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                              const float *D, int B, int T, int C, int NH) {
    typedef AttBwdSmem<BLK, HSP> S;
    DYNAMIC_SMEM(smem);
    floatX *sq = (floatX *)(smem + S::q), *sk = (floatX *)(smem + S::k), *sv = (floatX *)(smem + S::v);
    floatX *sdo = (floatX *)(smem + S::dout), *sp = (floatX *)(smem + S::p);
    float *ss = (float *)(smem + S::s), *sdk = (float *)(smem + S::acc1), *sdv = (float *)(smem + S::acc2);
    float *slse = (float *)(smem + S::lse), *sD = (float *)(smem + S::dd);
    int kt = blockIdx.x, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int hs = C / NH, warp = threadIdx.x / WARP, lane = threadIdx.x % WARP, r0 = warp * 16;
    float scale = 1.0f / sqrtf((float)hs);
    int nt = (T + BLK - 1) / BLK;
    load_head_tile<BLK, HSP>(sk, qkv, 1, b, h, kt * BLK, T, C, hs);
    load_head_tile<BLK, HSP>(sv, qkv, 2, b, h, kt * BLK, T, C, hs);
    for (int e = threadIdx.x; e < BLK * S::lda; e += blockDim.x) { sdk[e] = 0.0f; sdv[e] = 0.0f; }
    for (int qt = kt; qt < nt; qt++) {
        __syncthreads();  // the previous query tile is no longer read
        load_head_tile<BLK, HSP>(sq, qkv, 0, b, h, qt * BLK, T, C, hs);
        load_btc_tile<BLK, HSP>(sdo, dout, b, h, qt * BLK, T, C, hs);
        for (int r = threadIdx.x; r < BLK; r += blockDim.x) {
            int t = qt * BLK + r;
            slse[r] = t < T ? lse[((size_t)b * NH + h) * T + t] : 0.0f;
            sD[r] = t < T ? D[((size_t)b * NH + h) * T + t] : 0.0f;
        }
        __syncthreads();
        // rows of S, P, dP, dS are query rows; each warp computes 16 of them
        tile_abt<BLK, HSP>(ss, S::lds, sq, sk, S::ldx, r0, lane);       // S = q k^T
        __syncwarp();
        att_probs<BLK>(sp, S::ldp, ss, S::lds, slse, r0, lane, qt * BLK, kt * BLK, T, scale);
        __syncwarp();
        tile_abt<BLK, HSP>(ss, S::lds, sdo, sv, S::ldx, r0, lane);      // dP = dout v^T
        __syncthreads();  // dv reads every row of P
        tile_atb_acc<BLK, HSP>(sdv, S::lda, sp, S::ldp, sdo, S::ldx, r0, lane);  // dv += P^T dout
        __syncthreads();  // P is overwritten by dS next
        att_dscores<BLK>(sp, S::ldp, ss, S::lds, sD, r0, lane, scale);
        __syncthreads();  // dk reads every row of dS
        tile_atb_acc<BLK, HSP>(sdk, S::lda, sp, S::ldp, sq, S::ldx, r0, lane);   // dk += dS^T q
    }
    __syncthreads();
    for (int e = threadIdx.x; e < BLK * HSP; e += blockDim.x) {
        int r = e / HSP, d = e % HSP, t = kt * BLK + r;
        if (t < T && d < hs) {
            floatX *row = dqkv + ((size_t)b * T + t) * 3 * C + (size_t)h * hs + d;
            row[C] = to_x(sdk[r * S::lda + d]);
            row[2 * C] = to_x(sdv[r * S::lda + d]);
        }
    }
}

// dq of one query tile: one block per (query tile, b*NH + h), walking the key
// tiles up to the diagonal. Overwrites its rows of dqkv's q part.
template <int BLK, int HSP>
__global__ void __launch_bounds__(BLK * 2)
attention_backward_dq_kernel(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                             const float *D, int B, int T, int C, int NH) {
    typedef AttBwdSmem<BLK, HSP> S;
    DYNAMIC_SMEM(smem);
    floatX *sq = (floatX *)(smem + S::q), *sk = (floatX *)(smem + S::k), *sv = (floatX *)(smem + S::v);
    floatX *sdo = (floatX *)(smem + S::dout), *sp = (floatX *)(smem + S::p);
    float *ss = (float *)(smem + S::s), *sdq = (float *)(smem + S::acc1);
    float *slse = (float *)(smem + S::lse), *sD = (float *)(smem + S::dd);
    int qt = blockIdx.x, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    int hs = C / NH, warp = threadIdx.x / WARP, lane = threadIdx.x % WARP, r0 = warp * 16;
    float scale = 1.0f / sqrtf((float)hs);
    load_head_tile<BLK, HSP>(sq, qkv, 0, b, h, qt * BLK, T, C, hs);
    load_btc_tile<BLK, HSP>(sdo, dout, b, h, qt * BLK, T, C, hs);
    for (int r = threadIdx.x; r < BLK; r += blockDim.x) {
        int t = qt * BLK + r;
        slse[r] = t < T ? lse[((size_t)b * NH + h) * T + t] : 0.0f;
        sD[r] = t < T ? D[((size_t)b * NH + h) * T + t] : 0.0f;
    }
    for (int e = threadIdx.x; e < BLK * S::lda; e += blockDim.x) { sdq[e] = 0.0f; }
    for (int kt = 0; kt <= qt; kt++) {
        __syncthreads();
        load_head_tile<BLK, HSP>(sk, qkv, 1, b, h, kt * BLK, T, C, hs);
        load_head_tile<BLK, HSP>(sv, qkv, 2, b, h, kt * BLK, T, C, hs);
        __syncthreads();
        // every row of S, P, dP, dS and dq is the warp's own: no block syncs inside
        tile_abt<BLK, HSP>(ss, S::lds, sq, sk, S::ldx, r0, lane);       // S = q k^T
        __syncwarp();
        att_probs<BLK>(sp, S::ldp, ss, S::lds, slse, r0, lane, qt * BLK, kt * BLK, T, scale);
        __syncwarp();
        tile_abt<BLK, HSP>(ss, S::lds, sdo, sv, S::ldx, r0, lane);      // dP = dout v^T
        __syncwarp();
        att_dscores<BLK>(sp, S::ldp, ss, S::lds, sD, r0, lane, scale);
        __syncwarp();
        tile_ab_acc<BLK, HSP>(sdq, S::lda, sp, S::ldp, sk, S::ldx, r0, lane);  // dq += dS k
        __syncwarp();
    }
    __syncthreads();
    for (int e = threadIdx.x; e < BLK * HSP; e += blockDim.x) {
        int r = e / HSP, d = e % HSP, t = qt * BLK + r;
        if (t < T && d < hs) {
            dqkv[((size_t)b * T + t) * 3 * C + (size_t)h * hs + d] = to_x(sdq[r * S::lda + d]);
        }
    }
}

// ----------------------------------------------------------------------------
// GELU: twin of gelu_forward / gelu_backward (the same formulas: s = 0.5 (1 +
// tanh u) = 1 / (1 + exp(-2u))). The matmuls fuse GELU into cuBLASLt's
// epilogue; these run when cuBLASLt offers no algorithm with that epilogue.
// One thread per X128 elements; a tail of N % X128 elements (none in the
// trainer: N is a multiple of C) is done one element at a time by the last
// thread.

__device__ __forceinline__ float gelu_s(float x) {
    float u = GELU_SCALE * (x + GELU_CUBIC * x * x * x);
    return 1.0f / (1.0f + expf(-2.0f * u));
}

__device__ __forceinline__ float gelu_f(float x) { return x * gelu_s(x); }

// gelu'(x) * d (gelu_backward's formula)
__device__ __forceinline__ float gelu_grad(float x, float d) {
    float s = gelu_s(x);
    float du = GELU_SCALE * (1.0f + 3.0f * GELU_CUBIC * x * x);
    return (s + 2.0f * x * s * (1.0f - s) * du) * d;
}

// twin of gelu_forward: out = x * s(x); overwrites
__global__ void gelu_forward_kernel(floatX *out, const floatX *inp, size_t N) {
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * X128;
    if (i + X128 <= N) {
        x128 x = load128(inp + i), o;  // (fch: read again by the backward, kept in cache)
        for (int e = 0; e < X128; e++) { o[e] = to_x(gelu_f(to_f(x[e]))); }
        store128(out + i, o);
    } else {
        for (; i < N; i++) { out[i] = to_x(gelu_f(to_f(inp[i]))); }
    }
}

// the backward of gelu_forward (gelu_backward's formula): dinp = gelu'(inp) *
// dout; overwrites (dinp may be dout: in place)
__global__ void gelu_backward_kernel(floatX *dinp, const floatX *inp, const floatX *dout, size_t N) {
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * X128;
    if (i + X128 <= N) {
        x128 x = load128cs(inp + i), d = load128cs(dout + i), o;
        for (int e = 0; e < X128; e++) { o[e] = to_x(gelu_grad(to_f(x[e]), to_f(d[e]))); }
        store128(dinp + i, o);
    } else {
        for (; i < N; i++) { dinp[i] = to_x(gelu_grad(to_f(inp[i]), to_f(dout[i]))); }
    }
}

// ----------------------------------------------------------------------------
// residual: twin of residual_forward, fused with the layernorm_forward that
// always follows it

// twin of residual_forward then layernorm_forward: residual = inp1 + inp2
// (rounded to floatX first, because the backward's layernorm reads the stored
// residual), then out = layernorm(residual); one warp per row, the sum kept
// in registers for the layernorm (written once, never read back here);
// overwrites. Launched by layernorm_forward_launch.
template <int PACKS>
__global__ void __launch_bounds__(LN_WARPS * WARP)
residual_layernorm_forward_kernel(floatX *residual, floatX *out, float *mean, float *rstd,
                                  const floatX *inp1, const floatX *inp2, const floatX *weight,
                                  const floatX *bias, size_t N, int C) {
    size_t row = (size_t)blockIdx.x * (blockDim.x / WARP) + threadIdx.x / WARP;
    if (row >= N) { return; }
    int lane = threadIdx.x % WARP;
    x128 xs[PACKS];
    UNROLL for (int k = 0; k < PACKS; k++) {
        int c = (k * WARP + lane) * X128;
        xs[k] = zero128();
        if (c < C) {
            x128 a = load128cs(inp1 + row * C + c), b = load128cs(inp2 + row * C + c);
            for (int e = 0; e < X128; e++) { xs[k][e] = to_x(to_f(a[e]) + to_f(b[e])); }
            store128(residual + row * C + c, xs[k]);
        }
    }
    layernorm_row<PACKS>(out + row * C, mean + row, rstd + row, xs, weight, bias, C, lane);
}

// ----------------------------------------------------------------------------
// fused classifier: twin of softmax_crossentropy_forward followed by
// softmax_crossentropy_backward. One block per row (b,t): one read of the row
// for its max and sum (online: when a larger value arrives, the running sum
// is rescaled by exp(old max - new max)), then loss = log(sum) + max -
// l[target], and (when dloss != 0 is wanted) a second read that overwrites
// the logits with dlogits = (softmax - onehot(target)) * dloss. The
// probabilities are never stored. Loops run to V; the padding gets 0.
// Both reads and the write are 128-bit (thread t takes packs t, t + threads,
// ...: a warp reads 512 consecutive bytes); Vp % X128 == 0 (gpu_model_init),
// and the pack that holds V skips its elements past V in the forward.

#ifndef CLASSIFIER_THREADS  // any multiple of 32 up to 1024 (dev/cuda_emu uses fewer)
#define CLASSIFIER_THREADS 1024
#endif

// merges (m2, s2) into (m, s): sums of exp(x - m) over two sets
__device__ __forceinline__ void softmax_merge(float *m, float *s, int *n, float m2, float s2, int n2) {
    if (n2 == 0) { return; }
    if (*n == 0) { *m = m2; *s = s2; *n = n2; return; }
    float mx = fmaxf(*m, m2);
    *s = *s * expf(*m - mx) + s2 * expf(m2 - mx);
    *m = mx;
    *n += n2;
}

// adds one value x: a single exp, of whichever of x and the max is smaller
__device__ __forceinline__ void softmax_add(float *m, float *s, int *n, float x) {
    if (*n == 0) {
        *m = x;
        *s = 1.0f;
    } else if (x > *m) {
        *s = *s * expf(*m - x) + 1.0f;
        *m = x;
    } else {
        *s += expf(x - *m);
    }
    (*n)++;
}

// one block per row (b,t), as described above: losses[i] overwritten, and
// with write_grad the row's logits overwritten by dlogits
__global__ void __launch_bounds__(CLASSIFIER_THREADS)
classifier_kernel(floatX *logits, float *losses, const int *targets, float dloss, int write_grad,
                  int V, int Vp) {
    __shared__ float sm_m[CLASSIFIER_THREADS / WARP], sm_s[CLASSIFIER_THREADS / WARP];
    __shared__ int sm_n[CLASSIFIER_THREADS / WARP];
    size_t i = blockIdx.x;
    floatX *l = logits + i * Vp;
    float m = 0.0f, s = 0.0f;
    int n = 0;  // how many values this thread has seen (m is valid when n > 0)
    for (int v0 = threadIdx.x * X128; v0 < V; v0 += blockDim.x * X128) {
        x128 x = load128(l + v0);  // kept in cache: the second read below comes soon
        for (int e = 0; e < X128 && v0 + e < V; e++) { softmax_add(&m, &s, &n, to_f(x[e])); }
    }
    // warp, then block: fixed shuffle and index orders (deterministic)
    for (int o = WARP / 2; o > 0; o /= 2) {
        float m2 = __shfl_xor_sync(0xffffffffu, m, o), s2 = __shfl_xor_sync(0xffffffffu, s, o);
        int n2 = __shfl_xor_sync(0xffffffffu, n, o);
        softmax_merge(&m, &s, &n, m2, s2, n2);
    }
    int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP, nwarps = blockDim.x / WARP;
    if (lane == 0) { sm_m[warp] = m; sm_s[warp] = s; sm_n[warp] = n; }
    __syncthreads();
    m = sm_m[0]; s = sm_s[0]; n = sm_n[0];
    for (int w = 1; w < nwarps; w++) { softmax_merge(&m, &s, &n, sm_m[w], sm_s[w], sm_n[w]); }
    int target = targets[i];
    float lt = to_f(l[target]);
    __syncthreads();  // every thread has read l[target] before it may be overwritten
    if (threadIdx.x == 0) { losses[i] = logf(s) + m - lt; }
    if (!write_grad) { return; }
    float inv = 1.0f / s;
    for (int v0 = threadIdx.x * X128; v0 < Vp; v0 += blockDim.x * X128) {
        x128 x = load128cs(l + v0), g;  // the last read of the logits
        for (int e = 0; e < X128; e++) {
            int v = v0 + e;
            float p = v < V ? expf(to_f(x[e]) - m) * inv : 0.0f;  // the padding's gradient is 0
            g[e] = to_x((p - (v == target ? 1.0f : 0.0f)) * dloss);
        }
        store128(l + v0, g);  // dlogits: read next by the classifier matmul's backward
    }
}

// the mean of gpt2_loss: mean[0] = (sum of losses[0..n)) / n, summed in
// double on the device so that a step reads one float, not B*T of them. One
// block of LOSS_THREADS: thread t sums a contiguous slice in order, then
// thread 0 adds the slices' sums in order: a fixed order, the same bits in
// every run (the CPU sums all n in one pass; the two differ by a rounding of
// a double, far below the float the result is)
#define LOSS_THREADS 256
__global__ void __launch_bounds__(LOSS_THREADS) loss_mean_kernel(float *mean, const float *losses, size_t n) {
    __shared__ double sm[LOSS_THREADS];
    size_t t = threadIdx.x, per = (n + LOSS_THREADS - 1) / LOSS_THREADS;
    size_t lo = t * per < n ? t * per : n, hi = lo + per < n ? lo + per : n;
    double s = 0.0;
    for (size_t i = lo; i < hi; i++) { s += losses[i]; }
    sm[t] = s;
    __syncthreads();
    if (t == 0) {
        double total = 0.0;
        for (int k = 0; k < LOSS_THREADS; k++) { total += sm[k]; }
        mean[0] = (float)(total / (double)n);
    }
}

// ----------------------------------------------------------------------------
// optimizer: twins of gpt2_grad_sumsq and gpt2_update

// partial[ch] = sum of g^2 over chunk ch of NORM_CHUNK gradients, in double
// (the same chunks as the CPU; grad_norm_finish_kernel adds them in order).
// 128-bit loads when g is 16-byte aligned (always, but for a ZeRO-1 shard
// that starts inside a group of 4 floats): thread t sums the packs t, t +
// threads, ... of its chunk (NORM_CHUNK is a multiple of 4), and the one
// thread whose pack runs past the end takes the last n % 4 one at a time
__global__ void grad_norm_kernel(double *partial, const float *g, size_t n) {
    __shared__ double sm[32];
    size_t ch = blockIdx.x, start = ch * NORM_CHUNK;
    size_t end = start + NORM_CHUNK < n ? start + NORM_CHUNK : n;
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
    s = warp_sum_d(s);
    int warp = threadIdx.x / WARP, lane = threadIdx.x % WARP;
    if (lane == 0) { sm[warp] = s; }
    __syncthreads();
    if (threadIdx.x == 0) {
        double t = 0.0;
        for (int w = 0; w < (int)(blockDim.x / WARP); w++) { t += sm[w]; }
        partial[ch] = t;
    }
}

// total[0] = the sum of grad_norm_kernel's partials[0..chunks), in index
// order by one thread: exactly the host's loop in gpt2_grad_sumsq (a few
// thousand adds for GPT-2 124M), so a step reads one double
__global__ void grad_norm_finish_kernel(double *total, const double *partial, size_t chunks) {
    if (threadIdx.x != 0 || blockIdx.x != 0) { return; }
    double t = 0.0;
    for (size_t ch = 0; ch < chunks; ch++) { t += partial[ch]; }
    total[0] = t;
}

// per-tensor facts for the one AdamW launch: where each tensor ends in the
// flat parameter array and whether it decays (spec_decays, the CPU's rule)
typedef struct {
    size_t end[NUM_PARAMETER_TENSORS];
    int decays[NUM_PARAMETER_TENSORS];
} AdamWTable;

// one element of gpt2_update's AdamW: updates *m and *v, returns the new
// parameter (the formulas of gpt2_update)
__device__ __forceinline__ float adamw_one(float p, float grad, float *m, float *v, float wd, float lr,
                                           float beta1, float beta2, float eps, float bc1, float bc2) {
    float mi = beta1 * *m + (1.0f - beta1) * grad;
    float vi = beta2 * *v + (1.0f - beta2) * grad * grad;
    *m = mi;
    *v = vi;
    float mhat = mi / bc1;
    float vhat = vi / bc2;
    return p - lr * (mhat / (sqrtf(vhat) + eps) + wd * p);
}

// elements [lo, lo + n) of the flat arrays (m and v hold only those, from
// index 0). A thread takes X128 elements from i0, a multiple of X128 (8 in
// bf16: the compute copy params_x gets one 128-bit store; the fp32 arrays
// X128 / 4 each). When lo is a multiple of X128 (one process, or a ZeRO-1
// shard that starts on one) m and v are aligned the same way and every
// access is 128-bit; the packs at either end of the range, and every pack
// of a shard that starts elsewhere, go one element at a time. A tensor's
// decay is looked up per element (tensors start at multiples of C, but the
// kernel does not rely on it).
__global__ void adamw_kernel(float *params, floatX *params_x, const float *grads, float *m, float *v,
                             size_t lo, size_t n, AdamWTable tab, float lr, float beta1,
                             float beta2, float eps, float weight_decay, float grad_scale,
                             float bc1, float bc2) {
    size_t i0 = lo / X128 * X128 + ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * X128;
    if (i0 >= lo + n) { return; }
    int k = 0;
    while (k < NUM_PARAMETER_TENSORS - 1 && i0 >= tab.end[k]) { k++; }
    float wd[X128];
    for (int e = 0; e < X128; e++) {
        while (k < NUM_PARAMETER_TENSORS - 1 && i0 + e >= tab.end[k]) { k++; }
        wd[e] = tab.decays[k] ? weight_decay : 0.0f;
    }
    if (lo % X128 == 0 && i0 + X128 <= lo + n) {  // the whole pack, 128-bit
        size_t j0 = i0 - lo;
        x128 px;
        for (int q = 0; q < X128; q += F128) {
            // every fp32 array is read and written once per step, 28 bytes per
            // parameter, far more than L2 holds: all cache-streaming; only the
            // bf16 compute copy, which the next forward reads, goes through L2
            // (the FP32 build's forward reads the weights themselves, which
            // at GPT-2's sizes do not fit in L2 either)
            f128 p = load128cs(params + i0 + q), g = load128cs(grads + i0 + q);
            f128 mq = load128cs(m + j0 + q), vq = load128cs(v + j0 + q);
            for (int e = 0; e < F128; e++) {
                p[e] = adamw_one(p[e], g[e] * grad_scale, &mq[e], &vq[e], wd[q + e], lr, beta1, beta2, eps,
                                 bc1, bc2);
                px[q + e] = to_x(p[e]);
            }
            store128cs(params + i0 + q, p);
            store128cs(m + j0 + q, mq);
            store128cs(v + j0 + q, vq);
        }
        if (params_x != NULL) { store128(params_x + i0, px); }
        return;
    }
    for (int e = 0; e < X128; e++) {  // one element at a time, those inside [lo, lo + n)
        size_t i = i0 + e;
        if (i < lo || i >= lo + n) { continue; }
        float p = adamw_one(params[i], grads[i] * grad_scale, &m[i - lo], &v[i - lo], wd[e], lr, beta1,
                            beta2, eps, bc1, bc2);
        params[i] = p;
        if (params_x != NULL) { params_x[i] = to_x(p); }
    }
}

// blocks of 256 threads for adamw_kernel over [lo, lo + n)
static int adamw_blocks(size_t lo, size_t n) { return ceil_div(lo % X128 + n, (size_t)256 * X128); }

// out = in rounded to floatX: the compute copy of the fp32 parameters; a
// thread per X128 elements (the last one also takes a tail of n % X128)
__global__ void float_to_x_kernel(floatX *out, const float *in, size_t n) {
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * X128;
    if (i + X128 <= n) {
        x128 o;
        for (int q = 0; q < X128; q += F128) {
            f128 x = load128(in + i + q);
            for (int e = 0; e < F128; e++) { o[q + e] = to_x(x[e]); }
        }
        store128(out + i, o);
    } else {
        for (; i < n; i++) { out[i] = to_x(in[i]); }
    }
}

// out = in as float: the row of logits the sampler reads (and test_gpu's
// copies); a thread per X128 elements, as float_to_x_kernel
__global__ void x_to_float_kernel(float *out, const floatX *in, size_t n) {
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * X128;
    if (i + X128 <= n) {
        x128 x = load128(in + i);
        for (int q = 0; q < X128; q += F128) {
            f128 o;
            for (int e = 0; e < F128; e++) { o[e] = to_f(x[q + e]); }
            store128(out + i + q, o);
        }
    } else {
        for (; i < n; i++) { out[i] = to_f(in[i]); }
    }
}

// ----------------------------------------------------------------------------
// LoRA: the adapters' products are cuBLASLt's (train.cu, lora_forward_gpu and
// lora_backward_gpu); the one elementwise step between them is the scale

// x[i] *= s: the "h = scale * inp @ lora_a^T" and "dh *= scale" of train.c's
// lora_forward and lora_backward; one thread per element
__global__ void lora_scale_kernel(floatX *x, float s, size_t n) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) { x[i] = to_x(to_f(x[i]) * s); }
}

#endif  // TRAIN_KERNELS_CUH
