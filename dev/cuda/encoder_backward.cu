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
    encoder_backward(dwte_ref, dwpe_ref, dout, inp, B, T, C);  // the CPU twin

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
    lab_summary(&lab);
    cudaCheck(cudaFree(d_dout)); cudaCheck(cudaFree(d_dwte)); cudaCheck(cudaFree(d_dwpe)); cudaCheck(cudaFree(d_inp));
    cudaCheck(cudaFree(d_tb.tokens)); cudaCheck(cudaFree(d_tb.start)); cudaCheck(cudaFree(d_tb.pos));
    free(tb.tokens); free(tb.start); free(tb.pos);
    free(dout); free(inp); free(dwte0); free(dwpe0); free(dwte_ref); free(dwpe_ref);
    lab_free(&lab);
    return 0;
}
