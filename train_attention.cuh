/*
train_attention.cuh: the bf16 build's tensor-core attention, in the style of
FlashAttention-2: the twin of train.c's attention_forward / attention_backward
for head sizes 64 and 128 (train.cu uses the tile kernels of
train_kernels.cuh for the other head sizes and for the FP32 build). Included
by train_kernels.cuh (train.cu, dev/cuda_emu/check_kernels.cpp) and by the
kernel lab (dev/cuda/attention_forward.cu and attention_backward.cu, version
4), so the three run the same text. Needs cuda_common.h (floatX, LAUNCH,
DYNAMIC_SMEM); nothing here is compiled in the FP32 build (bf16 mma needs bf16
operands).

What is different from the tile kernels of train_kernels.cuh:
  - The products are mma.sync.aligned.m16n8k16 (bf16 in, fp32 accumulate),
    issued by one small function, mma_16x8x16. Each lane holds a fragment of
    the operands and of the result (the layout is written out below), so the
    scores S, the probabilities P and the output O never go to shared memory:
    an accumulator fragment of S, rounded to bf16, is already the A operand
    fragment of P V (fa_a_from_acc). Operands come from shared memory by
    32-bit loads of neighbouring pairs, or by ldmatrix .trans where a pair
    is two rows of one column (fa_load_b_kn2).
  - The online softmax runs on those registers: a row of a 16 x 8 accumulator
    lives in the 4 lanes of a quad (lanes 4g..4g+3), so a row's max and sum
    are two shuffles (xor 1, xor 2).
  - K and V tiles (forward) and Q and dO tiles (backward) are copied with
    16-byte cp.async into two shared buffers: tile i+1 is on its way while
    tile i is multiplied.
  - Causal: key tiles above the diagonal are never loaded; inside the
    diagonal tile, 8-key column blocks above a warp's rows are skipped.
Blocks are FA_WARPS warps; a warp owns 16 rows of the block's 64: query rows
in the forward and in dQ, key rows in dK/dV.

Fragments of mma.m16n8k16 with bf16 A, B and fp32 C, D (PTX ISA, "Matrix
Fragments for mma.m16n8k16 with floating point type"); g = lane >> 2 (the
groupID), q = lane & 3 (threadID_in_group); a register of bf16x2 holds two
neighbours, the lower index in its low half:
  A (16 x 16, row-major):  a0,a1: row g,   cols 2q, 2q+1     a2,a3: row g+8, cols 2q, 2q+1
                           a4,a5: row g,   cols 2q+8, 2q+9   a6,a7: row g+8, cols 2q+8, 2q+9
  B (16 x 8, "col"):       b0,b1: rows 2q, 2q+1, col g       b2,b3: rows 2q+8, 2q+9, col g
  C, D (16 x 8, fp32):     c0,c1: row g,   cols 2q, 2q+1     c2,c3: row g+8, cols 2q, 2q+1
Under the emulation (dev/cuda_emu/emu.h) every lane holds exactly these
elements and the product is gathered by this layout (and ldmatrix by its own),
so a fragment loaded in another order gives a wrong result there too.
*/
#ifndef TRAIN_ATTENTION_CUH
#define TRAIN_ATTENTION_CUH
#include "cuda_common.h"
#include <stdint.h>
#ifndef ENABLE_FP32
// nvcc's "FA_UNROLL" (the loops over register arrays must be unrolled,
// so that the arrays stay in registers); g++, under the emulation, has no such
// pragma and would warn
#ifdef CUDA_EMU
#define FA_UNROLL
#else
#define FA_UNROLL _Pragma("unroll")
#endif

typedef __nv_bfloat162 bf16x2;  // two bf16 (two floats under the emulation)

#define FA_WARPS 4                            // warps per block
#define FA_ROWS (FA_WARPS * 16)               // the block's query rows (forward, dQ) or key rows (dK, dV)
#define FA_CHUNK (16 / (int)sizeof(floatX))   // elements per 16-byte cp.async
#define FA_LOG2E 1.4426950408889634f
#define FA_LN2 0.6931471805599453f

// ----------------------------------------------------------------------------
// the three device primitives: mma, cp.async, and the fragment loads

// a lane's A fragment (a0..a7 as four pairs) and B fragment (b0..b3 as two)
struct MmaA { bf16x2 r[4]; };
struct MmaB { bf16x2 r[2]; };

// d (16 x 8, fp32) += a (16 x 16) b (16 x 8); the whole warp, converged
__device__ __forceinline__ void mma_16x8x16(float d[4], const MmaA &a, const MmaB &b) {
#ifdef CUDA_EMU
    emu_mma_m16n8k16(d, a.r, b.r);
#else
    const uint32_t *ar = reinterpret_cast<const uint32_t *>(a.r);
    const uint32_t *br = reinterpret_cast<const uint32_t *>(b.r);
    asm volatile("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 "
                 "{%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\n"
                 : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
                 : "r"(ar[0]), "r"(ar[1]), "r"(ar[2]), "r"(ar[3]), "r"(br[0]), "r"(br[1]));
#endif
}

// 16 bytes from global src to shared dst without passing through registers
// (cp.async.cg: cached in L2 only, the tile is read once per block); when
// !valid, 16 zero bytes (src-size 0: nothing is read, src only has to be a
// valid address)
__device__ __forceinline__ void cp_async16(void *dst, const void *src, bool valid) {
#ifdef CUDA_EMU
    emu_cp_async16(dst, valid ? src : nullptr);
#else
    unsigned d = (unsigned)__cvta_generic_to_shared(dst);
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(valid ? 16 : 0));
#endif
}

// closes the group of this thread's cp.asyncs issued since the last commit
__device__ __forceinline__ void cp_async_commit() {
#ifdef CUDA_EMU
    emu_cp_async_commit();
#else
    asm volatile("cp.async.commit_group;\n" ::);
#endif
}

// waits until at most N of this thread's committed groups are in flight;
// other threads' copies are visible after a __syncthreads that follows
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#ifdef CUDA_EMU
    emu_cp_async_wait(N);
#else
    asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
#endif
}

// shared tiles are row-major with a row stride of HS + 8 elements: 16 bytes
// more than a row, so the 8 rows a fragment load touches start 4 banks apart
// and the 32 lanes of a load hit 32 different banks
template <int HS> struct FaLd { static const int x = HS + 8; };

// the A fragment of rows r0..r0+15, columns k0..k0+15 of a row-major tile
__device__ __forceinline__ MmaA fa_load_a(const floatX *tile, int ld, int r0, int k0, int lane) {
    const int g = lane >> 2, c = k0 + 2 * (lane & 3);
    const floatX *p = tile + (r0 + g) * ld + c;
    MmaA a;
    a.r[0] = *(const bf16x2 *)p;                // a0, a1
    a.r[1] = *(const bf16x2 *)(p + 8 * ld);     // a2, a3: row + 8
    a.r[2] = *(const bf16x2 *)(p + 8);          // a4, a5: column + 8
    a.r[3] = *(const bf16x2 *)(p + 8 * ld + 8); // a6, a7
    return a;
}

// the B fragment B(k, n) = tile[n][k] for k0..k0+15, n0..n0+7: the tile holds
// B transposed (a K tile for S = Q K^T), so a lane's pair is contiguous
__device__ __forceinline__ MmaB fa_load_b_nk(const floatX *tile, int ld, int n0, int k0, int lane) {
    const floatX *p = tile + (n0 + (lane >> 2)) * ld + k0 + 2 * (lane & 3);
    MmaB b;
    b.r[0] = *(const bf16x2 *)p;        // b0, b1
    b.r[1] = *(const bf16x2 *)(p + 8);  // b2, b3: k + 8
    return b;
}

// ldmatrix .x4 .trans: four 8 x 8 bf16 matrices from shared memory, each
// lane giving the address of one row (lanes 8i..8i+7: rows 0..7 of matrix i,
// 16 bytes each); lane l receives, as r[i], matrix i's elements (2 (l % 4),
// l / 4) and (2 (l % 4) + 1, l / 4): the transpose's, in the layout of a B
// fragment's register
__device__ __forceinline__ void ldmatrix_x4_trans(bf16x2 r[4], const floatX *row) {
#ifdef CUDA_EMU
    emu_ldmatrix_x4_trans(r, row);
#else
    unsigned a = (unsigned)__cvta_generic_to_shared(row);
    uint32_t *x = reinterpret_cast<uint32_t *>(r);
    asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
                 : "=r"(x[0]), "=r"(x[1]), "=r"(x[2]), "=r"(x[3])
                 : "r"(a));
#endif
}

// the B fragments B(k, n) = tile[k][n] for k0..k0+15 and columns n0..n0+7
// (b0) and n0+8..n0+15 (b1): the tile holds B row-major (a V tile for P V),
// so a lane's pair (rows 2q and 2q+1 of column g) is not contiguous, and one
// ldmatrix .trans gathers it for both fragments. Matrices: 0 = rows k0..+7,
// columns n0..+7 (b0's b0,b1), 1 = rows k0+8..+15 (b0's b2,b3), 2 and 3 the
// same at columns n0+8.. (b1's). Row addresses are 16-byte aligned: ld and
// n0 are multiples of 8 elements.
__device__ __forceinline__ void fa_load_b_kn2(MmaB &b0, MmaB &b1, const floatX *tile, int ld, int k0, int n0,
                                              int lane) {
    const floatX *row = tile + (k0 + (lane & 7) + 8 * ((lane >> 3) & 1)) * ld + n0 + 8 * (lane >> 4);
    bf16x2 r[4];
    ldmatrix_x4_trans(r, row);
    b0.r[0] = r[0];
    b0.r[1] = r[1];
    b1.r[0] = r[2];
    b1.r[1] = r[3];
}

// The A fragment of a 16 x 16 block whose two 16 x 8 halves are accumulators
// c0 (columns 0..7) and c1 (columns 8..15), rounded to bf16: c_i of a lane
// sits at row g (+8 for i >= 2), column 2q + (i & 1), which is where A's a_i
// (from c0) and a_(i+4) (from c1) sit. So P (or dS) goes from one product
// into the next without leaving the lane.
__device__ __forceinline__ MmaA fa_a_from_acc(const float c0[4], const float c1[4]) {
    MmaA a;
    a.r[0] = __floats2bfloat162_rn(c0[0], c0[1]);
    a.r[1] = __floats2bfloat162_rn(c0[2], c0[3]);
    a.r[2] = __floats2bfloat162_rn(c1[0], c1[1]);
    a.r[3] = __floats2bfloat162_rn(c1[2], c1[3]);
    return a;
}

// rows t0..t0+ROWS-1 of one head's (T, HS) slice of a (B,T,stride) tensor
// (src: the slice's row 0) into a shared tile, 16 bytes per cp.async, zeros
// for rows at or beyond T; every thread of the block takes part (no commit)
template <int ROWS, int HS>
__device__ __forceinline__ void fa_load_rows(floatX *tile, const floatX *src, size_t stride, int t0, int T) {
    const int ld = FaLd<HS>::x, per_row = HS / FA_CHUNK;
    for (int e = threadIdx.x; e < ROWS * per_row; e += blockDim.x) {
        const int r = e / per_row, c = e % per_row * FA_CHUNK, t = t0 + r;
        const bool valid = t < T;
        cp_async16(tile + r * ld + c, src + (valid ? (size_t)t * stride + c : 0), valid);
    }
}

// the row max over a quad (the 4 lanes that hold a row of an accumulator):
// mx is valid where have is set; after the call every lane of the quad has
// the max of the valid values (and have set if any was)
__device__ __forceinline__ void fa_quad_max(float &mx, int &have) {
    for (int o = 1; o <= 2; o *= 2) {
        const float om = __shfl_xor_sync(0xffffffffu, mx, o);
        const int oh = __shfl_xor_sync(0xffffffffu, have, o);
        if (oh) { mx = have ? fmaxf(mx, om) : om; }
        have |= oh;
    }
}

// ----------------------------------------------------------------------------
// forward: out = softmax(q k^T * scale, causal) v, and lse per row

// shared memory of the forward: the block's Q rows, two K and two V buffers
template <int HS, int BK> struct FaFwdSmem {
    static const int ld = FaLd<HS>::x;
    static constexpr size_t q = 0;
    static constexpr size_t k = q + sizeof(floatX) * FA_ROWS * ld;
    static constexpr size_t v = k + 2 * sizeof(floatX) * BK * ld;
    static constexpr size_t bytes = v + 2 * sizeof(floatX) * BK * ld;
};

// One block per (query tile of FA_ROWS rows, b*NH + h); warp w owns query
// rows qw = q0 + 16w .. qw + 15. Per key tile of BK keys: S = Q K^T (16 x BK
// per warp, in registers), the online softmax in the log2 domain (p =
// 2^(s*scale*log2e - m), the same numbers as exp(s*scale - m ln 2)), O += P V.
// At the end O /= l and lse = (m + log2 l) ln 2, train.c's log of the
// softmax's denominator. Overwrites out (B,T,C) and lse (B,NH,T).
template <int HS, int BK>
__global__ void __launch_bounds__(FA_WARPS * 32)
attention_forward_mma_kernel(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH) {
    typedef FaFwdSmem<HS, BK> S;
    const int ld = S::ld;
    DYNAMIC_SMEM(smem);
    floatX *sq = (floatX *)(smem + S::q), *sk = (floatX *)(smem + S::k), *sv = (floatX *)(smem + S::v);
    // the last query tiles have the most key tiles: they start first, so the
    // short ones fill the gaps at the end of the grid
    const int qt = gridDim.x - 1 - blockIdx.x, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, tq = lane & 3;
    const int q0 = qt * FA_ROWS, qw = q0 + warp * 16;
    const size_t C3 = 3 * (size_t)C;
    const floatX *head = qkv + (size_t)b * T * C3 + (size_t)h * HS;  // q of token 0; k at + C, v at + 2C
    const float sl = FA_LOG2E / sqrtf((float)HS);
    const int last = ((q0 + FA_ROWS < T ? q0 + FA_ROWS : T) - 1) / BK;  // the block's last key tile
    const bool active = qw < T;  // the warp has a row to compute (warp-uniform)
    (void)B;
    fa_load_rows<FA_ROWS, HS>(sq, head, C3, q0, T);
    fa_load_rows<BK, HS>(sk, head + C, C3, 0, T);
    fa_load_rows<BK, HS>(sv, head + 2 * (size_t)C, C3, 0, T);
    cp_async_commit();
    MmaA qa[HS / 16];        // the warp's 16 query rows, loaded once
    float o[HS / 8][4];      // O (16 x HS): 8 columns per accumulator
    float m[2], l[2];        // rows g and g+8: running max (log2 domain), this lane's part of the sum
    FA_UNROLL
    for (int n = 0; n < HS / 8; n++) { o[n][0] = o[n][1] = o[n][2] = o[n][3] = 0.0f; }
    m[0] = m[1] = l[0] = l[1] = 0.0f;  // set by key tile 0, which every row visits first
    for (int kt = 0; kt <= last; kt++) {
        const int buf = kt & 1;
        if (kt < last) {  // the next K, V tile into the other buffer, while this one is used
            fa_load_rows<BK, HS>(sk + (buf ^ 1) * BK * ld, head + C, C3, (kt + 1) * BK, T);
            fa_load_rows<BK, HS>(sv + (buf ^ 1) * BK * ld, head + 2 * (size_t)C, C3, (kt + 1) * BK, T);
            cp_async_commit();
            cp_async_wait<1>();  // all but that newest group: tile kt (and Q) have landed
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();  // ... for every thread's copies
        const int k0 = kt * BK;
        // a tile whose first key is after the warp's last row is all masked:
        // skipped. Tiles start at multiples of BK and warps at multiples of
        // 16, so a tile that is not skipped has k0 <= qw: key k0 is unmasked
        // in every row, and every row's max below is over at least one key.
        if (active && k0 <= qw + 15) {
            const floatX *kb = sk + buf * BK * ld, *vb = sv + buf * BK * ld;
            if (kt == 0) {
                FA_UNROLL
                for (int kk = 0; kk < HS / 16; kk++) { qa[kk] = fa_load_a(sq, ld, warp * 16, kk * 16, lane); }
            }
            // S = Q K^T: accumulator j holds keys k0 + 8j .. + 7
            float s[BK / 8][4];
            FA_UNROLL
            for (int j = 0; j < BK / 8; j++) {
                s[j][0] = s[j][1] = s[j][2] = s[j][3] = 0.0f;
                if (k0 + j * 8 > qw + 15) { continue; }  // above every row of the warp (warp-uniform)
                FA_UNROLL
                for (int kk = 0; kk < HS / 16; kk++) { mma_16x8x16(s[j], qa[kk], fa_load_b_nk(kb, ld, j * 8, kk * 16, lane)); }
            }
            // this lane's rows t = qw + g (r = 0) and qw + g + 8 (r = 1); its
            // keys k0 + 8j + 2q + (i & 1). Only a tile that reaches past the
            // warp's first row needs the mask key <= t.
            const bool diag = k0 + BK - 1 > qw;
            float mx[2] = {0.0f, 0.0f};
            int have[2] = {0, 0};
            FA_UNROLL
            for (int j = 0; j < BK / 8; j++) {
                FA_UNROLL
                for (int i = 0; i < 4; i++) {
                    const int r = i >> 1, t = qw + g + 8 * r, key = k0 + j * 8 + 2 * tq + (i & 1);
                    if (!diag || key <= t) {
                        const float v = s[j][i] * sl;
                        mx[r] = have[r] ? fmaxf(mx[r], v) : v;
                        have[r] = 1;
                    }
                }
            }
            float corr[2];
            FA_UNROLL
            for (int r = 0; r < 2; r++) {
                fa_quad_max(mx[r], have[r]);
                // the running max grows: what was summed so far is rescaled by
                // 2^(m_old - m_new) <= 1 (tile 0: nothing summed yet)
                const float m_new = kt == 0 ? mx[r] : fmaxf(m[r], mx[r]);
                corr[r] = kt == 0 ? 0.0f : exp2f(m[r] - m_new);
                m[r] = m_new;
                l[r] *= corr[r];
            }
            // P in place of S, 0 where masked; l is this lane's part of the
            // row sum (the quad's parts are added once, at the end: all four
            // are rescaled by the same corr)
            FA_UNROLL
            for (int j = 0; j < BK / 8; j++) {
                FA_UNROLL
                for (int i = 0; i < 4; i++) {
                    const int r = i >> 1, t = qw + g + 8 * r, key = k0 + j * 8 + 2 * tq + (i & 1);
                    const float p = (!diag || key <= t) ? exp2f(s[j][i] * sl - m[r]) : 0.0f;
                    s[j][i] = p;
                    l[r] += p;
                }
            }
            FA_UNROLL
            for (int n = 0; n < HS / 8; n++) {
                FA_UNROLL
                for (int i = 0; i < 4; i++) { o[n][i] *= corr[i >> 1]; }
            }
            // O += P V: P's 16-key blocks as A fragments straight from S's accumulators
            FA_UNROLL
            for (int kk = 0; kk < BK / 16; kk++) {
                if (k0 + kk * 16 > qw + 15) { continue; }  // all p = 0 there
                const MmaA pa = fa_a_from_acc(s[2 * kk], s[2 * kk + 1]);
                FA_UNROLL
                for (int n = 0; n < HS / 8; n += 2) {
                    MmaB v0, v1;
                    fa_load_b_kn2(v0, v1, vb, ld, kk * 16, n * 8, lane);
                    mma_16x8x16(o[n], pa, v0);
                    mma_16x8x16(o[n + 1], pa, v1);
                }
            }
        }
        __syncthreads();  // every warp is done with buffer buf: the next iteration loads tile kt+2 into it
    }
    if (!active) { return; }
    FA_UNROLL
    for (int r = 0; r < 2; r++) {
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 1);
        l[r] += __shfl_xor_sync(0xffffffffu, l[r], 2);
        const int t = qw + g + 8 * r;
        if (t >= T) { continue; }
        const float inv = 1.0f / l[r];  // l >= 1: the max's own term is 2^0
        floatX *orow = out + ((size_t)b * T + t) * C + (size_t)h * HS + 2 * tq;
        FA_UNROLL
        for (int n = 0; n < HS / 8; n++) {
            *(bf16x2 *)(orow + n * 8) = __floats2bfloat162_rn(o[n][2 * r] * inv, o[n][2 * r + 1] * inv);
        }
        if (tq == 0) { lse[(size_t)bh * T + t] = (m[r] + log2f(l[r])) * FA_LN2; }
    }
}

// ----------------------------------------------------------------------------
// backward, after attention_dot_kernel's D = rowsum(dout * out) (train.c's dot):
//   p = exp(s*scale - lse), dP = dout v^T, dS = P (dP - D) * scale
//   dV = P^T dout, dK = dS^T q   (attention_backward_dkv_mma_kernel)
//   dQ = dS k                     (attention_backward_dq_mma_kernel)
// dK, dV are sums over query rows, dQ over key rows: each kernel owns its
// outputs and keeps them in registers, so there are no atomics and the sums
// run in the same order in every run. The price: S and dP are computed by
// both kernels (7 products in place of 5).

// shared memory of the dK, dV kernel: the block's K and V rows, two buffers
// of Q and dO rows, and of their lse (log2 domain) and D
template <int HS, int BQ> struct FaDkvSmem {
    static const int ld = FaLd<HS>::x;
    static constexpr size_t k = 0;
    static constexpr size_t v = k + sizeof(floatX) * FA_ROWS * ld;
    static constexpr size_t q = v + sizeof(floatX) * FA_ROWS * ld;
    static constexpr size_t dout = q + 2 * sizeof(floatX) * BQ * ld;
    static constexpr size_t lse = dout + 2 * sizeof(floatX) * BQ * ld;
    static constexpr size_t dd = lse + 2 * sizeof(float) * BQ;
    static constexpr size_t bytes = dd + 2 * sizeof(float) * BQ;
};

// lse (in log2 units) and D of query rows t0..t0+BQ-1 into shared memory,
// zeros beyond T (those rows are masked anyway)
template <int BQ>
__device__ __forceinline__ void fa_load_stats(float *slse, float *sD, const float *lse, const float *D, int t0,
                                              int T) {
    for (int r = threadIdx.x; r < BQ; r += blockDim.x) {
        const int t = t0 + r;
        slse[r] = t < T ? lse[t] * FA_LOG2E : 0.0f;
        sD[r] = t < T ? D[t] : 0.0f;
    }
}

// dK and dV of one key tile: one block per (key tile of FA_ROWS keys, b*NH +
// h); warp w owns keys kw = k0 + 16w .. kw + 15 and keeps their dK and dV
// (16 x HS each) in registers while it walks the query tiles of BQ rows from
// the diagonal to T. It computes the transposed products S^T = K Q^T and dP^T
// = V dO^T, so that P^T and dS^T come out as accumulators whose rows are its
// keys: A fragments for dV += P^T dO and dK += dS^T Q. Overwrites its rows
// of dqkv's k and v parts.
template <int HS, int BQ>
__global__ void __launch_bounds__(FA_WARPS * 32)
attention_backward_dkv_mma_kernel(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                  const float *D, int B, int T, int C, int NH) {
    typedef FaDkvSmem<HS, BQ> S;
    const int ld = S::ld;
    DYNAMIC_SMEM(smem);
    floatX *sk = (floatX *)(smem + S::k), *sv = (floatX *)(smem + S::v);
    floatX *sq = (floatX *)(smem + S::q), *sdo = (floatX *)(smem + S::dout);
    float *slse = (float *)(smem + S::lse), *sD = (float *)(smem + S::dd);
    // key tile 0 walks every query tile: the longest blocks start first
    const int bh = blockIdx.y, b = bh / NH, h = bh % NH, k0 = blockIdx.x * FA_ROWS;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, tq = lane & 3;
    const int kw = k0 + warp * 16;
    const size_t C3 = 3 * (size_t)C;
    const floatX *head = qkv + (size_t)b * T * C3 + (size_t)h * HS;
    const floatX *dhead = dout + (size_t)b * T * C + (size_t)h * HS;
    const float *hlse = lse + (size_t)bh * T, *hD = D + (size_t)bh * T;
    const float scale = 1.0f / sqrtf((float)HS), sl = scale * FA_LOG2E;
    const int first = k0 / BQ, last = (T - 1) / BQ;  // query tiles that see a key of this block
    const bool active = kw < T;
    (void)B;
    fa_load_rows<FA_ROWS, HS>(sk, head + C, C3, k0, T);
    fa_load_rows<FA_ROWS, HS>(sv, head + 2 * (size_t)C, C3, k0, T);
    fa_load_rows<BQ, HS>(sq, head, C3, first * BQ, T);
    fa_load_rows<BQ, HS>(sdo, dhead, C, first * BQ, T);
    fa_load_stats<BQ>(slse, sD, hlse, hD, first * BQ, T);
    cp_async_commit();
    float dk[HS / 8][4], dv[HS / 8][4];
    FA_UNROLL
    for (int n = 0; n < HS / 8; n++) {
        FA_UNROLL
        for (int i = 0; i < 4; i++) { dk[n][i] = dv[n][i] = 0.0f; }
    }
    for (int qt = first; qt <= last; qt++) {
        const int buf = (qt - first) & 1;
        if (qt < last) {
            const int nb = buf ^ 1, t1 = (qt + 1) * BQ;
            fa_load_rows<BQ, HS>(sq + nb * BQ * ld, head, C3, t1, T);
            fa_load_rows<BQ, HS>(sdo + nb * BQ * ld, dhead, C, t1, T);
            fa_load_stats<BQ>(slse + nb * BQ, sD + nb * BQ, hlse, hD, t1, T);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const int q0 = qt * BQ;
        // queries before the warp's first key see none of its keys: skipped
        if (active && q0 + BQ - 1 >= kw) {
            const floatX *qb = sq + buf * BQ * ld, *dob = sdo + buf * BQ * ld;
            const float *bl = slse + buf * BQ, *bD = sD + buf * BQ;
            // S^T = K Q^T and dP^T = V dO^T: accumulator j holds queries q0 + 8j .. + 7
            float s[BQ / 8][4], dp[BQ / 8][4];
            FA_UNROLL
            for (int j = 0; j < BQ / 8; j++) {
                FA_UNROLL
                for (int i = 0; i < 4; i++) { s[j][i] = dp[j][i] = 0.0f; }
            }
            FA_UNROLL
            for (int kk = 0; kk < HS / 16; kk++) {
                const MmaA ka = fa_load_a(sk, ld, warp * 16, kk * 16, lane);
                const MmaA va = fa_load_a(sv, ld, warp * 16, kk * 16, lane);
                FA_UNROLL
                for (int j = 0; j < BQ / 8; j++) {
                    if (q0 + j * 8 + 7 < kw) { continue; }  // before every key of the warp
                    mma_16x8x16(s[j], ka, fa_load_b_nk(qb, ld, j * 8, kk * 16, lane));
                    mma_16x8x16(dp[j], va, fa_load_b_nk(dob, ld, j * 8, kk * 16, lane));
                }
            }
            // P^T and dS^T in place: this lane's keys kw + g (+8 for i >= 2),
            // queries q0 + 8j + 2q + (i & 1); masked where key > query or
            // query >= T
            FA_UNROLL
            for (int j = 0; j < BQ / 8; j++) {
                FA_UNROLL
                for (int i = 0; i < 4; i++) {
                    const int key = kw + g + 8 * (i >> 1), c = j * 8 + 2 * tq + (i & 1), t = q0 + c;
                    const float p = (t < T && key <= t) ? exp2f(s[j][i] * sl - bl[c]) : 0.0f;
                    s[j][i] = p;
                    dp[j][i] = p * (dp[j][i] - bD[c]) * scale;
                }
            }
            // dV += P^T dO, dK += dS^T Q over this tile's queries, 16 at a time
            FA_UNROLL
            for (int kk = 0; kk < BQ / 16; kk++) {
                if (q0 + kk * 16 + 15 < kw) { continue; }  // p = dS = 0 there
                const MmaA pa = fa_a_from_acc(s[2 * kk], s[2 * kk + 1]);
                const MmaA da = fa_a_from_acc(dp[2 * kk], dp[2 * kk + 1]);
                FA_UNROLL
                for (int n = 0; n < HS / 8; n += 2) {
                    MmaB o0, o1, q0f, q1f;
                    fa_load_b_kn2(o0, o1, dob, ld, kk * 16, n * 8, lane);
                    fa_load_b_kn2(q0f, q1f, qb, ld, kk * 16, n * 8, lane);
                    mma_16x8x16(dv[n], pa, o0);
                    mma_16x8x16(dv[n + 1], pa, o1);
                    mma_16x8x16(dk[n], da, q0f);
                    mma_16x8x16(dk[n + 1], da, q1f);
                }
            }
        }
        __syncthreads();  // buffer buf is loaded again by the next iteration
    }
    if (!active) { return; }
    FA_UNROLL
    for (int r = 0; r < 2; r++) {
        const int key = kw + g + 8 * r;
        if (key >= T) { continue; }
        floatX *row = dqkv + ((size_t)b * T + key) * C3 + (size_t)h * HS + 2 * tq;
        FA_UNROLL
        for (int n = 0; n < HS / 8; n++) {
            *(bf16x2 *)(row + C + n * 8) = __floats2bfloat162_rn(dk[n][2 * r], dk[n][2 * r + 1]);
            *(bf16x2 *)(row + 2 * (size_t)C + n * 8) = __floats2bfloat162_rn(dv[n][2 * r], dv[n][2 * r + 1]);
        }
    }
}

// shared memory of the dQ kernel: the block's Q and dO rows, two K and two V buffers
template <int HS, int BK> struct FaDqSmem {
    static const int ld = FaLd<HS>::x;
    static constexpr size_t q = 0;
    static constexpr size_t dout = q + sizeof(floatX) * FA_ROWS * ld;
    static constexpr size_t k = dout + sizeof(floatX) * FA_ROWS * ld;
    static constexpr size_t v = k + 2 * sizeof(floatX) * BK * ld;
    static constexpr size_t bytes = v + 2 * sizeof(floatX) * BK * ld;
};

// dQ of one query tile: one block per (query tile of FA_ROWS rows, b*NH + h);
// warp w owns query rows qw = q0 + 16w .. and keeps their dQ (16 x HS) in
// registers while it walks the key tiles up to the diagonal, as the forward
// does: S = Q K^T, dP = dO V^T, dS = P (dP - D) * scale, dQ += dS K.
// Overwrites its rows of dqkv's q part.
template <int HS, int BK>
__global__ void __launch_bounds__(FA_WARPS * 32)
attention_backward_dq_mma_kernel(floatX *dqkv, const floatX *dout, const floatX *qkv, const float *lse,
                                 const float *D, int B, int T, int C, int NH) {
    typedef FaDqSmem<HS, BK> S;
    const int ld = S::ld;
    DYNAMIC_SMEM(smem);
    floatX *sq = (floatX *)(smem + S::q), *sdo = (floatX *)(smem + S::dout);
    floatX *sk = (floatX *)(smem + S::k), *sv = (floatX *)(smem + S::v);
    const int qt = gridDim.x - 1 - blockIdx.x, bh = blockIdx.y, b = bh / NH, h = bh % NH;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32, g = lane >> 2, tq = lane & 3;
    const int q0 = qt * FA_ROWS, qw = q0 + warp * 16;
    const size_t C3 = 3 * (size_t)C;
    const floatX *head = qkv + (size_t)b * T * C3 + (size_t)h * HS;
    const floatX *dhead = dout + (size_t)b * T * C + (size_t)h * HS;
    const float scale = 1.0f / sqrtf((float)HS), sl = scale * FA_LOG2E;
    const int last = ((q0 + FA_ROWS < T ? q0 + FA_ROWS : T) - 1) / BK;
    const bool active = qw < T;
    (void)B;
    fa_load_rows<FA_ROWS, HS>(sq, head, C3, q0, T);
    fa_load_rows<FA_ROWS, HS>(sdo, dhead, C, q0, T);
    fa_load_rows<BK, HS>(sk, head + C, C3, 0, T);
    fa_load_rows<BK, HS>(sv, head + 2 * (size_t)C, C3, 0, T);
    cp_async_commit();
    // this lane's rows qw + g and qw + g + 8: lse (log2 units) and D
    float rl[2], rD[2];
    FA_UNROLL
    for (int r = 0; r < 2; r++) {
        const int t = qw + g + 8 * r;
        rl[r] = t < T ? lse[(size_t)bh * T + t] * FA_LOG2E : 0.0f;
        rD[r] = t < T ? D[(size_t)bh * T + t] : 0.0f;
    }
    float dq[HS / 8][4];
    FA_UNROLL
    for (int n = 0; n < HS / 8; n++) { dq[n][0] = dq[n][1] = dq[n][2] = dq[n][3] = 0.0f; }
    for (int kt = 0; kt <= last; kt++) {
        const int buf = kt & 1;
        if (kt < last) {
            fa_load_rows<BK, HS>(sk + (buf ^ 1) * BK * ld, head + C, C3, (kt + 1) * BK, T);
            fa_load_rows<BK, HS>(sv + (buf ^ 1) * BK * ld, head + 2 * (size_t)C, C3, (kt + 1) * BK, T);
            cp_async_commit();
            cp_async_wait<1>();
        } else {
            cp_async_wait<0>();
        }
        __syncthreads();
        const int k0 = kt * BK;
        if (active && k0 <= qw + 15) {  // as in the forward: k0 <= qw, no row fully masked
            const floatX *kb = sk + buf * BK * ld, *vb = sv + buf * BK * ld;
            float s[BK / 8][4], dp[BK / 8][4];
            FA_UNROLL
            for (int j = 0; j < BK / 8; j++) {
                FA_UNROLL
                for (int i = 0; i < 4; i++) { s[j][i] = dp[j][i] = 0.0f; }
            }
            FA_UNROLL
            for (int kk = 0; kk < HS / 16; kk++) {
                const MmaA qa = fa_load_a(sq, ld, warp * 16, kk * 16, lane);
                const MmaA oa = fa_load_a(sdo, ld, warp * 16, kk * 16, lane);
                FA_UNROLL
                for (int j = 0; j < BK / 8; j++) {
                    if (k0 + j * 8 > qw + 15) { continue; }  // after every row of the warp
                    mma_16x8x16(s[j], qa, fa_load_b_nk(kb, ld, j * 8, kk * 16, lane));
                    mma_16x8x16(dp[j], oa, fa_load_b_nk(vb, ld, j * 8, kk * 16, lane));
                }
            }
            // dS in place of S: rows qw + g (+8 for i >= 2), keys k0 + 8j + 2q + (i & 1)
            FA_UNROLL
            for (int j = 0; j < BK / 8; j++) {
                FA_UNROLL
                for (int i = 0; i < 4; i++) {
                    const int r = i >> 1, t = qw + g + 8 * r, key = k0 + j * 8 + 2 * tq + (i & 1);
                    const float p = key <= t ? exp2f(s[j][i] * sl - rl[r]) : 0.0f;
                    s[j][i] = p * (dp[j][i] - rD[r]) * scale;
                }
            }
            // dQ += dS K: K's rows are the keys, read as B(k = key, n = dim)
            FA_UNROLL
            for (int kk = 0; kk < BK / 16; kk++) {
                if (k0 + kk * 16 > qw + 15) { continue; }
                const MmaA da = fa_a_from_acc(s[2 * kk], s[2 * kk + 1]);
                FA_UNROLL
                for (int n = 0; n < HS / 8; n += 2) {
                    MmaB k0f, k1f;
                    fa_load_b_kn2(k0f, k1f, kb, ld, kk * 16, n * 8, lane);
                    mma_16x8x16(dq[n], da, k0f);
                    mma_16x8x16(dq[n + 1], da, k1f);
                }
            }
        }
        __syncthreads();
    }
    if (!active) { return; }
    FA_UNROLL
    for (int r = 0; r < 2; r++) {
        const int t = qw + g + 8 * r;
        if (t >= T) { continue; }
        floatX *row = dqkv + ((size_t)b * T + t) * C3 + (size_t)h * HS + 2 * tq;
        FA_UNROLL
        for (int n = 0; n < HS / 8; n++) {
            *(bf16x2 *)(row + n * 8) = __floats2bfloat162_rn(dq[n][2 * r], dq[n][2 * r + 1]);
        }
    }
}

#endif  // !ENABLE_FP32
#endif  // TRAIN_ATTENTION_CUH
