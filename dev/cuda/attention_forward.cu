/*
dev/cuda/attention_forward.cu: causal multi-head self-attention
    inp (B, T, 3C) holds q, k, v; head h in channels [h*hs, (h+1)*hs) of each
    att[t2] = softmax_{t2 <= t}(q_t . k_t2 / sqrt(hs)),  out_t = sum_{t2<=t} att[t2] v_t2
CPU twin: attention_forward in train.c (out (B,T,C) and att (B,NH,T,T)).
The fused versions keep no T x T matrix; they save lse (B,NH,T), the log of
each row's softmax denominator, which is all the backward needs to rebuild att.
FLOPs counted: the two products over the causal half, 4 * hs per (t, t2 <= t).
No library yardstick here (cuDNN is not used); the % of peak is the measure.

Versions:
  1. naive, the CPU's three steps as three kernels through the T x T matrix in
     global memory: scores (one thread per (t, t2)), softmax (one thread per
     row), weighted sum of values (one thread per output); fp32
  2. fused online softmax, fp32: one warp per query row, lanes split the head
     dimensions; keys are visited once, and the running max m, sum l and output
     acc are rescaled by exp(m_old - m_new) whenever the max grows, so the
     scores never leave registers (hs % 32 == 0, hs <= 128)
  3. flash-attention style with tensor cores: bf16 q, k, v, fp32 accumulation,
     WMMA 16x16x16. A warp owns 16 queries; per tile of 64 keys it computes
     S = Q K^T (16 x 64) on tensor cores, does the online softmax on S in
     shared memory (two lanes per row, alternate columns: padded rows keep
     the lanes off each other's banks), writes P in bf16, and adds P V (16 x hs)
     into its output rows, rescaled like version 2. hs = 64, T % 64 == 0;
     K and V fragments are loaded from global memory, and the warps of a block
     take neighbouring query tiles of one head, so they share them in L1.
  4. FlashAttention-2 style, the kernel train.cu's bf16 build runs
     (attention_forward_mma_kernel in train_attention.cuh, included here, not
     copied): mma.sync m16n8k16 bf16 through inline PTX, a block of 4 warps,
     16 query rows per warp. S = Q K^T stays in registers as accumulator
     fragments, the online softmax runs on them (a row lives in a quad of
     lanes: two shuffles), and the same registers, rounded to bf16, are the
     A fragments of P V: no shared-memory round trip for S, P or O (version
     3 stores S and P and reloads them). K and V tiles of 64 keys come in by
     16-byte cp.async into two shared buffers, tile i+1 in flight while tile
     i is used; tiles above the diagonal are never loaded. out in bf16 (as in
     train.cu). hs = 64 or 128, any T.

    make -C dev/cuda attention_forward && ./dev/cuda/attention_forward [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"
#include <mma.h>
#include "attention_common.cuh"
#include "../../train_attention.cuh"  // version 4

#define ATT2_MAX_DIMS 4  // version 2: head dimensions per lane, hs <= 128
#define FA_HS 64         // version 3: head size
#define FA_BQ 16         // queries per warp
#define FA_BK 64         // keys per tile
// version 3, shared memory per warp: S and O (float, 16 x 64) and P (bf16, 16 x 64).
// Row strides padded (68 floats, 72 bf16; WMMA wants multiples of 4 and 8) and
// each lane taking every other column: the 32 lanes of a warp then hit 16
// different banks (2-way), where 64-float rows would put them all in one bank.
#define FA_LDS 68
#define FA_LDP 72
#define FA_WARP_SMEM (2 * FA_BQ * FA_LDS * sizeof(float) + FA_BQ * FA_LDP * sizeof(__nv_bfloat16))
static_assert(FA_BK == FA_HS, "version 3 keeps O (16 x hs) with the row layout of S (16 x 64)");
static_assert(FA_WARP_SMEM % 32 == 0, "each warp's scratch must stay 32-byte aligned for WMMA");

// ----------------------------------------------------------------------------
// version 1

// att[b,h,t,t2] = q_t . k_t2 * scale for t2 <= t (the rest is left for the softmax)
__global__ void attention_scores_kernel1(float *att, const float *inp, int B, int T, int C, int NH) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * NH * T * T) { return; }
    int t2 = (int)(idx % T), t = (int)(idx / T % T), h = (int)(idx / T / T % NH), b = (int)(idx / T / T / NH);
    if (t2 > t) { return; }
    const int hs = C / NH;
    const float *q = inp + ((size_t)b * T + t) * 3 * C + (size_t)h * hs;
    const float *k = inp + ((size_t)b * T + t2) * 3 * C + C + (size_t)h * hs;
    float s = 0.0f;
    for (int i = 0; i < hs; i++) { s += q[i] * k[i]; }
    att[idx] = s * rsqrtf((float)hs);
}

// one row of att: softmax over t2 <= t in place, zeros after t
__global__ void attention_softmax_kernel1(float *att, int B, int T, int NH) {
    size_t row = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (row >= (size_t)B * NH * T) { return; }
    int t = (int)(row % T);
    float *a = att + row * T;
    float m = a[0];
    for (int t2 = 1; t2 <= t; t2++) { m = fmaxf(m, a[t2]); }
    float sum = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) { a[t2] = expf(a[t2] - m); sum += a[t2]; }
    for (int t2 = 0; t2 <= t; t2++) { a[t2] /= sum; }
    for (int t2 = t + 1; t2 < T; t2++) { a[t2] = 0.0f; }
}

// out[b,t,h*hs+i] = sum_{t2<=t} att[b,h,t,t2] * v_t2[i]
__global__ void attention_values_kernel1(float *out, const float *att, const float *inp, int B, int T,
                                         int C, int NH) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * C) { return; }
    const int hs = C / NH;
    int c = (int)(idx % C), t = (int)(idx / C % T), b = (int)(idx / C / T);
    int h = c / hs;
    const float *a = att + (((size_t)b * NH + h) * T + t) * T;
    const float *v = inp + (size_t)b * T * 3 * C + 2 * (size_t)C + c;
    float s = 0.0f;
    for (int t2 = 0; t2 <= t; t2++) { s += a[t2] * v[(size_t)t2 * 3 * C]; }
    out[idx] = s;
}

// ----------------------------------------------------------------------------
// version 2: one warp per (b, h, t); out (B,T,C), lse (B,NH,T)

__global__ void attention_forward_kernel2(float *out, float *lse, const float *inp, int B, int T, int C, int NH) {
    const int hs = C / NH, lane = threadIdx.x % WARP_SIZE;
    const size_t row = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) / WARP_SIZE;  // (b, h, t)
    if (row >= (size_t)B * NH * T) { return; }
    const int t = (int)(row % T), h = (int)(row / T % NH), b = (int)(row / T / NH);
    const size_t C3 = 3 * (size_t)C;
    const float *q = inp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
    const float *kv = inp + (size_t)b * T * C3 + (size_t)h * hs;  // k_t2 at t2*C3 + C, v_t2 at + 2C
    const float scale = rsqrtf((float)hs);
    const int dims = hs / WARP_SIZE;
    float qr[ATT2_MAX_DIMS], acc[ATT2_MAX_DIMS];
    #pragma unroll
    for (int j = 0; j < ATT2_MAX_DIMS; j++) { qr[j] = j < dims ? q[lane + j * WARP_SIZE] * scale : 0.0f; }
    // key 0 starts the running statistics: m = s_0, l = 1, acc = v_0
    float m = 0.0f, l = 1.0f;
    for (int t2 = 0; t2 <= t; t2++) {
        const float *k = kv + (size_t)t2 * C3 + C, *v = kv + (size_t)t2 * C3 + 2 * (size_t)C;
        float s = 0.0f;
        #pragma unroll
        for (int j = 0; j < ATT2_MAX_DIMS; j++) { if (j < dims) { s += qr[j] * k[lane + j * WARP_SIZE]; } }
        s = warp_sum(s);
        if (t2 == 0) {
            m = s;
            #pragma unroll
            for (int j = 0; j < ATT2_MAX_DIMS; j++) { acc[j] = j < dims ? v[lane + j * WARP_SIZE] : 0.0f; }
            continue;
        }
        // new max: rescale what was summed so far by e^(m_old - m_new) <= 1
        float m_new = fmaxf(m, s), corr = expf(m - m_new), p = expf(s - m_new);
        l = l * corr + p;
        #pragma unroll
        for (int j = 0; j < ATT2_MAX_DIMS; j++) { if (j < dims) { acc[j] = acc[j] * corr + p * v[lane + j * WARP_SIZE]; } }
        m = m_new;
    }
    float *o = out + ((size_t)b * T + t) * C + (size_t)h * hs;
    #pragma unroll
    for (int j = 0; j < ATT2_MAX_DIMS; j++) { if (j < dims) { o[lane + j * WARP_SIZE] = acc[j] / l; } }
    if (lane == 0) { lse[row] = m + logf(l); }
}

// ----------------------------------------------------------------------------
// version 3: flash-attention style, bf16 WMMA. Grid (T / 16 / warps, B * NH);
// warp w of block x owns queries q0 = (x * warps + w) * 16 .. q0 + 15.

__global__ void attention_forward_kernel3(float *out, float *lse, const __nv_bfloat16 *qkv, int B, int T, int NH) {
    using namespace nvcuda;
    DYNAMIC_SMEM(fa_smem);
    const int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    const int warps = blockDim.x / WARP_SIZE;
    float *S = (float *)(fa_smem + (size_t)warp * FA_WARP_SMEM);  // (16, 64) scores, then P V
    float *O = S + FA_BQ * FA_LDS;                                // (16, 64) output rows
    __nv_bfloat16 *P = (__nv_bfloat16 *)(O + FA_BQ * FA_LDS);    // (16, 64) probabilities
    const int b = blockIdx.y / NH, h = blockIdx.y % NH;
    const int q0 = (blockIdx.x * warps + warp) * FA_BQ;
    if (q0 >= T) { return; }  // the whole warp; no block-wide barriers below
    const int C = NH * FA_HS;
    const size_t C3 = 3 * (size_t)C;
    // q_t at base + t*C3, k_t at + C, v_t at + 2C; every fragment pointer is a
    // multiple of 16 elements (C3, C, h*64 and d*16 are): 32-byte aligned
    const __nv_bfloat16 *base = qkv + (size_t)b * T * C3 + (size_t)h * FA_HS;
    const float scale = rsqrtf((float)FA_HS);

    wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> qf[FA_HS / 16];
    #pragma unroll
    for (int d = 0; d < FA_HS / 16; d++) { wmma::load_matrix_sync(qf[d], base + (size_t)q0 * C3 + d * 16, (unsigned)C3); }
    for (int i = lane; i < FA_BQ * FA_LDS; i += WARP_SIZE) { O[i] = 0.0f; }

    // lanes 2r and 2r+1 own row r (query q0 + r); lane `half` takes the columns
    // 2c + half, c = 0..31 (keys k0 + 2c + half, or output dimensions 2c + half)
    const int r = lane / 2, half = lane % 2, t = q0 + r;
    float m = 0.0f, l = 0.0f;  // set by the first tile (kt == 0)
    // tiles start at multiples of 64 <= q0 (q0 is a multiple of 16), so every
    // row has at least its tile's first key: no row is ever fully masked
    for (int k0 = 0; k0 <= q0 + FA_BQ - 1; k0 += FA_BK) {
        // S = Q K^T: K^T[d][key] = k_key[d] is column-major with ld C3
        #pragma unroll
        for (int j = 0; j < FA_BK / 16; j++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> sf;
            wmma::fill_fragment(sf, 0.0f);
            #pragma unroll
            for (int d = 0; d < FA_HS / 16; d++) {
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::col_major> kf;
                wmma::load_matrix_sync(kf, base + (size_t)(k0 + j * 16) * C3 + C + d * 16, (unsigned)C3);
                wmma::mma_sync(sf, qf[d], kf, sf);
            }
            wmma::store_matrix_sync(S + j * 16, sf, FA_LDS, wmma::mem_row_major);
        }
        __syncwarp();
        // online softmax of this lane's 32 scores of row r
        float *srow = S + r * FA_LDS + half;  // column 2c + half at srow[2c]
        float tile_max = 0.0f;
        int have = 0;  // does this lane hold an unmasked key?
        for (int c = 0; c < 32; c++) {
            int key = k0 + 2 * c + half;
            float s = srow[2 * c] * scale;
            if (key <= t) { tile_max = have ? fmaxf(tile_max, s) : s; have = 1; }
        }
        float other_max = __shfl_xor_sync(0xffffffffu, tile_max, 1);
        int other_have = __shfl_xor_sync(0xffffffffu, have, 1);
        if (!have) { tile_max = other_max; }  // half 0 always has key k0 <= t (c = 0)
        else if (other_have) { tile_max = fmaxf(tile_max, other_max); }
        const int first = k0 == 0;
        const float m_new = first ? tile_max : fmaxf(m, tile_max);
        const float corr = first ? 0.0f : expf(m - m_new);
        float psum = 0.0f;
        __nv_bfloat16 *prow = P + r * FA_LDP + half;
        for (int c = 0; c < 32; c++) {
            int key = k0 + 2 * c + half;
            float p = key <= t ? expf(srow[2 * c] * scale - m_new) : 0.0f;
            psum += p;
            prow[2 * c] = __float2bfloat16(p);
        }
        psum += __shfl_xor_sync(0xffffffffu, psum, 1);
        l = l * corr + psum;
        m = m_new;
        float *orow = O + r * FA_LDS + half;
        for (int c = 0; c < 32; c++) { orow[2 * c] *= corr; }
        __syncwarp();
        // S = P V (16 x 64): V[key][d] is row-major with ld C3
        #pragma unroll
        for (int dn = 0; dn < FA_HS / 16; dn++) {
            wmma::fragment<wmma::accumulator, 16, 16, 16, float> of;
            wmma::fill_fragment(of, 0.0f);
            #pragma unroll
            for (int j = 0; j < FA_BK / 16; j++) {
                wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> pf;
                wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> vf;
                wmma::load_matrix_sync(pf, P + j * 16, FA_LDP);
                wmma::load_matrix_sync(vf, base + (size_t)(k0 + j * 16) * C3 + 2 * (size_t)C + dn * 16, (unsigned)C3);
                wmma::mma_sync(of, pf, vf, of);
            }
            wmma::store_matrix_sync(S + dn * 16, of, FA_LDS, wmma::mem_row_major);
        }
        __syncwarp();
        for (int c = 0; c < 32; c++) { orow[2 * c] += srow[2 * c]; }
        __syncwarp();  // S and P are rewritten by the next tile
    }
    float *o = out + ((size_t)b * T + t) * C + (size_t)h * FA_HS + half;
    const float *orow = O + r * FA_LDS + half;
    for (int c = 0; c < 32; c++) { o[2 * c] = orow[2 * c] / l; }
    if (half == 0) { lse[((size_t)b * NH + h) * T + t] = m + logf(l); }
}

// ----------------------------------------------------------------------------
// version 4: train_attention.cuh's kernel, launched as train.cu launches it

template <int HS, int BK>
static void attention_forward4(__nv_bfloat16 *out16, float *lse, const __nv_bfloat16 *inp16, int B, int T,
                               int C, int NH) {
    const size_t smem = FaFwdSmem<HS, BK>::bytes;
    cudaCheck(cudaFuncSetAttribute(attention_forward_mma_kernel<HS, BK>, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                   (int)smem));
    dim3 grid(ceil_div(T, FA_ROWS), B * NH);
    LAUNCH(grid, FA_WARPS * WARP_SIZE, smem, attention_forward_mma_kernel<HS, BK>)(out16, lse, inp16, B, T, C, NH);
}

// ----------------------------------------------------------------------------
// launcher: out (out16 for version 4, bf16), then what the version saves (att
// for 1, lse for 2 to 4), the input (fp32 for 1 and 2, bf16 for 3 and 4),
// dimensions

static void attention_forward(int version, int block_size, float *out, __nv_bfloat16 *out16, float *att,
                              float *lse, const float *inp, const __nv_bfloat16 *inp16, int B, int T, int C,
                              int NH) {
    const int hs = C / NH;
    switch (version) {
        case 1:
            LAUNCH(ceil_div((size_t)B * NH * T * T, block_size), block_size, 0, attention_scores_kernel1)(att, inp, B, T, C, NH);
            cudaCheck(cudaGetLastError());
            LAUNCH(ceil_div((size_t)B * NH * T, block_size), block_size, 0, attention_softmax_kernel1)(att, B, T, NH);
            cudaCheck(cudaGetLastError());
            LAUNCH(ceil_div((size_t)B * T * C, block_size), block_size, 0, attention_values_kernel1)(out, att, inp, B, T, C, NH);
            break;
        case 2:
            if (hs % WARP_SIZE != 0 || hs > WARP_SIZE * ATT2_MAX_DIMS) {
                die("attention_forward v2 needs hs %% 32 == 0 and hs <= %d, got %d", WARP_SIZE * ATT2_MAX_DIMS, hs);
            }
            LAUNCH(ceil_div((size_t)B * NH * T * WARP_SIZE, block_size), block_size, 0, attention_forward_kernel2)(
                out, lse, inp, B, T, C, NH);
            break;
        case 3: {
            if (hs != FA_HS || T % FA_BK != 0) { die("attention_forward v3 needs hs = %d and T %% %d == 0", FA_HS, FA_BK); }
            const int warps = block_size / WARP_SIZE;
            dim3 grid(ceil_div(T / FA_BQ, warps), B * NH);
            LAUNCH(grid, block_size, (size_t)warps * FA_WARP_SMEM, attention_forward_kernel3)(out, lse, inp16, B, T, NH);
            break;
        }
        case 4:
            if (block_size != FA_WARPS * WARP_SIZE) { die("attention_forward v4 runs blocks of %d threads", FA_WARPS * WARP_SIZE); }
            if (hs == 64) { attention_forward4<64, 64>(out16, lse, inp16, B, T, C, NH); }
            else if (hs == 128) { attention_forward4<128, 64>(out16, lse, inp16, B, T, C, NH); }
            else { die("attention_forward v4 needs hs = 64 or 128, got %d", hs); }
            break;
        default: die("attention_forward: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "attention_forward");
    const int B = LAB_SHAPE(4, 1), T = LAB_SHAPE(1024, 128), C = LAB_SHAPE(768, 128), NH = LAB_SHAPE(12, 2);
    const size_t ni = (size_t)B * T * 3 * C, no = (size_t)B * T * C, na = (size_t)B * NH * T * T;
    const size_t nl = (size_t)B * NH * T;
    float *inp = make_random(ni, 1.0f, 1);
    float *out_ref = (float *)mallocCheck(no * 4), *att_ref = (float *)mallocCheck(na * 4);
    float *lse_ref = (float *)mallocCheck(nl * 4);
    attention_lse_reference(lse_ref, inp, B, T, C, NH);
    // version 3 reads bf16 q, k, v: its reference is the CPU twin on the same
    // rounded inputs, so the check sees the kernel's own rounding (P in bf16)
    // and not the inputs' (which moves scores by ~0.5%, and out by more than
    // a tolerance that still catches mistakes would allow)
    float *inp_r = make_rounded_bf16(inp, ni);
    float *out_ref16 = (float *)mallocCheck(no * 4), *lse_ref16 = (float *)mallocCheck(nl * 4);
    attention_forward(out_ref16, att_ref, inp_r, B, T, C, NH);
    attention_lse_reference(lse_ref16, inp_r, B, T, C, NH);
    attention_forward(out_ref, att_ref, inp, B, T, C, NH);  // the CPU twin, for versions 1 and 2

    float *d_inp = to_device(inp, ni);
    __nv_bfloat16 *d_inp16 = to_device_bf16(inp, ni);
    float *d_out = device_alloc<float>(no), *d_att = device_alloc<float>(na), *d_lse = device_alloc<float>(nl);
    __nv_bfloat16 *d_out16 = device_alloc<__nv_bfloat16>(no);
    static const char *names[] = {"", "naive T x T", "online softmax", "flash wmma bf16", "flash2 mma.sync bf16"};
    static const int sizes1[] = {64, 128, 256, 512, 1024, 0}, sizes3[] = {32, 64, 128, 0};
    static const int sizes4[] = {FA_WARPS * WARP_SIZE, 0};
    // causal: 2 products of 2 hs FLOPs per (t, t2 <= t)
    const double flops = 4.0 * B * NH * ((double)T * (T + 1) / 2) * (C / NH);
    for (int v = 1; v <= 4; v++) {
        const int *sizes = v == 4 ? sizes4 : v == 3 ? sizes3 : sizes1;
        for (int i = 0; sizes[i] != 0; i++) {
            const int bs = sizes[i];
            if (!lab_wants(&lab, v, bs)) { continue; }
            cudaCheck(cudaMemset(d_out, 0, no * 4));
            cudaCheck(cudaMemset(d_out16, 0, no * sizeof(__nv_bfloat16)));
            cudaCheck(cudaMemset(d_lse, 0, nl * 4));
            attention_forward(v, bs, d_out, d_out16, d_att, d_lse, d_inp, d_inp16, B, T, C, NH);
            char what[64];
            snprintf(what, sizeof(what), "v%d bs %d out", v, bs);
            if (v == 4) {
                // as version 3, and out itself rounded to bf16 (0.2% more)
                validate(what, d_out16, out_ref16, no, 1e-2, 2e-2);
            } else if (v == 3) {
                // P in bf16 (~0.4% per term, random signs), on outputs of size ~0.1-1
                validate(what, d_out, out_ref16, no, 1e-2, 2e-2);
            } else {
                validate(what, d_out, out_ref, no, 1e-5, 1e-4);
            }
            snprintf(what, sizeof(what), "v%d bs %d %s", v, bs, v == 1 ? "att" : "lse");
            if (v == 1) { validate(what, d_att, att_ref, na, 1e-6, 1e-4); }
            else if (v == 2) { validate(what, d_lse, lse_ref, nl, 1e-5, 1e-5); }
            else { validate(what, d_lse, lse_ref16, nl, 1e-3, 1e-4); }  // 3, 4: fp32 sums of unrounded p
            float ms = lab_time(&lab, [&] { attention_forward(v, bs, d_out, d_out16, d_att, d_lse, d_inp, d_inp16, B, T, C, NH); });
            lab_report(&lab, v >= 3 ? "bf16" : "fp32", v, names[v], bs, ms, flops, v >= 3 ? PEAK_BF16 : PEAK_FP32, 0);
        }
    }
    lab_summary(&lab);
    cudaCheck(cudaFree(d_inp)); cudaCheck(cudaFree(d_inp16)); cudaCheck(cudaFree(d_out));
    cudaCheck(cudaFree(d_att)); cudaCheck(cudaFree(d_lse)); cudaCheck(cudaFree(d_out16));
    free(inp); free(out_ref); free(att_ref); free(lse_ref); free(inp_r); free(out_ref16); free(lse_ref16);
    lab_free(&lab);
    return 0;
}
