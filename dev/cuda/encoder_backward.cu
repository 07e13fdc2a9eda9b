/*
dev/cuda/encoder_backward.cu: dwte[inp[b,t],:] += dout[b,t,:], dwpe[t,:] += dout[b,t,:]
CPU twin: encoder_backward in train.c. Memory bound; the yardstick is the
measured copy bandwidth.

Versions:
  1. one thread per (b,t,c), atomicAdd into dwte and dwpe: simple, but B
     threads collide on every element of dwpe, and the float sums come out in
     a different order on every run (not deterministic)
  2. dwpe without atomics: one thread per (t,c) sums its B terms in order;
     dwte still by atomicAdd (a token can repeat anywhere in the batch)
  3. deterministic: the host groups the positions by token id (a counting
     sort, as a trainer can do on the CPU while the GPU runs the forward), then
     one thread per (token, channel) adds that token's positions in a fixed
     order; no atomics, the same bits on every run. The sort is not timed.
  4. version 3 as the bf16 trainer runs it (train.cu's encoder_backward_gpu):
     dout in bf16, dwte and dwpe fp32 (+=), each thread 8 channels through
     128-bit accesses (Packed128 from cuda_common.h; C % 8 == 0) summed in
     fp32 registers. A token with more than `chunk` positions (256 in
     train.cu: a frequent token of real text) has its bucket split into
     chunks, summed in parallel into partial rows, then added in chunk order
     by the block that owns the token's row: deterministic, and no block
     loops over thousands of positions. dwte's blocks have one thread per 8
     channels up to the block size (train.cu: at most 256; GPT-2 124M: 96),
     dwpe's the block size (train.cu: 256). Half the bytes of dout; checked
     against the CPU twin on the same bf16-rounded dout. The bucketing is
     host work and not timed. At the full shape (uniform random tokens) no
     bucket reaches 256 positions and the split path does not run; under
     the emulation the chunk is 3 positions, so it runs on the small shape.

    make -C dev/cuda encoder_backward && ./dev/cuda/encoder_backward [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"

// ----------------------------------------------------------------------------
// kernels

__global__ void encoder_backward_kernel1(float *dwte, float *dwpe, const float *dout,
                                         const int *inp, int B, int T, int C) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * C) { return; }
    size_t bt = idx / C;
    int c = (int)(idx % C);
    int t = (int)(bt % T);
    atomicAdd(&dwte[(size_t)inp[bt] * C + c], dout[idx]);
    atomicAdd(&dwpe[(size_t)t * C + c], dout[idx]);
}

// dwpe[t,c] += sum_b dout[b,t,c], one thread per (t,c), b in order
__global__ void encoder_backward_wpe_kernel(float *dwpe, const float *dout, int B, int T, int C) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)T * C) { return; }
    float s = 0.0f;
    for (int b = 0; b < B; b++) { s += dout[(size_t)b * T * C + idx]; }
    dwpe[idx] += s;
}

__global__ void encoder_backward_wte_atomic_kernel(float *dwte, const float *dout, const int *inp,
                                                   int B, int T, int C) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * C) { return; }
    size_t bt = idx / C;
    int c = (int)(idx % C);
    atomicAdd(&dwte[(size_t)inp[bt] * C + c], dout[idx]);
}

// one thread per (distinct token u, channel c): dwte[token[u], c] += sum of
// dout[p, c] over the positions p = pos[start[u] .. start[u+1]) of that token
__global__ void encoder_backward_wte_sorted_kernel(float *dwte, const float *dout, const int *tokens,
                                                   const int *start, const int *pos, int C) {
    int u = blockIdx.y;
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) { return; }
    float s = 0.0f;
    for (int i = start[u]; i < start[u + 1]; i++) { s += dout[(size_t)pos[i] * C + c]; }
    dwte[(size_t)tokens[u] * C + c] += s;
}

// ----------------------------------------------------------------------------
// the host side of version 3: positions grouped by token, in position order

typedef struct {
    int num_unique;
    int *tokens;  // (num_unique) the distinct token ids
    int *start;   // (num_unique + 1) where each one's positions begin in pos
    int *pos;     // (B*T) positions b*T+t, grouped by token, ascending within a group
} TokenBuckets;

static TokenBuckets bucket_tokens(const int *inp, int BT, int V) {
    int *count = (int *)callocCheck((size_t)V + 1, sizeof(int));
    for (int i = 0; i < BT; i++) { count[inp[i] + 1]++; }
    for (int v = 0; v < V; v++) { count[v + 1] += count[v]; }  // count[v]: first slot of v
    TokenBuckets tb;
    tb.pos = (int *)mallocCheck((size_t)BT * sizeof(int));
    int *fill = (int *)mallocCheck((size_t)V * sizeof(int));
    memcpy(fill, count, (size_t)V * sizeof(int));
    for (int i = 0; i < BT; i++) { tb.pos[fill[inp[i]]++] = i; }
    tb.num_unique = 0;
    for (int v = 0; v < V; v++) { tb.num_unique += count[v + 1] > count[v]; }
    tb.tokens = (int *)mallocCheck((size_t)tb.num_unique * sizeof(int));
    tb.start = (int *)mallocCheck(((size_t)tb.num_unique + 1) * sizeof(int));
    int u = 0;
    for (int v = 0; v < V; v++) {
        if (count[v + 1] > count[v]) { tb.tokens[u] = v; tb.start[u] = count[v]; u++; }
    }
    tb.start[tb.num_unique] = BT;
    free(count);
    free(fill);
    return tb;
}

// ----------------------------------------------------------------------------
// version 4: bf16 dout, 128-bit accesses, split buckets (train.cu's kernels)

typedef Packed128<__nv_bfloat16> bf128;

// acc[0..P) += the P channels of dout's row `row` from channel c (P = bf128::size)
__device__ __forceinline__ void add_row_bf16(float *acc, const __nv_bfloat16 *dout, size_t row, int C, int c) {
    bf128 d = load128(dout + row * C + c);
    for (int k = 0; k < bf128::size; k++) { acc[k] += (float)d[k]; }
}

// dst[0..P) += src[0..P): a read-modify-write of fp32 gradient channels as
// 128-bit f128 accesses (src is a thread's local array, indexed, not loaded)
__device__ __forceinline__ void add_floats_f128(float *dst, const float *src) {
    for (int q = 0; q < bf128::size; q += F128) {
        f128 d = load128(dst + q);
        for (int k = 0; k < F128; k++) { d[k] += src[q + k]; }
        store128(dst + q, d);
    }
}

// one block row per chunk j of a split bucket: partials[j,:] = sum of dout
// over the chunk's positions, in order; a thread owns P channels
__global__ void encoder_backward_wte_partial_kernel4(float *partials, const __nv_bfloat16 *dout,
                                                     const int *chunk_starts, const int *chunk_ends,
                                                     const int *pos, int C) {
    const int P = bf128::size;
    int j = blockIdx.x;
    int c = (blockIdx.y * blockDim.x + threadIdx.x) * P;
    if (c >= C) { return; }
    float s[bf128::size] = {0.0f};
    for (int k = chunk_starts[j]; k < chunk_ends[j]; k++) { add_row_bf16(s, dout, pos[k], C, c); }
    for (int q = 0; q < P; q += F128) {
        f128 o;
        for (int k = 0; k < F128; k++) { o[k] = s[q + k]; }
        store128(partials + (size_t)j * C + c + q, o);
    }
}

// one block row per distinct token u, the only writer of its row of dwte:
// adds its chunks' partials in chunk order (a split bucket) or its positions
// in order (a bucket of at most `chunk` positions)
__global__ void encoder_backward_wte_kernel4(float *dwte, const __nv_bfloat16 *dout, const int *tokens,
                                             const int *start, const int *pos, const float *partials,
                                             const int *partial_start, int C) {
    const int P = bf128::size;
    int u = blockIdx.x;
    int c = (blockIdx.y * blockDim.x + threadIdx.x) * P;
    if (c >= C) { return; }
    float s[bf128::size] = {0.0f};
    if (partial_start[u] < partial_start[u + 1]) {
        for (int j = partial_start[u]; j < partial_start[u + 1]; j++) {
            for (int q = 0; q < P; q += F128) {
                f128 p = load128(partials + (size_t)j * C + c + q);
                for (int k = 0; k < F128; k++) { s[q + k] += p[k]; }
            }
        }
    } else {
        for (int k = start[u]; k < start[u + 1]; k++) { add_row_bf16(s, dout, pos[k], C, c); }
    }
    add_floats_f128(dwte + (size_t)tokens[u] * C + c, s);
}

// dwpe[t,c] += sum_b dout[b,t,c]: one thread per P channels of one t, b in order
__global__ void encoder_backward_wpe_kernel4(float *dwpe, const __nv_bfloat16 *dout, int B, int T, int C) {
    const int P = bf128::size;
    size_t idx = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * P;  // t * C + c
    if (idx >= (size_t)T * C) { return; }
    float s[bf128::size] = {0.0f};
    for (int b = 0; b < B; b++) {
        bf128 d = load128(dout + (size_t)b * T * C + idx);
        for (int k = 0; k < P; k++) { s[k] += (float)d[k]; }
    }
    add_floats_f128(dwpe + idx, s);
}

// positions per chunk of a split bucket: train.cu's ENCODER_CHUNK; under the
// emulation 3, so that the small shape's repeated token (4 positions) is split
#define ENC4_CHUNK LAB_SHAPE(256, 3)

// version 3's buckets, and the chunks of the buckets longer than `chunk`
// positions (host arrays; the launcher gets device copies in the same struct)
typedef struct {
    TokenBuckets tb;
    int chunk;          // positions per chunk of a split bucket
    int num_chunks;
    int *partial_start; // (num_unique + 1) token u's chunks are [partial_start[u], partial_start[u+1])
    int *chunk_start, *chunk_end;  // (num_chunks) each chunk's range in tb.pos
    float *partials;    // device only: (num_chunks, C) the chunks' sums
} ChunkedBuckets;

// splits each of tb's buckets of more than `chunk` positions into chunks of
// `chunk` (the last one shorter), in bucket order
static ChunkedBuckets chunk_buckets(const TokenBuckets *tb, int chunk) {
    ChunkedBuckets cb;
    cb.tb = *tb;
    cb.chunk = chunk;
    cb.num_chunks = 0;
    for (int u = 0; u < tb->num_unique; u++) {
        int len = tb->start[u + 1] - tb->start[u];
        if (len > chunk) { cb.num_chunks += (len + chunk - 1) / chunk; }
    }
    cb.partial_start = (int *)mallocCheck(((size_t)tb->num_unique + 1) * sizeof(int));
    cb.chunk_start = (int *)mallocCheck(((size_t)cb.num_chunks + 1) * sizeof(int));  // + 1: never 0 bytes
    cb.chunk_end = (int *)mallocCheck(((size_t)cb.num_chunks + 1) * sizeof(int));
    cb.partials = NULL;
    int nc = 0;
    for (int u = 0; u < tb->num_unique; u++) {
        cb.partial_start[u] = nc;
        int s = tb->start[u], e = tb->start[u + 1];
        if (e - s <= chunk) { continue; }
        for (int k = s; k < e; k += chunk) {
            cb.chunk_start[nc] = k;
            cb.chunk_end[nc] = k + chunk < e ? k + chunk : e;
            nc++;
        }
    }
    cb.partial_start[tb->num_unique] = nc;
    return cb;
}

// version 4's launches, train.cu's with max_threads in place of its 256
static void encoder_backward4(int max_threads, float *dwte, float *dwpe, const __nv_bfloat16 *dout,
                              const ChunkedBuckets *d_cb, int B, int T, int C) {
    const int P = bf128::size;
    // dwte: one thread per P channels, C / P per row, in blocks of whole warps
    // up to max_threads (GPT-2 124M, bf16: one block of 96 threads per token)
    int per_row = (int)ceil_div(C, P);
    int threads = per_row < max_threads ? WARP_SIZE * (int)ceil_div(per_row, WARP_SIZE) : max_threads;
    if (d_cb->num_chunks > 0) {
        dim3 pgrid(d_cb->num_chunks, ceil_div(per_row, threads));
        LAUNCH(pgrid, threads, 0, encoder_backward_wte_partial_kernel4)(d_cb->partials, dout, d_cb->chunk_start,
                                                                         d_cb->chunk_end, d_cb->tb.pos, C);
        cudaCheck(cudaGetLastError());
    }
    dim3 grid(d_cb->tb.num_unique, ceil_div(per_row, threads));
    LAUNCH(grid, threads, 0, encoder_backward_wte_kernel4)(dwte, dout, d_cb->tb.tokens, d_cb->tb.start,
                                                          d_cb->tb.pos, d_cb->partials, d_cb->partial_start, C);
    cudaCheck(cudaGetLastError());
    LAUNCH(ceil_div((size_t)T * C / P, max_threads), max_threads, 0, encoder_backward_wpe_kernel4)(dwpe, dout, B, T, C);
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// launcher: the CPU twin's argument order after the version and block size; v3
// takes the buckets (device copies)

static void encoder_backward(int version, int block_size, float *dwte, float *dwpe, const float *dout,
                             const int *inp, const TokenBuckets *d_tb, int B, int T, int C) {
    size_t N = (size_t)B * T * C;
    switch (version) {
        case 1:
            LAUNCH(ceil_div(N, block_size), block_size, 0, encoder_backward_kernel1)(dwte, dwpe, dout, inp, B, T, C);
            break;
        case 2:
            LAUNCH(ceil_div((size_t)T * C, block_size), block_size, 0, encoder_backward_wpe_kernel)(dwpe, dout, B, T, C);
            LAUNCH(ceil_div(N, block_size), block_size, 0, encoder_backward_wte_atomic_kernel)(dwte, dout, inp, B, T, C);
            break;
        case 3: {
            LAUNCH(ceil_div((size_t)T * C, block_size), block_size, 0, encoder_backward_wpe_kernel)(dwpe, dout, B, T, C);
            dim3 grid(ceil_div(C, block_size), d_tb->num_unique);
            LAUNCH(grid, block_size, 0, encoder_backward_wte_sorted_kernel)(dwte, dout, d_tb->tokens, d_tb->start,
                                                                      d_tb->pos, C);
            break;
        }
        default: die("encoder_backward: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "encoder_backward");
    const int B = LAB_SHAPE(8, 2), T = LAB_SHAPE(1024, 16), C = LAB_SHAPE(768, 64), V = LAB_SHAPE(50257, 100);
    const size_t N = (size_t)B * T * C, nwte = (size_t)V * C, nwpe = (size_t)T * C;
    float *dout = make_random(N, 1.0f, 1);
    int *inp = make_random_ints((size_t)B * T, V, 2);
    inp[5] = inp[7] = inp[B * T - 1] = inp[0];  // repeated tokens, as real text has
    float *dwte0 = make_random(nwte, 1.0f, 3), *dwpe0 = make_random(nwpe, 1.0f, 4);  // += into these
    float *dwte_ref = (float *)mallocCheck(nwte * sizeof(float));
    float *dwpe_ref = (float *)mallocCheck(nwpe * sizeof(float));
    memcpy(dwte_ref, dwte0, nwte * sizeof(float));
    memcpy(dwpe_ref, dwpe0, nwpe * sizeof(float));
    encoder_backward(dwte_ref, dwpe_ref, dout, inp, B, T, C, 0);  // the CPU twin

    TokenBuckets tb = bucket_tokens(inp, B * T, V), d_tb = tb;
    d_tb.tokens = to_device(tb.tokens, (size_t)tb.num_unique);
    d_tb.start = to_device(tb.start, (size_t)tb.num_unique + 1);
    d_tb.pos = to_device(tb.pos, (size_t)B * T);
    float *d_dout = to_device(dout, N), *d_dwte = to_device(dwte0, nwte), *d_dwpe = to_device(dwpe0, nwpe);
    int *d_inp = to_device(inp, (size_t)B * T);

    static const char *names[] = {"", "atomics", "wpe by rows", "sorted, no atomics"};
    const int block_sizes[] = {64, 128, 256, 512, 1024};
    // bytes: dout read once, dwpe and the touched rows of dwte read and written once
    const double bytes = (double)N * 4 + 2.0 * nwpe * 4 + 2.0 * tb.num_unique * C * 4 + B * T * 4.0;
    for (int v = 1; v <= 3; v++) {
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, v, bs)) { continue; }
            reset_device(d_dwte, dwte0, nwte);
            reset_device(d_dwpe, dwpe0, nwpe);
            encoder_backward(v, bs, d_dwte, d_dwpe, d_dout, d_inp, &d_tb, B, T, C);
            char what[64];
            // sums of up to B*T terms of N(0,1) in another order: float rounding only
            snprintf(what, sizeof(what), "v%d bs %d dwte", v, bs);
            validate(what, d_dwte, dwte_ref, nwte, 1e-4, 1e-5);
            snprintf(what, sizeof(what), "v%d bs %d dwpe", v, bs);
            validate(what, d_dwpe, dwpe_ref, nwpe, 1e-4, 1e-5);
            float ms = lab_time(&lab, [&] { encoder_backward(v, bs, d_dwte, d_dwpe, d_dout, d_inp, &d_tb, B, T, C); });
            lab_report(&lab, "fp32", v, names[v], bs, ms, bytes, PEAK_BANDWIDTH, 0);
        }
    }
    // version 4, bf16 dout: the reference from dout rounded to bf16
    {
        const int P = bf128::size;
        if (C % P != 0) { die("encoder_backward v4 needs C %% %d == 0, got C=%d", P, C); }
        float *dout_r = make_rounded_bf16(dout, N);
        memcpy(dwte_ref, dwte0, nwte * sizeof(float));
        memcpy(dwpe_ref, dwpe0, nwpe * sizeof(float));
        encoder_backward(dwte_ref, dwpe_ref, dout_r, inp, B, T, C, 0);
        ChunkedBuckets cb = chunk_buckets(&tb, ENC4_CHUNK), d_cb = cb;
        d_cb.tb = d_tb;  // version 3's device buckets
        d_cb.partial_start = to_device(cb.partial_start, (size_t)tb.num_unique + 1);
        d_cb.chunk_start = to_device(cb.chunk_start, (size_t)cb.num_chunks + 1);
        d_cb.chunk_end = to_device(cb.chunk_end, (size_t)cb.num_chunks + 1);
        d_cb.partials = device_alloc<float>(((size_t)cb.num_chunks + 1) * C);
        printf("v4: %d distinct tokens, %d chunks of at most %d positions\n", tb.num_unique, cb.num_chunks,
               cb.chunk);
        __nv_bfloat16 *d_dout4 = to_device_bf16(dout, N);
        // bytes: as version 3, dout 2 bytes a value (the chunks' partial rows,
        // extra traffic, are not counted)
        const double bytes4 = (double)N * 2 + 2.0 * nwpe * 4 + 2.0 * tb.num_unique * C * 4 + B * T * 4.0;
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, 4, bs)) { continue; }
            reset_device(d_dwte, dwte0, nwte);
            reset_device(d_dwpe, dwpe0, nwpe);
            encoder_backward4(bs, d_dwte, d_dwpe, d_dout4, &d_cb, B, T, C);
            char what[64];
            // the same bf16 values summed in fp32 in another order: float rounding only
            snprintf(what, sizeof(what), "v4 bs %d dwte (bf16 dout)", bs);
            validate(what, d_dwte, dwte_ref, nwte, 1e-4, 1e-5);
            snprintf(what, sizeof(what), "v4 bs %d dwpe (bf16 dout)", bs);
            validate(what, d_dwpe, dwpe_ref, nwpe, 1e-4, 1e-5);
            float ms = lab_time(&lab, [&] { encoder_backward4(bs, d_dwte, d_dwpe, d_dout4, &d_cb, B, T, C); });
            lab_report(&lab, "bf16", 4, "x128, split buckets", bs, ms, bytes4, PEAK_BANDWIDTH, 0);
        }
        cudaCheck(cudaFree(d_cb.partial_start)); cudaCheck(cudaFree(d_cb.chunk_start));
        cudaCheck(cudaFree(d_cb.chunk_end)); cudaCheck(cudaFree(d_cb.partials)); cudaCheck(cudaFree(d_dout4));
        free(cb.partial_start); free(cb.chunk_start); free(cb.chunk_end); free(dout_r);
    }
    lab_summary(&lab);
    cudaCheck(cudaFree(d_dout)); cudaCheck(cudaFree(d_dwte)); cudaCheck(cudaFree(d_dwpe)); cudaCheck(cudaFree(d_inp));
    cudaCheck(cudaFree(d_tb.tokens)); cudaCheck(cudaFree(d_tb.start)); cudaCheck(cudaFree(d_tb.pos));
    free(tb.tokens); free(tb.start); free(tb.pos);
    free(dout); free(inp); free(dwte0); free(dwpe0); free(dwte_ref); free(dwpe_ref);
    lab_free(&lab);
    return 0;
}
