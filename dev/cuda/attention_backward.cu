/*
dev/cuda/attention_backward.cu: the backward of attention_forward (dinp (B,T,3C) is added into)
Per (b, h) and t2 <= t, with p = att[t,t2] = exp(q_t . k_t2 * scale - lse_t):
    dv_t2 += p dout_t                       dp = dout_t . v_t2
    ds = p (dp - D_t),  D_t = sum_t2 p dp = dout_t . out_t
    dq_t += ds scale k_t2                   dk_t2 += ds scale q_t
CPU twin: attention_backward in train.c (from att, with a (B,NH,T,T) scratch).
FLOPs counted: 2.5 times the forward's, 10 * hs per (t, t2 <= t): the four
products dp, dv, dq, dk and the recomputed scores (FlashAttention-2's
convention, so the numbers compare with its paper's). No library yardstick
(cuDNN is not used); the % of peak is the measure.

Versions:
  1. naive through the T x T matrices, fp32: datt (one thread per (t, t2)),
     the softmax's backward in place (one thread per row), then one thread
     per element of dq, and per element of dk and dv (each a sum over t or t2)
  2. fused, fp32, from lse and out (no T x T): D_t = dout_t . out_t first; then
     one warp per query row for dq (walking t2 <= t) and one warp per key row
     for dk and dv (walking t >= t2), each recomputing p from q, k and lse.
     Every output has one owner: no atomics, deterministic.
  3. flash-attention style with tensor cores (bf16 q, k, v, dout; fp32
     accumulation; WMMA 16x16x16; hs = 64, T % 16 == 0): a warp owns 16 keys and
     keeps dk and dv (16 x 64 each) in accumulator fragments while it walks the
     query tiles: S = Q K^T and dP = dO V^T on tensor cores, P and dS in shared
     memory (bf16), then dV += P^T dO and dK += dS^T Q. A second kernel, a warp
     per 16 queries, does dQ += dS K the same way (instead of atomics into dq).
  4. FlashAttention-2 style, the kernels train.cu's bf16 build runs
     (train_attention.cuh, included here, not copied): D first (the kernel of
     version 2), then one block of 4 warps per 64 keys, each warp keeping
     dK and dV of its 16 keys in registers (mma.sync m16n8k16 accumulators)
     while Q, dO, lse and D tiles stream through two shared buffers
     (cp.async); it computes S^T = K Q^T and dP^T = V dO^T so that P^T and
     dS^T come out of the accumulators as the A fragments of dV += P^T dO and
     dK += dS^T Q, with no shared-memory round trip. dQ: a second kernel per
     64 queries, dQ in registers, walking the key tiles up to the diagonal
     (S and dP computed again: no atomics, the same sums in every run).
     Writes dinp in bf16 (overwrites it, as train.cu's dqkv scratch).
     hs = 64 or 128, any T.

    make -C dev/cuda attention_backward && ./dev/cuda/attention_backward [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"
#include <mma.h>
#include "attention_common.cuh"
#include "../../train_attention.cuh"  // version 4

#define ATT2_MAX_DIMS 4  // version 2: head dimensions per lane, hs <= 128
#define FB_HS 64         // version 3: head size
// version 3, shared memory per warp: S, dP (float 16 x 16), P, dS (bf16 16 x 16)
#define FB_WARP_SMEM (2 * 256 * sizeof(float) + 2 * 256 * sizeof(__nv_bfloat16))

// ----------------------------------------------------------------------------
// version 1. att, datt (B,NH,T,T); dinp, inp (B,T,3C); dout (B,T,C)

// datt[b,h,t,t2] = dout_t . v_t2 for t2 <= t, 0 above
__global__ void attention_datt_kernel1(float *datt, const float *dout, const float *inp, int B, int T, int C, int NH) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * NH * T * T) { return; }
    int t2 = (int)(idx % T), t = (int)(idx / T % T), h = (int)(idx / T / T % NH), b = (int)(idx / T / T / NH);
    const int hs = C / NH;
    float s = 0.0f;
    if (t2 <= t) {
        const float *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
        const float *v = inp + ((size_t)b * T + t2) * 3 * C + 2 * (size_t)C + (size_t)h * hs;
        for (int i = 0; i < hs; i++) { s += d[i] * v[i]; }
    }
    datt[idx] = s;
}

// in place, per row: datt[t2] = att[t2] (datt[t2] - sum_t3 att[t3] datt[t3]) * scale (= ds * scale)
__global__ void attention_dsoftmax_kernel1(float *datt, const float *att, int B, int T, int NH, float scale) {
    size_t row = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= (size_t)B * NH * T) { return; }
    int t = (int)(row % T);
    const float *a = att + row * T;
    float *da = datt + row * T;
    float dot = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) { dot += a[t2] * da[t2]; }
    for (int t2 = 0; t2 <= t; t2++) { da[t2] = a[t2] * (da[t2] - dot) * scale; }
}

// dq[b,t,h*hs+i] += sum_{t2<=t} ds[t,t2] k_t2[i]
__global__ void attention_dq_kernel1(float *dinp, const float *ds, const float *inp, int B, int T, int C, int NH) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * C) { return; }
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    int c = (int)(idx % C), t = (int)(idx / C % T), b = (int)(idx / C / T), h = c / hs;
    const float *d = ds + (((size_t)b * NH + h) * T + t) * T;
    const float *k = inp + (size_t)b * T * C3 + C + c;
    float s = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) { s += d[t2] * k[(size_t)t2 * C3]; }
    dinp[((size_t)b * T + t) * C3 + c] += s;
}

// for key position t2: dk[i] += sum_{t>=t2} ds[t,t2] q_t[i], dv[i] += sum_{t>=t2} att[t,t2] dout_t[i]
__global__ void attention_dkdv_kernel1(float *dinp, const float *ds, const float *att, const float *dout,
                                       const float *inp, int B, int T, int C, int NH) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * C) { return; }
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    int c = (int)(idx % C), t2 = (int)(idx / C % T), b = (int)(idx / C / T), h = c / hs;
    const size_t head = ((size_t)b * NH + h) * T * T;
    float dk = 0.0f, dv = 0.0f;
    for (int t = t2; t < T; t++) {
        size_t at = head + (size_t)t * T + t2;
        dk += ds[at] * inp[((size_t)b * T + t) * C3 + c];
        dv += att[at] * dout[((size_t)b * T + t) * C + c];
    }
    dinp[((size_t)b * T + t2) * C3 + C + c] += dk;
    dinp[((size_t)b * T + t2) * C3 + 2 * (size_t)C + c] += dv;
}

// ----------------------------------------------------------------------------
// version 2 (D is also version 3's first step)

// D[b,h,t] = dout_t . out_t over the head's channels; one warp per row
__global__ void attention_D_kernel(float *D, const float *dout, const float *out, int B, int T, int C, int NH) {
    const int hs = C / NH, lane = threadIdx.x % WARP_SIZE;
    const size_t row = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / WARP_SIZE;
    if (row >= (size_t)B * NH * T) { return; }
    const int t = (int)(row % T), h = (int)(row / T % NH), b = (int)(row / T / NH);
    const size_t off = ((size_t)b * T + t) * C + (size_t)h * hs;
    float s = 0.0f;
    for (int i = lane; i < hs; i += WARP_SIZE) { s += dout[off + i] * out[off + i]; }
    s = warp_sum(s);
    if (lane == 0) { D[row] = s; }
}

// one warp per (b, h, t): dq_t += scale * sum_{t2<=t} p (dp - D_t) k_t2
__global__ void attention_dq_kernel2(float *dinp, const float *dout, const float *inp, const float *lse,
                                     const float *D, int B, int T, int C, int NH) {
    const int hs = C / NH, lane = threadIdx.x % WARP_SIZE, dims = hs / WARP_SIZE;
    const size_t row = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / WARP_SIZE;
    if (row >= (size_t)B * NH * T) { return; }
    const int t = (int)(row % T), h = (int)(row / T % NH), b = (int)(row / T / NH);
    const size_t C3 = 3 * (size_t)C;
    const float scale = rsqrtf((float)hs);
    const float *kv = inp + (size_t)b * T * C3 + (size_t)h * hs;
    const float *q = kv + (size_t)t * C3, *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
    float qr[ATT2_MAX_DIMS], dr[ATT2_MAX_DIMS], dq[ATT2_MAX_DIMS];
    #pragma unroll
    for (int j = 0; j < ATT2_MAX_DIMS; j++) {
        qr[j] = j < dims ? q[lane + j * WARP_SIZE] : 0.0f;
        dr[j] = j < dims ? d[lane + j * WARP_SIZE] : 0.0f;
        dq[j] = 0.0f;
    }
    const float l = lse[row], Dt = D[row];
    for (int t2 = 0; t2 <= t; t2++) {
        const float *k = kv + (size_t)t2 * C3 + C, *v = kv + (size_t)t2 * C3 + 2 * (size_t)C;
        float s = 0.0f, dp = 0.0f;
        #pragma unroll
        for (int j = 0; j < ATT2_MAX_DIMS; j++) {
            if (j < dims) { s += qr[j] * k[lane + j * WARP_SIZE]; dp += dr[j] * v[lane + j * WARP_SIZE]; }
        }
        s = warp_sum(s);
        dp = warp_sum(dp);
        float ds = expf(s * scale - l) * (dp - Dt) * scale;
        #pragma unroll
        for (int j = 0; j < ATT2_MAX_DIMS; j++) { if (j < dims) { dq[j] += ds * k[lane + j * WARP_SIZE]; } }
    }
    float *dqo = dinp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
    #pragma unroll
    for (int j = 0; j < ATT2_MAX_DIMS; j++) { if (j < dims) { dqo[lane + j * WARP_SIZE] += dq[j]; } }
}

// one warp per (b, h, t2): dk_t2 += scale * sum_{t>=t2} ds q_t, dv_t2 += sum_{t>=t2} p dout_t
__global__ void attention_dkdv_kernel2(float *dinp, const float *dout, const float *inp, const float *lse,
                                       const float *D, int B, int T, int C, int NH) {
    const int hs = C / NH, lane = threadIdx.x % WARP_SIZE, dims = hs / WARP_SIZE;
    const size_t row = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / WARP_SIZE;
    if (row >= (size_t)B * NH * T) { return; }
    const int t2 = (int)(row % T), h = (int)(row / T % NH), b = (int)(row / T / NH);
    const size_t C3 = 3 * (size_t)C;
    const float scale = rsqrtf((float)hs);
    const float *qkv = inp + (size_t)b * T * C3 + (size_t)h * hs;
    const float *k = qkv + (size_t)t2 * C3 + C, *v = qkv + (size_t)t2 * C3 + 2 * (size_t)C;
    const size_t stat = ((size_t)b * NH + h) * T;  // lse and D of row t at stat + t
    float kr[ATT2_MAX_DIMS], vr[ATT2_MAX_DIMS], dk[ATT2_MAX_DIMS], dv[ATT2_MAX_DIMS];
    #pragma unroll
    for (int j = 0; j < ATT2_MAX_DIMS; j++) {
        kr[j] = j < dims ? k[lane + j * WARP_SIZE] : 0.0f;
        vr[j] = j < dims ? v[lane + j * WARP_SIZE] : 0.0f;
        dk[j] = dv[j] = 0.0f;
    }
    for (int t = t2; t < T; t++) {
        const float *q = qkv + (size_t)t * C3, *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
        float s = 0.0f, dp = 0.0f;
        #pragma unroll
        for (int j = 0; j < ATT2_MAX_DIMS; j++) {
            if (j < dims) { s += q[lane + j * WARP_SIZE] * kr[j]; dp += d[lane + j * WARP_SIZE] * vr[j]; }
        }
        s = warp_sum(s);
        dp = warp_sum(dp);
        float p = expf(s * scale - lse[stat + t]);
        float ds = p * (dp - D[stat + t]) * scale;
        #pragma unroll
        for (int j = 0; j < ATT2_MAX_DIMS; j++) {
            if (j < dims) { dk[j] += ds * q[lane + j * WARP_SIZE]; dv[j] += p * d[lane + j * WARP_SIZE]; }
        }
    }
    float *dko = dinp + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
    #pragma unroll
    for (int j = 0; j < ATT2_MAX_DIMS; j++) {
        if (j < dims) { dko[lane + j * WARP_SIZE] += dk[j]; dko[C + lane + j * WARP_SIZE] += dv[j]; }
    }
}

// ----------------------------------------------------------------------------
// version 3: bf16 WMMA. qkv (B,T,3C) and dout (B,T,C) in bf16; dinp fp32.
// Every fragment pointer below is a multiple of 16 elements from an aligned
// base (C3, C, h*64, d*16 and row*16 are): 32-byte aligned, as WMMA needs.

using namespace nvcuda;
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> AccFrag;

// the warp's scratch: S and dP (float 16 x 16), P and dS (bf16 16 x 16)
struct FbScratch {
    float *S, *dP;
    __nv_bfloat16 *P, *dS;
};

__device__ __forceinline__ FbScratch fb_scratch(unsigned char *smem, int warp) {
    FbScratch s;
    s.S = (float *)(smem + (size_t)warp * FB_WARP_SMEM);
    s.dP = s.S + 256;
    s.P = (__nv_bfloat16 *)(s.dP + 256);
    s.dS = s.P + 256;
    return s;
}

// For queries q0..q0+15 and keys k0..k0+15 of one head: S = Q K^T, dP = dO V^T
// on tensor cores, then P = exp(S scale - lse) and dS = P (dP - D) scale (zero
// above the diagonal) into the scratch, in bf16. base: the head's q of token 0;
// dbase: the head's dout of token 0; stat: lse and D of the head's token 0.
__device__ void fb_tile(FbScratch sc, const __nv_bfloat16 *base, const __nv_bfloat16 *dbase, const float *lse,
                        const float *D, int q0, int k0, int C) {
    const size_t C3 = 3 * (size_t)C;
    const int lane = threadIdx.x % WARP_SIZE;
    AccFrag sf, pf;
    wmma::fill_fragment(sf, 0.0f);
    wmma::fill_fragment(pf, 0.0f);
    #pragma unroll
    for (int d = 0; d < FB_HS / 16; d++) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> qa, da;
        wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> kb, vb;
        wmma::load_matrix_sync(qa, base + (size_t)q0 * C3 + d * 16, (unsigned)C3);
        wmma::load_matrix_sync(kb, base + (size_t)k0 * C3 + C + d * 16, (unsigned)C3);   // K^T
        wmma::load_matrix_sync(da, dbase + (size_t)q0 * C + d * 16, (unsigned)C);
        wmma::load_matrix_sync(vb, base + (size_t)k0 * C3 + 2 * (size_t)C + d * 16, (unsigned)C3);  // V^T
        wmma::mma_sync(sf, qa, kb, sf);
        wmma::mma_sync(pf, da, vb, pf);
    }
    wmma::store_matrix_sync(sc.S, sf, 16, wmma::mem_row_major);
    wmma::store_matrix_sync(sc.dP, pf, 16, wmma::mem_row_major);
    __syncwarp();
    const float scale = rsqrtf((float)FB_HS);
    for (int e = lane; e < 256; e += WARP_SIZE) {
        const int t = q0 + e / 16, t2 = k0 + e % 16;
        float p = 0.0f, ds = 0.0f;
        if (t2 <= t) {
            p = expf(sc.S[e] * scale - lse[t]);
            ds = p * (sc.dP[e] - D[t]) * scale;
        }
        sc.P[e] = __float2bfloat16(p);
        sc.dS[e] = __float2bfloat16(ds);
    }
    __syncwarp();
}

// adds the 16 x 16 fragment f into rows row0.. of dst (row stride ld), through
// the warp's float scratch S
__device__ void fb_add_fragment(float *dst, size_t ld, const AccFrag &f, float *stage) {
    const int lane = threadIdx.x % WARP_SIZE;
    wmma::store_matrix_sync(stage, f, 16, wmma::mem_row_major);
    __syncwarp();
    for (int e = lane; e < 256; e += WARP_SIZE) { dst[(size_t)(e / 16) * ld + e % 16] += stage[e]; }
    __syncwarp();
}

// grid (T / 16 / warps, B * NH): warp w of block x owns keys k0 = (x*warps + w)*16 ..
__global__ void attention_dkdv_kernel3(float *dinp, const __nv_bfloat16 *qkv, const __nv_bfloat16 *dout,
                                       const float *lse, const float *D, int B, int T, int NH) {
    DYNAMIC_SMEM(fb_smem);
    const int warp = threadIdx.x / WARP_SIZE, warps = blockDim.x / WARP_SIZE;
    const int b = blockIdx.y / NH, h = blockIdx.y % NH, C = NH * FB_HS;
    const int k0 = (blockIdx.x * warps + warp) * 16;
    if (k0 >= T) { return; }  // the whole warp; no block-wide barriers
    const size_t C3 = 3 * (size_t)C;
    FbScratch sc = fb_scratch(fb_smem, warp);
    const __nv_bfloat16 *base = qkv + (size_t)b * T * C3 + (size_t)h * FB_HS;
    const __nv_bfloat16 *dbase = dout + (size_t)b * T * C + (size_t)h * FB_HS;
    const size_t stat = ((size_t)b * NH + h) * T;
    AccFrag dk[FB_HS / 16], dv[FB_HS / 16];
    #pragma unroll
    for (int n = 0; n < FB_HS / 16; n++) { wmma::fill_fragment(dk[n], 0.0f); wmma::fill_fragment(dv[n], 0.0f); }
    for (int q0 = k0; q0 < T; q0 += 16) {  // queries before k0 do not see these keys
        fb_tile(sc, base, dbase, lse + stat, D + stat, q0, k0, C);
        // P^T and dS^T: the scratch holds P[q][k] row-major = P^T column-major, ld 16
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::col_major> pt, dst;
        wmma::load_matrix_sync(pt, sc.P, 16);
        wmma::load_matrix_sync(dst, sc.dS, 16);
        #pragma unroll
        for (int n = 0; n < FB_HS / 16; n++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> dob, qb;
            wmma::load_matrix_sync(dob, dbase + (size_t)q0 * C + n * 16, (unsigned)C);
            wmma::load_matrix_sync(qb, base + (size_t)q0 * C3 + n * 16, (unsigned)C3);
            wmma::mma_sync(dv[n], pt, dob, dv[n]);  // dV += P^T dO
            wmma::mma_sync(dk[n], dst, qb, dk[n]);  // dK += dS^T Q (scale is in dS)
        }
        __syncwarp();  // the next tile rewrites the scratch
    }
    float *drow = dinp + ((size_t)b * T + k0) * C3 + (size_t)h * FB_HS;
    #pragma unroll
    for (int n = 0; n < FB_HS / 16; n++) {
        fb_add_fragment(drow + C + n * 16, C3, dk[n], sc.S);
        fb_add_fragment(drow + 2 * (size_t)C + n * 16, C3, dv[n], sc.S);
    }
}

// grid (T / 16 / warps, B * NH): warp w of block x owns queries q0 = (x*warps + w)*16 ..
__global__ void attention_dq_kernel3(float *dinp, const __nv_bfloat16 *qkv, const __nv_bfloat16 *dout,
                                     const float *lse, const float *D, int B, int T, int NH) {
    DYNAMIC_SMEM(fb_smem);
    const int warp = threadIdx.x / WARP_SIZE, warps = blockDim.x / WARP_SIZE;
    const int b = blockIdx.y / NH, h = blockIdx.y % NH, C = NH * FB_HS;
    const int q0 = (blockIdx.x * warps + warp) * 16;
    if (q0 >= T) { return; }
    const size_t C3 = 3 * (size_t)C;
    FbScratch sc = fb_scratch(fb_smem, warp);
    const __nv_bfloat16 *base = qkv + (size_t)b * T * C3 + (size_t)h * FB_HS;
    const __nv_bfloat16 *dbase = dout + (size_t)b * T * C + (size_t)h * FB_HS;
    const size_t stat = ((size_t)b * NH + h) * T;
    AccFrag dq[FB_HS / 16];
    #pragma unroll
    for (int n = 0; n < FB_HS / 16; n++) { wmma::fill_fragment(dq[n], 0.0f); }
    for (int k0 = 0; k0 <= q0; k0 += 16) {  // keys after q0 + 15 are masked for all these queries
        fb_tile(sc, base, dbase, lse + stat, D + stat, q0, k0, C);
        wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> dsa;
        wmma::load_matrix_sync(dsa, sc.dS, 16);
        #pragma unroll
        for (int n = 0; n < FB_HS / 16; n++) {
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> kb;
            wmma::load_matrix_sync(kb, base + (size_t)k0 * C3 + C + n * 16, (unsigned)C3);  // K (keys x hs)
            wmma::mma_sync(dq[n], dsa, kb, dq[n]);  // dQ += dS K
        }
        __syncwarp();
    }
    float *drow = dinp + ((size_t)b * T + q0) * C3 + (size_t)h * FB_HS;
    #pragma unroll
    for (int n = 0; n < FB_HS / 16; n++) { fb_add_fragment(drow + n * 16, C3, dq[n], sc.S); }
}

// ----------------------------------------------------------------------------
// version 4: train_attention.cuh's kernels, launched as train.cu launches them
// (after D): HS head size, BQ queries per tile of dK/dV, BK keys per tile of dQ

template <int HS, int BQ, int BK>
static void attention_backward4(__nv_bfloat16 *dinp16, const __nv_bfloat16 *dout16, const __nv_bfloat16 *inp16,
                                const float *lse, const float *D, int B, int T, int C, int NH) {
    const size_t sk = FaDkvSmem<HS, BQ>::bytes, sq = FaDqSmem<HS, BK>::bytes;
    cudaCheck(cudaFuncSetAttribute(attention_backward_dkv_mma_kernel<HS, BQ>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sk));
    cudaCheck(cudaFuncSetAttribute(attention_backward_dq_mma_kernel<HS, BK>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sq));
    dim3 grid(ceil_div(T, FA_ROWS), B * NH);
    LAUNCH(grid, FA_WARPS * WARP_SIZE, sk, attention_backward_dkv_mma_kernel<HS, BQ>)(dinp16, dout16, inp16, lse, D,
                                                                                      B, T, C, NH);
    cudaCheck(cudaGetLastError());
    LAUNCH(grid, FA_WARPS * WARP_SIZE, sq, attention_backward_dq_mma_kernel<HS, BK>)(dinp16, dout16, inp16, lse, D,
                                                                                     B, T, C, NH);
}

// ----------------------------------------------------------------------------
// launcher: the CPU twin's outputs and inputs, then what the fused versions use
// instead of att (out, lse, the D scratch, bf16 copies), dimensions

typedef struct {
    const float *att;           // (B,NH,T,T) version 1
    float *datt;                // (B,NH,T,T) version 1 scratch
    const float *out, *lse;     // (B,T,C), (B,NH,T): versions 2 and 3
    float *D;                   // (B,NH,T) scratch: versions 2 and 3
    const __nv_bfloat16 *inp16, *dout16;  // versions 3 and 4
    __nv_bfloat16 *dinp16;      // (B,T,3C) version 4's output (overwritten)
} AttBwdExtra;

static void attention_backward(int version, int block_size, float *dinp, const float *dout, const float *inp,
                               const AttBwdExtra *x, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const size_t rows = (size_t)B * NH * T;
    switch (version) {
        case 1:
            LAUNCH(ceil_div(rows * T, block_size), block_size, 0, attention_datt_kernel1)(x->datt, dout, inp, B, T, C, NH);
            cudaCheck(cudaGetLastError());
            LAUNCH(ceil_div(rows, block_size), block_size, 0, attention_dsoftmax_kernel1)(x->datt, x->att, B, T, NH,
                                                                                  1.0f / sqrtf((float)hs));
            cudaCheck(cudaGetLastError());
            LAUNCH(ceil_div((size_t)B * T * C, block_size), block_size, 0, attention_dq_kernel1)(dinp, x->datt, inp, B, T, C, NH);
            cudaCheck(cudaGetLastError());
            LAUNCH(ceil_div((size_t)B * T * C, block_size), block_size, 0, attention_dkdv_kernel1)(dinp, x->datt, x->att,
                                                                                           dout, inp, B, T, C, NH);
            break;
        case 2:
            if (hs % WARP_SIZE != 0 || hs > WARP_SIZE * ATT2_MAX_DIMS) {
                die("attention_backward v2 needs hs %% 32 == 0 and hs <= %d, got %d", WARP_SIZE * ATT2_MAX_DIMS, hs);
            }
            LAUNCH(ceil_div(rows * WARP_SIZE, block_size), block_size, 0, attention_D_kernel)(x->D, dout, x->out, B, T, C, NH);
            cudaCheck(cudaGetLastError());
            LAUNCH(ceil_div(rows * WARP_SIZE, block_size), block_size, 0, attention_dq_kernel2)(dinp, dout, inp, x->lse, x->D,
                                                                                        B, T, C, NH);
            cudaCheck(cudaGetLastError());
            LAUNCH(ceil_div(rows * WARP_SIZE, block_size), block_size, 0, attention_dkdv_kernel2)(dinp, dout, inp, x->lse,
                                                                                          x->D, B, T, C, NH);
            break;
        case 3: {
            if (hs != FB_HS || T % 16 != 0) { die("attention_backward v3 needs hs = %d and T %% 16 == 0", FB_HS); }
            LAUNCH(ceil_div(rows * WARP_SIZE, 256), 256, 0, attention_D_kernel)(x->D, dout, x->out, B, T, C, NH);
            cudaCheck(cudaGetLastError());
            const int warps = block_size / WARP_SIZE;
            dim3 grid(ceil_div(T / 16, warps), B * NH);
            const size_t smem = (size_t)warps * FB_WARP_SMEM;
            LAUNCH(grid, block_size, smem, attention_dkdv_kernel3)(dinp, x->inp16, x->dout16, x->lse, x->D, B, T, NH);
            cudaCheck(cudaGetLastError());
            LAUNCH(grid, block_size, smem, attention_dq_kernel3)(dinp, x->inp16, x->dout16, x->lse, x->D, B, T, NH);
            break;
        }
        case 4:
            if (block_size != FA_WARPS * WARP_SIZE) { die("attention_backward v4 runs blocks of %d threads", FA_WARPS * WARP_SIZE); }
            if (hs != 64 && hs != 128) { die("attention_backward v4 needs hs = 64 or 128, got %d", hs); }
            LAUNCH(ceil_div(rows * WARP_SIZE, 256), 256, 0, attention_D_kernel)(x->D, dout, x->out, B, T, C, NH);
            cudaCheck(cudaGetLastError());
            if (hs == 64) { attention_backward4<64, 64, 64>(x->dinp16, x->dout16, x->inp16, x->lse, x->D, B, T, C, NH); }
            else { attention_backward4<128, 32, 32>(x->dinp16, x->dout16, x->inp16, x->lse, x->D, B, T, C, NH); }
            break;
        default: die("attention_backward: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------

// the CPU side of one set of inputs: the forward's saved tensors from train.c's
// forward (and the lse reference), then the CPU twin's gradient
typedef struct {
    float *out, *att, *lse, *dinp_ref;
} AttRef;

static AttRef attention_reference(const float *inp, const float *dout, const float *dinp0, int B, int T, int C, int NH) {
    const size_t ni = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    AttRef r;
    r.out = (float *)mallocCheck(no * 4);
    r.att = (float *)mallocCheck(na * 4);
    r.lse = (float *)mallocCheck((size_t)B * NH * T * 4);
    r.dinp_ref = (float *)mallocCheck(ni * 4);
    attention_forward(r.out, r.att, inp, B, T, C, NH);
    attention_lse_reference(r.lse, inp, B, T, C, NH);
    memcpy(r.dinp_ref, dinp0, ni * 4);
    attention_backward(r.dinp_ref, dout, inp, r.att, B, T, C, NH);  // the CPU twin
    return r;
}

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "attention_backward");
    const int B = LAB_SHAPE(4, 1), T = LAB_SHAPE(1024, 128), C = LAB_SHAPE(768, 128), NH = LAB_SHAPE(12, 2);
    const size_t ni = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    const size_t nl = (size_t)B * NH * T;
    float *inp = make_random(ni, 1.0f, 1), *dout = make_random(no, 1.0f, 2);
    float *dinp0 = make_random(ni, 0.1f, 3);  // added into
    // versions 1 and 2: fp32 inputs
    AttRef ref = attention_reference(inp, dout, dinp0, B, T, C, NH);
    // version 3 reads bf16 q, k, v and dout: its reference is the CPU twin on the
    // same rounded inputs, so the check sees the kernel's own rounding (P and dS
    // in bf16) and not the inputs' (which alone moves dinp by ~5% of its rms)
    float *inp_r = make_rounded_bf16(inp, ni), *dout_r = make_rounded_bf16(dout, no);
    AttRef ref16 = attention_reference(inp_r, dout_r, dinp0, B, T, C, NH);

    float *d_inp = to_device(inp, ni), *d_dout = to_device(dout, no), *d_dinp = to_device(dinp0, ni);
    float *d_dout_r = to_device(dout_r, no);
    AttBwdExtra x;  // versions 1 and 2
    x.att = to_device(ref.att, na);
    x.datt = device_alloc<float>(na);
    x.out = to_device(ref.out, no);
    x.lse = to_device(ref.lse, nl);
    x.D = device_alloc<float>(nl);
    x.inp16 = NULL;
    x.dout16 = NULL;
    x.dinp16 = NULL;
    AttBwdExtra x16 = x;  // version 3: the rounded inputs' forward
    x16.att = NULL;
    x16.datt = NULL;
    x16.out = to_device(ref16.out, no);
    x16.lse = to_device(ref16.lse, nl);
    x16.inp16 = to_device_bf16(inp_r, ni);
    x16.dout16 = to_device_bf16(dout_r, no);
    x16.dinp16 = device_alloc<__nv_bfloat16>(ni);
    // version 4 overwrites: its reference is the gradient alone (the
    // reference minus the dinp0 it was added into)
    float *grad16 = (float *)mallocCheck(ni * 4);
    for (size_t i = 0; i < ni; i++) { grad16[i] = ref16.dinp_ref[i] - dinp0[i]; }
    static const char *names[] = {"", "naive T x T", "fused fp32", "flash wmma bf16", "flash2 mma.sync bf16"};
    static const int sizes1[] = {64, 128, 256, 512, 1024, 0}, sizes3[] = {32, 64, 128, 256, 0};
    static const int sizes4[] = {FA_WARPS * WARP_SIZE, 0};
    const double flops = 10.0 * B * NH * ((double)T * (T + 1) / 2) * (C / NH);  // 2.5 x the forward's
    const double r16 = rms(ref16.dinp_ref, ni), g16 = rms(grad16, ni);
    for (int v = 1; v <= 4; v++) {
        const int *sizes = v == 4 ? sizes4 : v == 3 ? sizes3 : sizes1;
        const AttBwdExtra *xv = v >= 3 ? &x16 : &x;
        const float *d_dout_v = v >= 3 ? d_dout_r : d_dout;
        for (int i = 0; sizes[i] != 0; i++) {
            const int bs = sizes[i];
            if (!lab_wants(&lab, v, bs)) { continue; }
            reset_device(d_dinp, dinp0, ni);
            if (v == 4) {  // NaN: version 4 overwrites, and must write every element
                cudaCheck(cudaMemset(x16.dinp16, 0xFF, ni * sizeof(__nv_bfloat16)));
            }
            attention_backward(v, bs, d_dinp, d_dout_v, d_inp, xv, B, T, C, NH);
            char what[64];
            snprintf(what, sizeof(what), "v%d bs %d dinp", v, bs);
            if (v == 4) {
                // as version 3 (P and dS in bf16), and dinp itself rounded to bf16
                validate(what, x16.dinp16, grad16, ni, 5e-2 * g16, 2e-2);
            } else if (v == 3) {
                // P and dS in bf16 (~0.4% per term) in sums that cancel (each row
                // of dS sums to 0): in a numpy model of this kernel (one head,
                // T = 1024) the worst element used 0.4 of this tolerance
                validate(what, d_dinp, ref16.dinp_ref, ni, 5e-2 * r16, 2e-2);
            } else {
                // float sums of up to T terms in another order (and p recomputed from lse)
                validate(what, d_dinp, ref.dinp_ref, ni, 1e-4, 1e-3);
            }
            float ms = lab_time(&lab, [&] { attention_backward(v, bs, d_dinp, d_dout_v, d_inp, xv, B, T, C, NH); });
            lab_report(&lab, v >= 3 ? "bf16" : "fp32", v, names[v], bs, ms, flops, v >= 3 ? PEAK_BF16 : PEAK_FP32, 0);
        }
    }
    lab_summary(&lab);
    cudaCheck(cudaFree(d_inp)); cudaCheck(cudaFree(d_dout)); cudaCheck(cudaFree(d_dinp)); cudaCheck(cudaFree(d_dout_r));
    cudaCheck(cudaFree((void *)x.att)); cudaCheck(cudaFree(x.datt)); cudaCheck(cudaFree((void *)x.out));
    cudaCheck(cudaFree((void *)x.lse)); cudaCheck(cudaFree(x.D));
    cudaCheck(cudaFree((void *)x16.out)); cudaCheck(cudaFree((void *)x16.lse));
    cudaCheck(cudaFree((void *)x16.inp16)); cudaCheck(cudaFree((void *)x16.dout16)); cudaCheck(cudaFree(x16.dinp16));
    free(grad16);
    AttRef *refs[] = {&ref, &ref16};
    for (AttRef *rf : refs) { free(rf->out); free(rf->att); free(rf->lse); free(rf->dinp_ref); }
    free(inp); free(dout); free(dinp0); free(inp_r); free(dout_r);
    lab_free(&lab);
    return 0;
}
