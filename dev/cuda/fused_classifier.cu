/*
dev/cuda/fused_classifier.cu: logits -> softmax -> cross-entropy loss -> dlogits, in one pass
    losses[i] = log(sum_v exp(l_v - max)) + max - l[target]
    dlogits[i,v] = (softmax(l)_v - [v == target]) * dloss   for v < V,  0 in the padding
The probabilities are never stored: the kernel writes the gradient directly,
and may write it over the logits (dlogits == logits), as a trainer does.
CPU twin: softmax_crossentropy_forward then softmax_crossentropy_backward
(into zeros) in train.c, with dlosses = 1 / (B*T) (the mean loss).
Memory bound; the yardstick is the measured copy bandwidth; bytes counted: the
logits read once and the gradient written once.

Versions:
  1. one thread per row, three passes (max, sum, write): the CPU loops;
     uncoalesced, and only B*T threads
  2. one block per row: each thread keeps an online (max, sum) over its
     strided elements (the sum rescaled by exp(old max - new max) when the max
     grows), the block merges them; a second pass writes the gradient
     (coalesced; the row is read twice, the second time mostly from L2)
  3. as 2 with 128-bit loads and stores (Vp % 4 == 0; the padding columns of
     the last float4 are masked)
  4. train.cu's classifier_kernel as the bf16 trainer runs it: bf16 logits,
     the gradient written over them (in place), 8 bf16 per 128-bit access
     (Packed128 from cuda_common.h), the second read cache-streaming (the
     last use of the logits). Half the bytes of the fp32 versions; checked
     against the CPU twin on the same bf16-rounded logits, with the output's
     bf16 rounding (2^-8 relative) allowed

    make -C dev/cuda fused_classifier && ./dev/cuda/fused_classifier [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"

// ----------------------------------------------------------------------------
// kernels. dlogits, logits (N, Vp); losses, targets (N)

__global__ void fused_classifier_kernel1(float *dlogits, float *losses, const float *logits, const int *targets,
                                         float dloss, int N, int V, int Vp) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) { return; }
    const float *l = logits + (size_t)i * Vp;
    float m = l[0];
    for (int v = 1; v < V; v++) { m = fmaxf(m, l[v]); }
    float sum = 0.0f;
    for (int v = 0; v < V; v++) { sum += expf(l[v] - m); }
    const int target = targets[i];
    losses[i] = logf(sum) + m - l[target];  // read before the row may be overwritten
    float *dl = dlogits + (size_t)i * Vp;
    for (int v = 0; v < Vp; v++) {
        dl[v] = v < V ? (expf(l[v] - m) / sum - (v == target ? 1.0f : 0.0f)) * dloss : 0.0f;
    }
}

// merges the threads' online (max, sum) pairs: M = max m_j, L = sum l_j e^(m_j - M)
__device__ void block_merge_softmax(float *M, float *L, float m, float l, float *scratch) {
    const int lane = threadIdx.x % WARP_SIZE, warp = threadIdx.x / WARP_SIZE, warps = blockDim.x / WARP_SIZE;
    float wm = warp_max(m);
    if (lane == 0) { scratch[warp] = wm; }
    __syncthreads();
    float bm = scratch[lane < warps ? lane : 0];
    bm = warp_max(bm);
    __syncthreads();  // scratch is reused by block_sum
    *M = bm;
    *L = block_sum(l * expf(m - bm), scratch);
}

// one block per row; blockDim.x <= V, so every thread starts from a real logit
__global__ void fused_classifier_kernel2(float *dlogits, float *losses, const float *logits, const int *targets,
                                         float dloss, int N, int V, int Vp) {
    __shared__ float scratch[WARP_SIZE];
    const size_t i = blockIdx.x;
    const float *l = logits + i * Vp;
    float m = l[threadIdx.x], s = 1.0f;  // this thread's first element starts the running pair
    for (int v = threadIdx.x + blockDim.x; v < V; v += blockDim.x) {
        float x = l[v];
        if (x > m) { s = s * expf(m - x) + 1.0f; m = x; }
        else { s += expf(x - m); }
    }
    float M, L;
    block_merge_softmax(&M, &L, m, s, scratch);
    const int target = targets[i];
    const float lt = l[target];
    __syncthreads();  // every thread has read l[target] before any writes (in place)
    if (threadIdx.x == 0) { losses[i] = logf(L) + M - lt; }
    float *dl = dlogits + i * Vp;
    const float inv = 1.0f / L;
    for (int v = threadIdx.x; v < Vp; v += blockDim.x) {
        dl[v] = v < V ? (expf(l[v] - M) * inv - (v == target ? 1.0f : 0.0f)) * dloss : 0.0f;
    }
}

// the gradient of one logit (column v of the row)
__device__ __forceinline__ float dlogit(float x, int v, int V, int target, float M, float inv, float dloss) {
    return v < V ? (expf(x - M) * inv - (v == target ? 1.0f : 0.0f)) * dloss : 0.0f;
}

__global__ void fused_classifier_kernel3(float *dlogits, float *losses, const float *logits, const int *targets,
                                         float dloss, int N, int V, int Vp) {
    __shared__ float scratch[WARP_SIZE];
    const size_t i = blockIdx.x;
    const float4 *l4 = (const float4 *)(logits + i * Vp);  // Vp % 4 == 0: rows stay 16-byte aligned
    const int V4 = V / 4, Vp4 = Vp / 4;                     // float4s wholly inside V
    // the running pair starts at (a real logit, 0): m only seeds the max (blockDim.x <= V),
    // every element is counted once below, by the thread whose stride reaches it
    float m = logits[i * Vp + threadIdx.x], s = 0.0f;
    for (int j = threadIdx.x; j < V4; j += blockDim.x) {
        float4 x = l4[j];
        float xm = fmaxf(fmaxf(x.x, x.y), fmaxf(x.z, x.w));
        float mn = fmaxf(m, xm);
        s = s * expf(m - mn) + expf(x.x - mn) + expf(x.y - mn) + expf(x.z - mn) + expf(x.w - mn);
        m = mn;
    }
    for (int v = 4 * V4 + threadIdx.x; v < V; v += blockDim.x) {  // the last V % 4 logits
        float x = logits[i * Vp + v], mn = fmaxf(m, x);
        s = s * expf(m - mn) + expf(x - mn);
        m = mn;
    }
    float M, L;
    block_merge_softmax(&M, &L, m, s, scratch);
    const int target = targets[i];
    const float lt = logits[i * Vp + target];
    __syncthreads();  // every thread has read its inputs' last value before any writes (in place)
    if (threadIdx.x == 0) { losses[i] = logf(L) + M - lt; }
    float4 *d4 = (float4 *)(dlogits + i * Vp);
    const float inv = 1.0f / L;
    for (int j = threadIdx.x; j < Vp4; j += blockDim.x) {
        float4 x = l4[j];
        int v = 4 * j;
        d4[j] = make_float4(dlogit(x.x, v, V, target, M, inv, dloss), dlogit(x.y, v + 1, V, target, M, inv, dloss),
                            dlogit(x.z, v + 2, V, target, M, inv, dloss), dlogit(x.w, v + 3, V, target, M, inv, dloss));
    }
}

// version 4: one block per row, bf16 in place (logits become dlogits)
typedef Packed128<__nv_bfloat16> bf128;
__global__ void fused_classifier_kernel4(__nv_bfloat16 *logits, float *losses, const int *targets, float dloss,
                                         int N, int V, int Vp) {
    __shared__ float scratch[WARP_SIZE];
    const int P = bf128::size;  // bf16 per pack: 8 (4 with EMU_BF16=0's float bf16)
    const size_t i = blockIdx.x;
    __nv_bfloat16 *l = logits + i * Vp;  // Vp % P == 0: rows stay 16-byte aligned
    float m = (float)l[threadIdx.x], s = 0.0f;  // seeds the max only (blockDim.x <= V)
    for (int v0 = threadIdx.x * P; v0 < V; v0 += blockDim.x * P) {
        bf128 x = load128(l + v0);  // kept in cache for the second read
        for (int e = 0; e < P && v0 + e < V; e++) {
            float xe = (float)x[e], mn = fmaxf(m, xe);
            s = s * expf(m - mn) + expf(xe - mn);
            m = mn;
        }
    }
    float M, L;
    block_merge_softmax(&M, &L, m, s, scratch);
    const int target = targets[i];
    const float lt = (float)l[target];
    __syncthreads();  // every thread has read l[target] before any writes (in place)
    if (threadIdx.x == 0) { losses[i] = logf(L) + M - lt; }
    const float inv = 1.0f / L;
    for (int v0 = threadIdx.x * P; v0 < Vp; v0 += blockDim.x * P) {
        bf128 x = load128cs(l + v0), g;
        for (int e = 0; e < P; e++) { g[e] = (__nv_bfloat16)dlogit((float)x[e], v0 + e, V, target, M, inv, dloss); }
        store128(l + v0, g);
    }
}

// ----------------------------------------------------------------------------
// launcher

static void fused_classifier(int version, int block_size, float *dlogits, float *losses, const float *logits,
                             const int *targets, float dloss, int N, int V, int Vp) {
    if (version >= 2 && block_size > V) { die("fused_classifier v%d needs a block size <= V", version); }
    switch (version) {
        case 1:
            LAUNCH(ceil_div(N, block_size), block_size, 0, fused_classifier_kernel1)(dlogits, losses, logits, targets,
                                                                              dloss, N, V, Vp);
            break;
        case 2:
            LAUNCH(N, block_size, 0, fused_classifier_kernel2)(dlogits, losses, logits, targets, dloss, N, V, Vp);
            break;
        case 3:
            if (Vp % 4 != 0) { die("fused_classifier v3 needs Vp %% 4 == 0, got %d", Vp); }
            LAUNCH(N, block_size, 0, fused_classifier_kernel3)(dlogits, losses, logits, targets, dloss, N, V, Vp);
            break;
        default: die("fused_classifier: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "fused_classifier");
    const int B = LAB_SHAPE(4, 1), T = LAB_SHAPE(1024, 4), V = LAB_SHAPE(50257, 1100), Vp = pad_vocab(V), N = B * T;
    const size_t nl = (size_t)N * Vp;
    float *logits = make_random(nl, 2.0f, 1);
    int *targets = make_random_ints(N, V, 2);
    const float dloss = 1.0f / (float)N;
    float *losses_ref = (float *)mallocCheck((size_t)N * 4), *lmax = (float *)mallocCheck((size_t)N * 4);
    float *linv = (float *)mallocCheck((size_t)N * 4);
    float *dlogits_ref = (float *)callocCheck(nl, 4), *dlosses = (float *)mallocCheck((size_t)N * 4);
    for (int i = 0; i < N; i++) { dlosses[i] = dloss; }
    softmax_crossentropy_forward(losses_ref, lmax, linv, logits, targets, B, T, V, Vp);  // the CPU twin
    softmax_crossentropy_backward(dlogits_ref, dlosses, logits, lmax, linv, targets, B, T, V, Vp);

    // version 4's reference: the CPU twin on the logits rounded to bf16
    float *logits_r = make_rounded_bf16(logits, nl), *losses_ref4 = (float *)mallocCheck((size_t)N * 4);
    float *dlogits_ref4 = (float *)callocCheck(nl, 4);
    softmax_crossentropy_forward(losses_ref4, lmax, linv, logits_r, targets, B, T, V, Vp);
    softmax_crossentropy_backward(dlogits_ref4, dlosses, logits_r, lmax, linv, targets, B, T, V, Vp);
    free(lmax);
    free(linv);

    float *d_logits = to_device(logits, nl), *d_dlogits = device_alloc<float>(nl);
    float *d_losses = device_alloc<float>(N);
    int *d_targets = to_device(targets, N);
    static const char *names[] = {"", "thread per row", "block per row", "block per row, float4"};
    const int block_sizes[] = {64, 128, 256, 512, 1024};
    const double bytes = 2.0 * nl * 4 + (double)N * 8;
    for (int v = 1; v <= 3; v++) {
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, v, bs)) { continue; }
            char what[64];
            cudaCheck(cudaMemset(d_dlogits, 0xff, nl * 4));  // NaNs: every element must be written
            fused_classifier(v, bs, d_dlogits, d_losses, d_logits, d_targets, dloss, N, V, Vp);
            // sums of V exponentials in another order, expf against exp_fast: float rounding
            snprintf(what, sizeof(what), "v%d bs %d losses", v, bs);
            validate(what, d_losses, losses_ref, N, 1e-4, 1e-5);
            snprintf(what, sizeof(what), "v%d bs %d dlogits", v, bs);
            validate(what, d_dlogits, dlogits_ref, nl, 1e-6 * dloss, 1e-4);
            float ms = lab_time(&lab, [&] {
                fused_classifier(v, bs, d_dlogits, d_losses, d_logits, d_targets, dloss, N, V, Vp);
            });
            lab_report(&lab, "fp32", v, names[v], bs, ms, bytes, PEAK_BANDWIDTH, 0);
        }
    }
    // version 4: bf16, in place; bytes: the bf16 row read once, written once
    if (Vp % bf128::size != 0) { die("fused_classifier v4 needs Vp %% %d == 0, got %d", bf128::size, Vp); }
    __nv_bfloat16 *d_logits4 = to_device_bf16(logits, nl);
    const double bytes4 = 2.0 * nl * 2 + (double)N * 8;
    for (int bs : block_sizes) {
        if (!lab_wants(&lab, 4, bs)) { continue; }
        __nv_bfloat16 *d_fresh = to_device_bf16(logits, nl);
        LAUNCH(N, bs, 0, fused_classifier_kernel4)(d_fresh, d_losses, d_targets, dloss, N, V, Vp);
        cudaCheck(cudaGetLastError());
        char what[64];
        snprintf(what, sizeof(what), "v4 bs %d losses (bf16 logits)", bs);
        validate(what, d_losses, losses_ref4, N, 1e-4, 1e-5);
        snprintf(what, sizeof(what), "v4 bs %d dlogits (bf16, in place)", bs);
        validate(what, d_fresh, dlogits_ref4, nl, 1e-6 * dloss, 8e-3);
        cudaCheck(cudaFree(d_fresh));
        // timed in place on d_logits4: each launch reads the previous one's
        // output, the same work and bytes as on fresh logits
        float ms = lab_time(&lab, [&] {
            LAUNCH(N, bs, 0, fused_classifier_kernel4)(d_logits4, d_losses, d_targets, dloss, N, V, Vp);
        });
        lab_report(&lab, "bf16", 4, "block per row, x128 bf16", bs, ms, bytes4, PEAK_BANDWIDTH, 0);
    }
    cudaCheck(cudaFree(d_logits4));
    free(logits_r); free(losses_ref4); free(dlogits_ref4);
    // in place, as the trainer runs it: the gradient over the logits (best version)
    fused_classifier(3, 1024, d_logits, d_losses, d_logits, d_targets, dloss, N, V, Vp);
    validate("v3 bs 1024 in place dlogits", d_logits, dlogits_ref, nl, 1e-6 * dloss, 1e-4);
    lab_summary(&lab);
    cudaCheck(cudaFree(d_logits)); cudaCheck(cudaFree(d_dlogits)); cudaCheck(cudaFree(d_losses)); cudaCheck(cudaFree(d_targets));
    free(logits); free(targets); free(losses_ref); free(dlogits_ref); free(dlosses);
    lab_free(&lab);
    return 0;
}
