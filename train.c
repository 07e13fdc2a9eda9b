/*
train.c: the whole of GPT-2 training on the CPU, in C with OpenMP.

The model, every layer's forward and backward pass (side by side), AdamW,
the learning-rate schedule, gradient clipping and accumulation, and the
training loop, read top to bottom. What is not about how training works
(checked I/O, file formats, flags, the bill, MPI, text generation) sits in
companion headers that this file includes, so it still builds with one
command.

Build and run:
    make train                 (or: cc -O3 -march=native -fno-math-errno -fno-trapping-math -fopenmp train.c -lm -o train)
    ./train -h                                   # every flag and its default
    ./train -e d6 -b 4 -t 64 -x 100 -o out       # a small GPT-2 from scratch
    ./train -e model.bin -i 'shards/train_*.bin' # continue from a model file
    ./train -e d48 -b 8 -t 1024 --dry-run        # what would it cost?
    ./train -e model.bin -k tok.bin --prompt Hi  # continue a text (KV cache), no training
    ./train -e model.bin --lora 8 -o out         # LoRA fine-tuning: the base frozen

Map of this file, in reading order:
    1. constants                 the model's numbers (layernorm epsilon, GELU, init)
    2. layers                    encoder, layernorm, matmul (and its LoRA
                                 adapters), attention, GELU, residual, softmax +
                                 cross-entropy: each forward beside its backward,
                                 in the order the model uses them
    3. the model                 config and presets, ONE table per tensor group
                                 (parameters, activations, LoRA's trainable set)
                                 giving sizes, pointers, init and weight decay;
                                 build, LoRA's frozen base, forward, loss
    4. backward and AdamW        zero_grad, backward (the forward in reverse),
                                 gradient norm and clipping, the AdamW update,
                                 merging LoRA's adapters
    5. the training run          the backend table (train.cu plugs in its GPU
                                 one), the CPU backend, the learning-rate schedule,
                                 checkpoints, one step, validation, sampling,
                                 train_main and main
Sections 1-4 are the model, in one stretch. Before section 5 it includes:
    util.h            (at the top) the error function, checked file and memory
                      helpers, atomic writes, the RNG, the clock
    tokenizer.h       the tokenizer: decoding samples, encoding --prompt
    train_mpi.h       data parallelism over MPI ranks (all-reduce, ZeRO-1)
    train_files.h     model files, the token-shard loader, training-state files
    train_flags.h     every flag once: RunConfig, defaults, parsing, -h
    train_bill.h      memory and FLOPs of a run, --dry-run
    train_profile.h   --profile: where a step's time goes, against this machine's peaks
    train_generate.h  sampling, the KV cache, --prompt
doc/tour.md follows one training step through sections 2-4.

Dimension letters used in every comment and shape:
    B  batch size                 T   time (sequence length)
    C  channels (model width)     NH  number of attention heads
    hs head size, C / NH          L   number of layers (blocks)
    V  vocabulary size            Vp  V padded up to a multiple of 128
    OC output channels of a matmul
A shape written (B, T, C) is row-major: the last letter varies fastest.
*/
#include "util.h"
#include <glob.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#ifdef _OPENMP
#include <omp.h>
#endif

// ----------------------------------------------------------------------------
// 1. constants (the file formats' magic numbers are util.h's)

#define VOCAB_PAD 128                // Vp = V rounded up to a multiple of this
#define LAYERNORM_EPS 1e-5f
#define GELU_SCALE 0.7978845608028654f  // sqrt(2 / pi), tanh approximation
#define GELU_CUBIC 0.044715f
#define INIT_STD 0.02f               // GPT-2's initialisation
#define NORM_CHUNK 65536             // elements per partial sum of the grad norm

// threads that OpenMP's parallel loops use (1 without OpenMP)
static int num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// ----------------------------------------------------------------------------
// 2. layers. First a helper they share:
// e^x for the softmaxes and GELU, in plain float arithmetic that the compiler
// vectorises (glibc's expf is one function call per element, and the
// softmax of the classifier alone takes B*T*V of them per step).
// x = n ln2 + r, with n = round(x / ln2) and |r| <= ln2 / 2; e^r by its
// Taylor series to r^7 (the first term left out is < 6e-9 relative), and 2^n
// written straight into the exponent bits. Accurate to a few float ulps
// (test_train checks it against expf); x is clamped to [-87.3, 88.3], the
// range where 2^n stays a normal float (e^-87.3 ~ 1e-38, not 0).
#define EXP_MIN_X -87.3f
#define EXP_MAX_X 88.3f
#define LOG2E 1.4426950409f
#define LN2_HI 0.693145751953125f    // ln 2 split in two, so n * LN2_HI is exact
#define LN2_LO 1.428606765330187e-06f

static inline float exp_fast(float x) {
    x = x < EXP_MIN_X ? EXP_MIN_X : (x > EXP_MAX_X ? EXP_MAX_X : x);
    float n = floorf(x * LOG2E + 0.5f);
    float r = (x - n * LN2_HI) - n * LN2_LO;
    float p = 1.0f + r * (1.0f + r * (1.0f / 2 + r * (1.0f / 6 + r * (1.0f / 24 +
              r * (1.0f / 120 + r * (1.0f / 720 + r * (1.0f / 5040)))))));
    // the float 2^n; a NaN x leaves n NaN, which must not reach the integer
    // conversion (undefined): it takes -126 here, and p, also NaN, carries
    // the NaN into the result. e + 127 is in [1, 215], so a signed int holds
    // it and its shift (a signed conversion also lets loops of exp_fast
    // vectorise: AVX2 has no float to unsigned conversion)
    float e = n >= -126.0f ? n : -126.0f;
    int32_t bits = (int32_t)(e + 127.0f) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

// the largest of x[0:n] (n >= 1): what the plain loop m = x[i] > m ? x[i] : m
// from m = x[0] finds (a max is exact in any order), kept in 64 running
// maxima, element i in lane i % 64, then those in lane order. In the plain
// loop each compare waits for the one before; the lanes are four AVX-512
// (eight AVX2) vector maxes per 64 floats, which GCC makes of the inner loop.
// (Measured: the classifier's softmax forward, 2,048 rows of 50,304 logits,
// 2.3x faster on 1 and 2 threads.)
#define MAX_LANES 64
static float max_of(const float *x, int n) {
    float lanes[MAX_LANES];
    for (int j = 0; j < MAX_LANES; j++) { lanes[j] = x[0]; }
    int i = 0;
    for (; i + MAX_LANES <= n; i += MAX_LANES) {
        for (int j = 0; j < MAX_LANES; j++) { lanes[j] = x[i + j] > lanes[j] ? x[i + j] : lanes[j]; }
    }
    float m = x[0];
    for (int j = 0; j < MAX_LANES; j++) { m = lanes[j] > m ? lanes[j] : m; }
    for (; i < n; i++) { m = x[i] > m ? x[i] : m; }
    return m;
}

// ----------------------------------------------------------------------------
// the layers: forward and backward side by side, in the order the model uses them.
// Every forward overwrites its outputs; every backward adds (+=) into its
// gradients, except that with `overwrite` it writes (=) the parameter
// gradients (the step's first backward: see gpt2_zero_grad).

// out[b,t,:] = wte[inp[b,t],:] + wpe[t,:]
// out (B,T,C), inp (B,T) token ids, wte (V,C), wpe (maxT,C); overwrites out
static void encoder_forward(float *out, const int *inp, const float *wte, const float *wpe,
                            int B, int T, int C) {
    #pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            float *out_bt = out + ((size_t)b * T + t) * C;
            const float *wte_ix = wte + (size_t)inp[b * T + t] * C;
            const float *wpe_t = wpe + (size_t)t * C;
            for (int c = 0; c < C; c++) { out_bt[c] = wte_ix[c] + wpe_t[c]; }
        }
    }
}

// backward of encoder_forward: dwte[inp[b,t],:] += dout[b,t,:], dwpe[t,:] += dout[b,t,:]
// Threads split the channels: a token id can repeat in the batch, so two
// (b,t) could hit the same row of dwte, but never the same column c.
// overwrite: dwpe[t,:] = sum_b dout[b,t,:] is written, not added into.
static void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp,
                             int B, int T, int C, int overwrite) {
    const int block = 16;
    #pragma omp parallel for
    for (int c0 = 0; c0 < C; c0 += block) {
        int c1 = c0 + block < C ? c0 + block : C;
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                const float *dout_bt = dout + ((size_t)b * T + t) * C;
                float *dwte_ix = dwte + (size_t)inp[b * T + t] * C;
                float *dwpe_t = dwpe + (size_t)t * C;
                const int first = overwrite && b == 0;  // dwpe_t written, not added into
                for (int c = c0; c < c1; c++) {
                    dwte_ix[c] += dout_bt[c];
                    dwpe_t[c] = (first ? 0.0f : dwpe_t[c]) + dout_bt[c];
                }
            }
        }
    }
}

// out = (x - mean) * rstd * weight + bias over the C channels of each (b,t),
// mean = sum(x)/C, rstd = 1/sqrt(sum((x-mean)^2)/C + eps); both saved for the
// backward. out (B,T,C), mean and rstd (B,T), inp (B,T,C), weight, bias (C)
static void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                              const float *weight, const float *bias, int B, int T, int C) {
    size_t N = (size_t)B * T;
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        // (omp simd: the sums in vector lanes, combined at the end, so they
        // do not wait on one add after another; the same order every time)
        float m = 0.0f;
        #pragma omp simd reduction(+ : m)
        for (int c = 0; c < C; c++) { m += x[c]; }
        m /= C;
        float v = 0.0f;  // two passes: no cancellation from E[x^2] - E[x]^2
        #pragma omp simd reduction(+ : v)
        for (int c = 0; c < C; c++) { float d = x[c] - m; v += d * d; }
        v /= C;
        float s = 1.0f / sqrtf(v + LAYERNORM_EPS);
        float *o = out + i * C;
        for (int c = 0; c < C; c++) { o[c] = (x[c] - m) * s * weight[c] + bias[c]; }
        mean[i] = m;
        rstd[i] = s;
    }
}

#define LAYERNORM_BLOCK 16  // channels per thread's share of dweight and dbias

// backward of layernorm_forward. With n = (x - mean) * rstd and g = weight * dout:
//   dbias += dout, dweight += n * dout,
//   dx += rstd * (g - mean_c(g) - n * mean_c(g * n))
// (the two means are the gradient flowing through mean and rstd).
// Rows own their dinp; the dweight/dbias sums over rows are split by channel.
// dweight and dbias are NULL when the layernorm is frozen (LoRA); with
// overwrite they are written (=), not added into.
static void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, const float *mean,
                               const float *rstd, int B, int T, int C, int overwrite) {
    size_t N = (size_t)B * T;
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        const float *d = dout + i * C;
        float *dx = dinp + i * C;
        float g_mean = 0.0f, gn_mean = 0.0f;
        #pragma omp simd reduction(+ : g_mean, gn_mean)
        for (int c = 0; c < C; c++) {
            float n = (x[c] - mean[i]) * rstd[i];
            float g = weight[c] * d[c];
            g_mean += g;
            gn_mean += g * n;
        }
        g_mean /= C;
        gn_mean /= C;
        for (int c = 0; c < C; c++) {
            float n = (x[c] - mean[i]) * rstd[i];
            float g = weight[c] * d[c];
            dx[c] += rstd[i] * (g - g_mean - n * gn_mean);
        }
    }
    if (dweight == NULL) { return; }
    // the parameters' gradients: threads own blocks of LAYERNORM_BLOCK
    // channels, summed over the rows in registers, then added once
    #pragma omp parallel for
    for (int c0 = 0; c0 < C; c0 += LAYERNORM_BLOCK) {
        int n = C - c0 < LAYERNORM_BLOCK ? C - c0 : LAYERNORM_BLOCK;
        float db[LAYERNORM_BLOCK] = {0.0f}, dw[LAYERNORM_BLOCK] = {0.0f};
        for (size_t i = 0; i < N; i++) {
            const float *x = inp + i * C + c0;
            const float *d = dout + i * C + c0;
            for (int j = 0; j < n; j++) {
                db[j] += d[j];
                dw[j] += (x[j] - mean[i]) * rstd[i] * d[j];
            }
        }
        for (int j = 0; j < n; j++) {
            dbias[c0 + j] = (overwrite ? 0.0f : dbias[c0 + j]) + db[j];
            dweight[c0 + j] = (overwrite ? 0.0f : dweight[c0 + j]) + dw[j];
        }
    }
}

// All three products of a linear layer (forward, and the two of its backward)
// are one operation, C (M, N) += A (M, K) @ B (K, N), with A and B read
// through strides so that a transpose is just a different stride:
//   A[m,k] = a[m * a_rs + k * a_cs],  B[k,n] = b[k * b_rs + n * b_cs],
//   C[m,n] = c[m * ldc + n].
// How it is fast (the layout of the GotoBLAS/BLIS design):
// 1. Register tile: a MATMUL_MR x MATMUL_NR block of C (6 x 16 floats with
//    AVX2: 12 vector registers of 8) stays in registers while k runs; each
//    step loads 16 values of B and 6 of A and does 96 multiply-adds, so the
//    arithmetic, not the memory, sets the pace. The vectors are GCC/Clang
//    vector extensions: plain C arithmetic on 8 (AVX2) or 16 (AVX-512) floats
//    at once, which the compiler turns into FMA instructions.
// 2. Packing: k runs in blocks of MATMUL_KC. For each k block, B's rows (up
//    to MATMUL_NC columns at a time) are copied once, by all threads, into
//    strips of NR columns, each strip contiguous (KC x NR floats, 16 KiB: it
//    stays in L1 while it is used). A's blocks of up to MATMUL_MC rows are
//    copied into panels of MR rows, contiguous too (a block stays in L2): by
//    the task that uses them, or, when a row block's columns are split
//    among several tasks (few rows), once per k block by all threads.
//    The register tile then reads both with unit stride whatever A's and B's
//    strides are: this is where a transposed operand becomes contiguous.
//    Partial panels are zero-filled, so every tile runs the same loop.
// 3. Threads share out the (row block, column range) tasks of one k block:
//    no two write the same element of C, and every element adds its k
//    blocks in the same order with the same arithmetic, so the result is the
//    same for any thread count.
// 4. row_sums (may be NULL): row_sums[m] += sum_k A[m,k], gathered while A is
//    packed, so the weight gradient's pass gives the bias gradient without
//    reading dout again.
// MATMUL_WIDE: AVX-512's tile without AVX-512 (the compiler splits each vector
// of 16 into two of 8): slower, but the same blocking and edge cases, so the
// tests check the wide tile's code on any CPU (Makefile: the sanitizer build).
#if defined(__AVX512F__) || defined(MATMUL_WIDE)
#define MATMUL_VEC 16  // floats per vector register: 32 registers of 16 with AVX-512
#define MATMUL_MR 12   // 12 x 32 tile: 24 accumulators + 2 of B + 1 of A
#define MATMUL_MC 288  // rows of A per block: 288 x 256 floats = 288 KiB, for a 1 MiB L2
#else
#define MATMUL_VEC 8   // 16 registers of 8 with AVX2 (and narrower or none elsewhere)
#define MATMUL_MR 6    // 6 x 16 tile: 12 accumulators + 2 of B + 1 of A
#define MATMUL_MC 144  // rows of A per block: 144 x 256 floats = 144 KiB, for a 512 KiB L2
#endif
#define MATMUL_NR (2 * MATMUL_VEC)
#ifndef MATMUL_KC
#define MATMUL_KC 256
#endif
#define MATMUL_NC 2048  // columns of B packed at once: 256 x 2048 floats = 2 MiB, in L3
#define MATMUL_DIRECT_STRIPS 4  // up to this many strips of C: A is not packed (see below)
typedef float floatv __attribute__((vector_size(MATMUL_VEC * sizeof(float))));

// C[0:rows, 0:cols] += A (MR, kc) @ Bstrip (kc, NR): A[r, k] = a[r * a_rs + k * a_cs]
// (a packed panel: a_rs = 1, a_cs = MR), bstrip packed k-major: bstrip[k * NR + j] = B[k, j].
// init: NULL, or C's first values, one per column (a bias, or zeros): then
// C[r, j] = init[j] + (A @ Bstrip)[r, j] is written without reading C (the
// first k block of an overwriting product: the same additions, in the same
// order, as filling C with init and adding, one pass over C fewer).
// ahead: 0, or a count of floats: at each k the cache is also asked for
// a[k * a_cs + ahead], a line that a later tile will read (see the caller)
static void matmul_micro_kernel(float *c, size_t ldc, const float *a, size_t a_rs, size_t a_cs,
                                const float *bstrip, int kc, int rows, int cols, int ahead,
                                const float *init) {
    floatv acc[MATMUL_MR][2];
    memset(acc, 0, sizeof(acc));
    for (int r = 0; r < rows; r++) {  // ask for C's rows now: they arrive while k runs
        __builtin_prefetch(c + (size_t)r * ldc, 1);
        __builtin_prefetch(c + (size_t)r * ldc + MATMUL_NR - 1, 1);
    }
    for (int k = 0; k < kc; k++) {
        floatv b0, b1;  // memcpy: unaligned vector loads
        memcpy(&b0, bstrip + (size_t)k * MATMUL_NR, sizeof(b0));
        memcpy(&b1, bstrip + (size_t)k * MATMUL_NR + MATMUL_VEC, sizeof(b1));
        const float *ak = a + (size_t)k * a_cs;
        if (ahead > 0) { __builtin_prefetch(ak + ahead); }
        for (int r = 0; r < MATMUL_MR; r++) {
            acc[r][0] += ak[r * a_rs] * b0;  // the scalar is broadcast to all lanes
            acc[r][1] += ak[r * a_rs] * b1;
        }
    }
    if (init != NULL && rows == MATMUL_MR && cols == MATMUL_NR) {  // a whole tile, written
        floatv i0, i1;
        memcpy(&i0, init, sizeof(i0));
        memcpy(&i1, init + MATMUL_VEC, sizeof(i1));
        for (int r = 0; r < MATMUL_MR; r++) {
            floatv cv[2] = {i0 + acc[r][0], i1 + acc[r][1]};
            memcpy(c + (size_t)r * ldc, &cv[0], sizeof(floatv));
            memcpy(c + (size_t)r * ldc + MATMUL_VEC, &cv[1], sizeof(floatv));
        }
        return;
    }
    if (rows == MATMUL_MR && cols == MATMUL_NR) {  // a whole tile: vector adds into C
        // row r + 1 of C is read before row r is written. C's rows are often
        // a multiple of 4 KiB apart, or every few rows are (ldc 768, 3072),
        // and a read that follows a write with the same low 12 address bits
        // can be held back by the CPU as a possible dependence; reading
        // ahead keeps every read clear of the writes before it. (Measured
        // side by side in one process, 4 runs of 31 repeats: the forward's
        // five GPT-2 124M products at 256 rows 6-10% faster, the backward's
        // level; same bits.)
        floatv next[2];
        memcpy(&next[0], c, sizeof(floatv));
        memcpy(&next[1], c + MATMUL_VEC, sizeof(floatv));
        for (int r = 0; r < MATMUL_MR; r++) {
            floatv cv[2] = {next[0] + acc[r][0], next[1] + acc[r][1]};
            if (r + 1 < MATMUL_MR) {
                memcpy(&next[0], c + (size_t)(r + 1) * ldc, sizeof(floatv));
                memcpy(&next[1], c + (size_t)(r + 1) * ldc + MATMUL_VEC, sizeof(floatv));
            }
            memcpy(c + (size_t)r * ldc, &cv[0], sizeof(floatv));
            memcpy(c + (size_t)r * ldc + MATMUL_VEC, &cv[1], sizeof(floatv));
        }
        return;
    }
    float tile[MATMUL_MR][MATMUL_NR];  // an edge tile: only its rows and columns
    memcpy(tile, acc, sizeof(tile));
    for (int r = 0; r < rows; r++) {
        float *cr = c + (size_t)r * ldc;
        for (int j = 0; j < cols; j++) { cr[j] = (init != NULL ? init[j] : cr[j]) + tile[r][j]; }
    }
}

// the first n floats of x to dst (n from 1 to 8, a constant where this is
// inlined): 8 as one 32-byte store, 4 and 6 as a 16-byte and an 8-byte one
// (the tiles' MR: 6, or 12 = 8 + 4), others float by float
typedef float floatv8 __attribute__((vector_size(8 * sizeof(float))));
typedef float floatv4 __attribute__((vector_size(4 * sizeof(float))));
typedef float floatv2 __attribute__((vector_size(2 * sizeof(float))));
static inline void matmul_store_first(float *dst, floatv8 x, int n) {
    if (n == 8) {
        memcpy(dst, &x, sizeof(x));
    } else if (n == 4 || n == 6) {
        floatv4 lo = __builtin_shufflevector(x, x, 0, 1, 2, 3);
        memcpy(dst, &lo, sizeof(lo));
        if (n == 6) {
            floatv2 mid = __builtin_shufflevector(x, x, 4, 5);
            memcpy(dst + 4, &mid, sizeof(mid));
        }
    } else {
        for (int j = 0; j < n; j++) { dst[j] = x[j]; }
    }
}

// dst[i * dst_rs + j] = src[j * src_rs + i] for i < 8, j < rows: `rows` rows
// of src (1 to 8; 8 contiguous floats each) become the first `rows` columns of
// dst's eight rows, in registers. Each row is one vector load (past rows, the
// last row again); three rounds of shuffles, each merging pairs of vectors,
// gather element i of every row into vector i (interleave pairs of rows, then
// pairs of pairs, then the 128-bit halves), and each of those is one vector
// store (of its first `rows` floats). Element by element it
// would take 8 x rows loads and as many stores.
static inline void matmul_transpose_8x8(float *dst, size_t dst_rs, const float *src, size_t src_rs, int rows) {
    floatv8 v[8], t[8], u[8];
    // (the eight loads written out: as a loop, GCC kept v in memory, and
    // each vector went through a store and a reload, doubling the time)
    const float *last = src + (size_t)(rows - 1) * src_rs;
    memcpy(&v[0], src, sizeof(floatv8));
    memcpy(&v[1], rows > 1 ? src + src_rs : last, sizeof(floatv8));
    memcpy(&v[2], rows > 2 ? src + 2 * src_rs : last, sizeof(floatv8));
    memcpy(&v[3], rows > 3 ? src + 3 * src_rs : last, sizeof(floatv8));
    memcpy(&v[4], rows > 4 ? src + 4 * src_rs : last, sizeof(floatv8));
    memcpy(&v[5], rows > 5 ? src + 5 * src_rs : last, sizeof(floatv8));
    memcpy(&v[6], rows > 6 ? src + 6 * src_rs : last, sizeof(floatv8));
    memcpy(&v[7], rows > 7 ? src + 7 * src_rs : last, sizeof(floatv8));
    for (int i = 0; i < 8; i += 2) {  // t[i] = v[i][0] v[i+1][0] v[i][1] v[i+1][1] | same at 4, 5
        t[i] = __builtin_shufflevector(v[i], v[i + 1], 0, 8, 1, 9, 4, 12, 5, 13);
        t[i + 1] = __builtin_shufflevector(v[i], v[i + 1], 2, 10, 3, 11, 6, 14, 7, 15);
    }
    for (int i = 0; i < 8; i += 4) {  // u[i] = v[i..i+3][0] | v[i..i+3][4], and so on
        for (int h = 0; h < 2; h++) {
            u[i + 2 * h] = __builtin_shufflevector(t[i + h], t[i + h + 2], 0, 1, 8, 9, 4, 5, 12, 13);
            u[i + 2 * h + 1] = __builtin_shufflevector(t[i + h], t[i + h + 2], 2, 3, 10, 11, 6, 7, 14, 15);
        }
    }
    for (int i = 0; i < 4; i++) {  // column i and i + 4: rows 0-3 from u[i], rows 4-7 from u[i + 4]
        floatv8 lo = __builtin_shufflevector(u[i], u[i + 4], 0, 1, 2, 3, 8, 9, 10, 11);
        floatv8 hi = __builtin_shufflevector(u[i], u[i + 4], 4, 5, 6, 7, 12, 13, 14, 15);
        matmul_store_first(dst + (size_t)i * dst_rs, lo, rows);
        matmul_store_first(dst + (size_t)(i + 4) * dst_rs, hi, rows);
    }
}

// packs one strip of B, the block [k0:k0+kc, n:n+cols] (cols <= NR):
// strip[k * NR + j] = B[k0 + k, n + j], zeros past column cols. B's columns
// contiguous (b_rs = 1: the forward's weight, transposed): 8 k by 8 columns
// at a time through matmul_transpose_8x8; else k by k.
static void matmul_pack_strip(float *strip, const float *b, size_t b_rs, size_t b_cs, int k0, int kc,
                              int n, int cols) {
    const float *src = b + (size_t)k0 * b_rs + (size_t)n * b_cs;
    int k = 0;
    if (b_rs == 1 && cols == MATMUL_NR) {
        for (; k + 8 <= kc; k += 8) {
            for (int j = 0; j < MATMUL_NR; j += 8) {
                matmul_transpose_8x8(strip + (size_t)k * MATMUL_NR + j, MATMUL_NR, src + (size_t)j * b_cs + k, b_cs, 8);
            }
        }
    }
    for (; k < kc; k++) {
        const float *row = src + (size_t)k * b_rs;
        float *dst = strip + (size_t)k * MATMUL_NR;
        if (cols == MATMUL_NR && b_cs == 1) {  // (a fixed size: the compiler makes it two vector moves)
            memcpy(dst, row, MATMUL_NR * sizeof(float));
        } else if (cols == MATMUL_NR) {  // (a fixed count, unrolled by the compiler)
            for (int j = 0; j < MATMUL_NR; j++) { dst[j] = row[(size_t)j * b_cs]; }
        } else {
            for (int j = 0; j < MATMUL_NR; j++) { dst[j] = j < cols ? row[(size_t)j * b_cs] : 0.0f; }
        }
    }
}

// asks the cache for part of one strip's block of B (as matmul_pack_strip's),
// seen as runs of contiguous floats, its columns (b_rs = 1) or its rows
// (b_cs = 1), each `lines` cache lines long: the lines [first, first + count)
// of that list, so that a caller can spread the requests over its work.
// Returns the list's length. (Other strides: nothing is prefetched.)
static int matmul_prefetch_strip(const float *b, size_t b_rs, size_t b_cs, int k0, int kc, int n, int cols,
                                 int first, int count) {
    if (b_rs != 1 && b_cs != 1) { return 0; }
    const int runs = b_rs == 1 ? cols : kc, len = b_rs == 1 ? kc : cols;
    const int lines = (len + 15) / 16 + 1;  // 16 floats a line, +1: a run need not start on one
    for (int u = first; u < first + count && u < runs * lines; u++) {
        const int r = u / lines, at = (u % lines) * 16 < len ? (u % lines) * 16 : len - 1;
        __builtin_prefetch(b_rs == 1 ? b + (size_t)(n + r) * b_cs + k0 + at : b + (size_t)(k0 + r) * b_rs + n + at);
    }
    return runs * lines;
}

// packs B's block [k0:k0+kc, n0:n0+nc] into strips of NR columns, strip s
// at bpack + s * kc * NR holding bpack[s*kc*NR + k*NR + j] = B[k0 + k, n0 + s*NR + j],
// zeros past column nc. Inside a parallel region: the threads share the
// work, walking B along its unit stride so that its reads are contiguous:
//   B's rows contiguous (b_cs = 1): threads own rows k, each copied NR
//     columns at a time into every strip;
//   B's columns contiguous (the forward's B, weight transposed): threads own
//     strips, each filled from its NR columns at once (NR streams), 8 k by
//     8 columns at a time through matmul_transpose_8x8.
static void matmul_pack_b(float *bpack, const float *b, size_t b_rs, size_t b_cs, int k0, int kc,
                          int n0, int nc) {
    const int strips = (nc + MATMUL_NR - 1) / MATMUL_NR;
    if (b_cs == 1) {
        #pragma omp for schedule(static)
        for (int k = 0; k < kc; k++) {
            const float *row = b + (size_t)(k0 + k) * b_rs + n0;
            for (int s = 0; s < strips; s++) {
                float *dst = bpack + ((size_t)s * kc + k) * MATMUL_NR;
                const int cols = nc - s * MATMUL_NR < MATMUL_NR ? nc - s * MATMUL_NR : MATMUL_NR;
                if (cols == MATMUL_NR) {  // (a fixed size: the compiler makes it two vector moves)
                    memcpy(dst, row + s * MATMUL_NR, MATMUL_NR * sizeof(float));
                } else {
                    for (int j = 0; j < MATMUL_NR; j++) { dst[j] = j < cols ? row[s * MATMUL_NR + j] : 0.0f; }
                }
            }
        }
        return;
    }
    #pragma omp for schedule(static)
    for (int s = 0; s < strips; s++) {
        const int cols = nc - s * MATMUL_NR < MATMUL_NR ? nc - s * MATMUL_NR : MATMUL_NR;
        matmul_pack_strip(bpack + (size_t)s * kc * MATMUL_NR, b, b_rs, b_cs, k0, kc, n0 + s * MATMUL_NR, cols);
    }
}

// packs A[m0:m0+rows, k0:k0+kc] into panels of MR rows, panel p at
// apack + p * kc * MR holding apack[p*kc*MR + k*MR + r] = A[m0 + p*MR + r, k0 + k],
// zeros past the last row. With sums: sums[i] += A[m0 + i, k] for each k in
// order (the same additions, in the same order, as one running sum over k).
static void matmul_pack_a(float *apack, float *sums, const float *a, size_t a_rs, size_t a_cs,
                          int m0, int rows, int k0, int kc) {
    const int panels = (rows + MATMUL_MR - 1) / MATMUL_MR;
    for (int p = 0; p < panels; p++) {
        float *panel = apack + (size_t)p * kc * MATMUL_MR;
        const int r_end = rows - p * MATMUL_MR < MATMUL_MR ? rows - p * MATMUL_MR : MATMUL_MR;
        const float *src = a + (size_t)(m0 + p * MATMUL_MR) * a_rs + (size_t)k0 * a_cs;
        float *psums = sums != NULL ? sums + p * MATMUL_MR : NULL;
        if (r_end < MATMUL_MR) { memset(panel, 0, (size_t)kc * MATMUL_MR * sizeof(float)); }
        int k = 0;
        if (a_cs == 1 && r_end == MATMUL_MR && psums == NULL) {
            // A's rows contiguous (the forward's inp, the input gradient's
            // dout): 8 k at a time, each group of up to 8 rows transposed in
            // registers by matmul_transpose_8x8 straight into the panel
            // (element by element, this copy took twice as long)
            for (; k + 8 <= kc; k += 8) {
                for (int r0 = 0; r0 < MATMUL_MR; r0 += 8) {
                    matmul_transpose_8x8(panel + (size_t)k * MATMUL_MR + r0, MATMUL_MR, src + (size_t)r0 * a_rs + k,
                                         a_rs, MATMUL_MR - r0 < 8 ? MATMUL_MR - r0 : 8);
                }
            }
        }
        if (a_rs == 1 && r_end == MATMUL_MR) {
            // A's columns contiguous (the weight gradient's A = dout^T: column
            // k of A is MR neighbours in row k of dout): one MR-float copy per
            // k, and the row sums kept in registers (the same additions in the
            // same order as below, so the same bits). Element by element this
            // copy took 11-12% of the weight gradient's time at qkv's shape
            // (perf, 1 thread), this way 7-9%: about 2% of the product, which
            // is what side-by-side timing found once each version had run
            // in both slots of the harness (it favours one slot by 2-8%).
            float s[MATMUL_MR];
            if (psums != NULL) { memcpy(s, psums, sizeof(s)); }
            for (; k < kc; k++) {
                const float *col = src + (size_t)k * a_cs;
                memcpy(panel + (size_t)k * MATMUL_MR, col, MATMUL_MR * sizeof(float));
                if (psums != NULL) {
                    for (int r = 0; r < MATMUL_MR; r++) { s[r] += col[r]; }
                }
            }
            if (psums != NULL) { memcpy(psums, s, sizeof(s)); }
        }
        // k by k, the MR values of column k (MR reads, from MR rows of A or
        // from one row of dout when A = dout^T; MR contiguous writes)
        for (; k < kc; k++) {
            const float *col = src + (size_t)k * a_cs;
            for (int r = 0; r < r_end; r++) { panel[(size_t)k * MATMUL_MR + r] = col[(size_t)r * a_rs]; }
            if (psums != NULL) {
                for (int r = 0; r < r_end; r++) { psums[r] += col[(size_t)r * a_rs]; }
            }
        }
    }
}

// which of the parallel region's threads this is (0 without OpenMP)
static int thread_index(void) {
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

// zeros for an overwriting product without a bias (matmul_micro_kernel's init)
static const float matmul_zeros[MATMUL_NR] = {0.0f};

// the init a tile at column n of k block k0 gets (see matmul_micro_kernel)
static const float *matmul_init(int overwrite, const float *bias, int k0, int n) {
    if (!overwrite || k0 > 0) { return NULL; }
    return bias != NULL ? bias + n : matmul_zeros;
}

// one strip of C, columns [n, n + cols) of all M rows: its tiles down A's
// packed panels of one k block (panel p at apanels + p * kc * MR) with the
// packed strip of B, asking meanwhile for the lines of the block of B that
// the next strip will pack (next_cols 0: none), a few lines per tile, so
// that its copy then reads from cache. init: see matmul_micro_kernel.
static void matmul_strip_tiles(float *c, size_t ldc, const float *apanels, const float *strip, int M,
                               int kc, int n, int cols, const float *init, const float *b, size_t b_rs,
                               size_t b_cs, int next_k0, int next_kc, int next_n, int next_cols) {
    const int panels = (M + MATMUL_MR - 1) / MATMUL_MR;
    int per_panel = 0;
    if (next_cols > 0) {
        const int lines = matmul_prefetch_strip(b, b_rs, b_cs, next_k0, next_kc, next_n, next_cols, 0, 0);
        per_panel = (lines + panels - 1) / panels;
    }
    for (int p = 0; p < panels; p++) {
        const int m = p * MATMUL_MR;
        if (per_panel > 0) {
            matmul_prefetch_strip(b, b_rs, b_cs, next_k0, next_kc, next_n, next_cols, p * per_panel, per_panel);
        }
        matmul_micro_kernel(c + (size_t)m * ldc + n, ldc, apanels + (size_t)p * kc * MATMUL_MR, 1, MATMUL_MR,
                            strip, kc, M - m < MATMUL_MR ? M - m : MATMUL_MR, cols, 0, init);
    }
}

// A small and B wide: at most MATMUL_WHOLE_A floats of A (a few hundred
// tokens' rows: the forward's inp, the input gradient's dout), and more than
// MATMUL_NC columns of B (qkv, fc, the classifier; fcproj's input gradient).
// The general order below packs A's k block again for every MATMUL_NC
// columns of B (25 times for the classifier) and passes over C once per
// k block. So here A is packed once, whole, by all threads (each panel with
// all its k blocks, so that the row sums still add over k in order), and then
// tasks own runs of strips of C: for each strip, every k block in turn: its
// strip of B is packed (its lines asked for while the previous one's tiles
// run, as in few_rows below), and its tiles run down all of A's panels. C's
// strip (rows x NR floats) stays in L2 from one k block to the next, and is
// read and written once per k block from there. One barrier in all.
// (Measured side by side in one process, the forward's five GPT-2 124M
// products: at 256 rows 1.14x faster on 2 threads and 1.11-1.14x on 1
// (classifier 1.16x; fcproj, K 3072, N 768, keeps the general order: 0.96x
// this way); at 1024 rows 1.26x on 2 threads; d6's classifier at 2048 rows,
// K 384, 1.29x on 2 threads. With 2048 x 768 of A (6 MiB, read from L3 for
// every strip) it was 0.87x: hence the limit. Included are the bias folded
// into the first k block, 1.08x of that.)
#define MATMUL_WHOLE_A ((size_t)1 << 20)
static void matmul_whole_a(float *c, size_t ldc, int overwrite, const float *bias, float *sums,
                           const float *a, size_t a_rs, size_t a_cs, const float *b, size_t b_rs,
                           size_t b_cs, int M, int N, int K) {
    const int threads = num_threads(), panels = (M + MATMUL_MR - 1) / MATMUL_MR;
    const int kblocks = (K + MATMUL_KC - 1) / MATMUL_KC, strips = (N + MATMUL_NR - 1) / MATMUL_NR;
    const int kc_max = K < MATMUL_KC ? K : MATMUL_KC;
    // k block k0's panels at apack + k0 * panels * MR (earlier blocks are
    // all MATMUL_KC deep), panel p of it kc * MR floats further on each
    float *apack = (float *)mallocCheck((size_t)panels * MATMUL_MR * K * sizeof(float));
    float *bstrips = (float *)mallocCheck((size_t)threads * kc_max * MATMUL_NR * sizeof(float));
    // up to 8 tasks per thread, handed out as threads come free
    const int tasks = strips < 8 * threads ? strips : 8 * threads;
    #pragma omp parallel
    {
        float *strip = bstrips + (size_t)thread_index() * kc_max * MATMUL_NR;
        #pragma omp for schedule(static)
        for (int p = 0; p < panels; p++) {
            const int m = p * MATMUL_MR, rows = M - m < MATMUL_MR ? M - m : MATMUL_MR;
            for (int k0 = 0; k0 < K; k0 += MATMUL_KC) {
                const int kc = K - k0 < MATMUL_KC ? K - k0 : MATMUL_KC;
                matmul_pack_a(apack + ((size_t)k0 * panels + (size_t)p * kc) * MATMUL_MR,
                              sums != NULL ? sums + m : NULL, a, a_rs, a_cs, m, rows, k0, kc);
            }
        }
        // (the loop's barrier: A is packed before anyone reads it)
        #pragma omp for schedule(dynamic)
        for (int task = 0; task < tasks; task++) {
            // the task's strips [s_begin, s_end), each with its k blocks: units u
            const int s_begin = (int)((long)task * strips / tasks);
            const int units = ((int)((long)(task + 1) * strips / tasks) - s_begin) * kblocks;
            for (int u = 0; u < units; u++) {
                const int n = (s_begin + u / kblocks) * MATMUL_NR, cols = N - n < MATMUL_NR ? N - n : MATMUL_NR;
                const int k0 = u % kblocks * MATMUL_KC, kc = K - k0 < MATMUL_KC ? K - k0 : MATMUL_KC;
                // the next unit's strip of B: its lines asked for a few per tile
                const int next_n = (s_begin + (u + 1) / kblocks) * MATMUL_NR;
                const int next_cols = N - next_n < MATMUL_NR ? N - next_n : MATMUL_NR;
                const int next_k0 = (u + 1) % kblocks * MATMUL_KC;
                const int next_kc = K - next_k0 < MATMUL_KC ? K - next_k0 : MATMUL_KC;
                if (u == 0) { matmul_pack_strip(strip, b, b_rs, b_cs, k0, kc, n, cols); }
                matmul_strip_tiles(c, ldc, apack + (size_t)k0 * panels * MATMUL_MR, strip, M, kc, n, cols,
                                   matmul_init(overwrite, bias, k0, n), b, b_rs, b_cs, next_k0, next_kc, next_n,
                                   u + 1 < units ? next_cols : 0);
                if (u + 1 < units) { matmul_pack_strip(strip, b, b_rs, b_cs, next_k0, next_kc, next_n, next_cols); }
            }
        }
    }
    free(bstrips);
    free(apack);
}

// matmul_product's general order: any shape. sums: the row sums (from 0) or NULL
static void matmul_general(float *c, size_t ldc, int overwrite, const float *bias, float *sums,
                           const float *a, size_t a_rs, size_t a_cs, const float *b, size_t b_rs,
                           size_t b_cs, int M, int N, int K) {
    const int threads = num_threads();
    // Tasks, handed out as threads come free: row blocks of up to about
    // MATMUL_MC rows (whole panels of MR rows, as even as they can be: block
    // rb starts at panel rb * panels_all / row_blocks), and each row block's
    // columns cut into parts, so that there are at least four tasks per
    // thread (few rows: the 256 tokens of a small batch). A part keeps at
    // least 4 strips (64 columns), over which its panels of A, read from L2,
    // are reused. The number of tasks is made a multiple of the threads
    // where it can be: equal tasks then end together (15 on 2 threads would
    // leave one thread doing the 15th alone while the other waits).
    const int want = 4 * threads, strips_max = (N < MATMUL_NC ? N : MATMUL_NC) / MATMUL_NR;
    const int panels_all = (M + MATMUL_MR - 1) / MATMUL_MR;
    int row_blocks = (M + MATMUL_MC - 1) / MATMUL_MC;
    if (row_blocks >= want) { row_blocks = (row_blocks + threads - 1) / threads * threads; }
    if (row_blocks > panels_all) { row_blocks = panels_all; }
    const int mc = (panels_all + row_blocks - 1) / row_blocks * MATMUL_MR;  // the largest block's rows
    int parts = row_blocks >= want ? 1 : (want + row_blocks - 1) / row_blocks;
    while ((row_blocks * parts) % threads != 0 && parts < strips_max / 4) { parts++; }
    if (parts > strips_max / 4) { parts = strips_max / 4 > 1 ? strips_max / 4 : 1; }
    const int kc_max = K < MATMUL_KC ? K : MATMUL_KC;
    const int nc_max = N < MATMUL_NC ? (N + MATMUL_NR - 1) / MATMUL_NR * MATMUL_NR : MATMUL_NC;
    // Few rows (a row block's columns split into parts: a small batch) and
    // B's columns contiguous (the forward's weight, transposed): B is read
    // from memory for little work per float, and packing it all before the
    // products start would leave the multiply-adds idle while it comes in
    // (a sixth of a 256-row forward). So then each task packs its own
    // strips, one at a time into its own buffer, and asks for the next
    // strip's lines while the current one's products run: the copy then
    // reads from cache. A is packed once per k block by all threads, all
    // its rows, into one buffer the tasks share. (Measured side by side, the
    // 256-row forward ran 5-15% faster.)
    // The input gradient (A = dout, its rows contiguous; B = weight, its rows
    // contiguous) takes the same path with few rows: in the plain order each
    // of a row block's parts packs the same block of A again (6 parts at
    // 256 rows: six copies of dout per k block), and with AVX-512 that copy
    // weighs twice as much against the multiply-adds as with AVX2. (Measured
    // side by side in one process, GPT-2 124M's five shapes at 256 rows, on
    // an AVX-512 AMD EPYC (Zen 5): 1.13-1.16x faster on 2 threads, 1.07x on
    // 1, every shape faster; its AVX2 tile 1.03-1.05x; level on a Zen 3 in
    // an earlier session. The weight gradient, A = dout^T, was level either
    // way and keeps the plain order, and so do attention's products with
    // N = hs, which read A where it is: see direct below.)
    const int few_rows = parts > 1 && (b_rs == 1 || (a_cs == 1 && N > MATMUL_DIRECT_STRIPS * MATMUL_NR));
    float *bpack = (float *)mallocCheck((few_rows ? (size_t)threads * MATMUL_NR : (size_t)nc_max) *
                                        kc_max * sizeof(float));
    float *apack = (float *)mallocCheck((few_rows ? (size_t)panels_all * MATMUL_MR : (size_t)threads * mc) *
                                        kc_max * sizeof(float));
    // A is read where it is, not packed, when its panels serve at most
    // MATMUL_DIRECT_STRIPS strips of C (attention's products with N = hs):
    // then packing would cost about as much as the multiply-adds it feeds
    const int direct = !few_rows && sums == NULL && N <= MATMUL_DIRECT_STRIPS * MATMUL_NR;
    // A read where it is with its columns contiguous (a_rs = 1: attention's
    // dv and dk, A = att^T): a panel's MR floats at each k sit in another row
    // of att, T floats on (at T 1024, each on its own 4 KiB page). The
    // hardware prefetchers follow runs inside a page, so the first time a
    // panel is read (its task's first strip; the later strips find it in
    // L2) every k waits for wherever att is. So then each k of that first
    // pass also asks for the line 16 floats further along the same row of
    // att: the line the panels two and three below will read. (Measured
    // with att in L3, dev/cpu/matmul_openblas at T 1024, 1 thread: dk 0.84
    // and 0.90 of OpenBLAS without, 1.01 and 0.99 with, dv 1.01-1.02 and
    // 1.00-1.12; in the training backward att's rows come from L2, and there
    // it is level.)
    const int ahead = direct && a_rs == 1 ? 16 : 0;
    // The order of a task's tiles: down each strip (the strip of B, 16 KiB,
    // stays in L1 while the panels of A come from L2), unless C's rows are a
    // multiple of 4 KiB apart (ldc 3072: fcproj's two backward products) and
    // the k blocks are whole. Then every tile down a strip puts its C rows
    // into the same two sets of L1 as the tile before (6 rows of 12 KiB:
    // 72 KiB further on), and C's lines, asked for at a tile's start, are
    // pushed out by the 16 KiB of B streamed through L1 before its end. So
    // then along the panel's rows instead: each tile's C lines fall in the
    // next sets, and the panel of A stays in L1 while the strips come from
    // L2 or L3. (Measured side by side, fcproj's backward on 1 thread,
    // each order run in both slots of the harness, which favours its first
    // slot by 2-8%: 1.01-1.05x by medians over 2 runs of 41 repeats; level
    // on 2. Rows 3 KiB apart were up to 8% slower in that order, attention
    // at T 1024 (K 64: short tiles) level to 3% slower, so they keep the
    // first.)
    const int along_rows = ldc % 1024 == 0 && K >= MATMUL_KC;
    #pragma omp parallel
    {
        float *my_apack = apack + (size_t)thread_index() * mc * kc_max;
        float *my_strip = bpack + (size_t)thread_index() * kc_max * MATMUL_NR;
        for (int n0 = 0; n0 < N; n0 += MATMUL_NC) {
            const int nc = N - n0 < MATMUL_NC ? N - n0 : MATMUL_NC;
            const int strips = (nc + MATMUL_NR - 1) / MATMUL_NR;
            const int strips_per_part = (strips + parts - 1) / parts;
            for (int k0 = 0; k0 < K; k0 += MATMUL_KC) {
                const int kc = K - k0 < MATMUL_KC ? K - k0 : MATMUL_KC;
                if (few_rows) {
                    // A's panels, all rows (the row sums: once per k)
                    #pragma omp for schedule(static)
                    for (int p = 0; p < panels_all; p++) {
                        const int m = p * MATMUL_MR;
                        matmul_pack_a(apack + (size_t)p * kc * MATMUL_MR, sums != NULL && n0 == 0 ? sums + m : NULL,
                                      a, a_rs, a_cs, m, M - m < MATMUL_MR ? M - m : MATMUL_MR, k0, kc);
                    }
                    // (the loop's barrier: A is packed before anyone reads it)
                    // threads own tasks: columns [s_begin, s_end) of C, all rows
                    const int tasks = parts * row_blocks, per_task = (strips + tasks - 1) / tasks;
                    #pragma omp for schedule(dynamic)
                    for (int task = 0; task < tasks; task++) {
                        const int s_begin = task * per_task;
                        const int s_end = s_begin + per_task < strips ? s_begin + per_task : strips;
                        for (int s = s_begin; s < s_end; s++) {
                            const int n = n0 + s * MATMUL_NR, cols = N - n < MATMUL_NR ? N - n : MATMUL_NR;
                            const int next = n + MATMUL_NR, next_cols = N - next < MATMUL_NR ? N - next : MATMUL_NR;
                            if (s == s_begin) { matmul_pack_strip(my_strip, b, b_rs, b_cs, k0, kc, n, cols); }
                            matmul_strip_tiles(c, ldc, apack, my_strip, M, kc, n, cols, matmul_init(overwrite, bias, k0, n),
                                               b, b_rs, b_cs, k0, kc, next, s + 1 < s_end ? next_cols : 0);
                            if (s + 1 < s_end) { matmul_pack_strip(my_strip, b, b_rs, b_cs, k0, kc, next, next_cols); }
                        }
                    }
                    // (the loop's barrier: every task is done before A is repacked)
                    continue;
                }
                matmul_pack_b(bpack, b, b_rs, b_cs, k0, kc, n0, nc);
                // (the packing loop's barrier: B is packed before anyone reads it)
                // threads own tasks: a row block's columns [s_begin, s_end) of C
                #pragma omp for collapse(2) schedule(dynamic)
                for (int rb = 0; rb < row_blocks; rb++) {
                    for (int part = 0; part < parts; part++) {
                        const int m0 = (int)((long)rb * panels_all / row_blocks) * MATMUL_MR;
                        const int m1 = (int)((long)(rb + 1) * panels_all / row_blocks) * MATMUL_MR;
                        const int rows = (m1 < M ? m1 : M) - m0;
                        const int s_begin = part * strips_per_part;
                        const int s_end = s_begin + strips_per_part < strips
                                              ? s_begin + strips_per_part : strips;
                        if (rows <= 0 || s_begin >= s_end) { continue; }
                        // one task per row block adds its row sums, once per k
                        float *task_sums = sums != NULL && n0 == 0 && part == 0 ? sums + m0 : NULL;
                        // direct: whole panels are read from A where it is
                        // (packing only the last, partial one), else all packed
                        const int packed_from = direct ? rows / MATMUL_MR : 0;
                        matmul_pack_a(my_apack, task_sums, a, a_rs, a_cs, m0 + packed_from * MATMUL_MR,
                                      rows - packed_from * MATMUL_MR, k0, kc);
                        // the task's tiles, panel p of A by strip s of B, in
                        // one of two orders (see along_rows above)
                        const int panels = (rows + MATMUL_MR - 1) / MATMUL_MR, task_strips = s_end - s_begin;
                        for (int tile = 0; tile < panels * task_strips; tile++) {
                            const int s = s_begin + (along_rows ? tile % task_strips : tile / panels);
                            const int p = along_rows ? tile / task_strips : tile % panels;
                            const int n = n0 + s * MATMUL_NR, cols = N - n < MATMUL_NR ? N - n : MATMUL_NR;
                            const int m = m0 + p * MATMUL_MR;
                            const float *panel = p < packed_from
                                ? a + (size_t)m * a_rs + (size_t)k0 * a_cs
                                : my_apack + (size_t)(p - packed_from) * kc * MATMUL_MR;
                            matmul_micro_kernel(c + (size_t)m * ldc + n, ldc, panel,
                                                p < packed_from ? a_rs : 1,
                                                p < packed_from ? a_cs : MATMUL_MR,
                                                bpack + (size_t)s * kc * MATMUL_NR, kc,
                                                M - m < MATMUL_MR ? M - m : MATMUL_MR, cols,
                                                p < packed_from && s == s_begin ? ahead : 0,
                                                matmul_init(overwrite, bias, k0, n));
                        }
                    }
                }
                // (the loop's barrier: every task is done before B is repacked)
            }
        }
    }
    free(apack);
    free(bpack);
}

// C (M, N) += A (M, K) @ B (K, N), strided as described above, C[m,n] at
// c[m * ldc + n]; row_sums (M) or NULL: row_sums[m] += sum_k A[m,k].
// overwrite: C = bias + A @ B and row_sums[m] = sum_k A[m,k] instead (bias
// (N), or NULL for none: zeros), C's old values never read: the first k
// block's tiles write C.
static void matmul_product(float *c, size_t ldc, int overwrite, const float *bias, float *row_sums,
                           const float *a, size_t a_rs, size_t a_cs, const float *b, size_t b_rs,
                           size_t b_cs, int M, int N, int K) {
    float *sums = NULL;  // the row sums from 0, added to row_sums at the end
    if (row_sums != NULL) {
        sums = (float *)mallocCheck((size_t)M * sizeof(float));
        memset(sums, 0, (size_t)M * sizeof(float));
    }
    if (N > MATMUL_NC && (size_t)M * K <= MATMUL_WHOLE_A) {
        matmul_whole_a(c, ldc, overwrite, bias, sums, a, a_rs, a_cs, b, b_rs, b_cs, M, N, K);
    } else {
        matmul_general(c, ldc, overwrite, bias, sums, a, a_rs, a_cs, b, b_rs, b_cs, M, N, K);
    }
    if (sums != NULL) {
        for (int m = 0; m < M; m++) { row_sums[m] = (overwrite ? 0.0f : row_sums[m]) + sums[m]; }
        free(sums);
    }
}

// C (M, N) += A (M, K) @ B (K, N), as matmul_product without overwrite
static void matmul_accumulate(float *c, size_t ldc, float *row_sums, const float *a, size_t a_rs,
                              size_t a_cs, const float *b, size_t b_rs, size_t b_cs, int M, int N,
                              int K) {
    matmul_product(c, ldc, 0, NULL, row_sums, a, a_rs, a_cs, b, b_rs, b_cs, M, N, K);
}

// out = inp @ weight^T + bias: out[i,o] = bias[o] + sum_c inp[i,c] * weight[o,c]
// out (B,T,OC), inp (B,T,C), weight (OC,C), bias (OC) or NULL; overwrites out.
// (the plain triple loop this computes is kept in dev/cpu as the reference)
static void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                           int B, int T, int C, int OC) {
    const size_t N = (size_t)B * T;
    if (N < MATMUL_MR) {
        // fewer rows than one register tile (generating: one position): the
        // tile would be mostly empty and packing B would copy all of weight,
        // so one dot product per output instead, reading each row of weight
        // once, contiguously. Threads own outputs o.
        #pragma omp parallel for
        for (int o = 0; o < OC; o++) {
            const float *w = weight + (size_t)o * C;
            for (size_t i = 0; i < N; i++) {
                const float *x = inp + i * C;
                float s = 0.0f;
                #pragma omp simd reduction(+ : s)
                for (int c = 0; c < C; c++) { s += x[c] * w[c]; }
                out[i * OC + o] = (bias != NULL ? bias[o] : 0.0f) + s;
            }
        }
        return;
    }
    // A = inp (N, C); B[c,o] = weight[o,c]: weight read transposed. The
    // bias goes in with the first k block's tiles (out is not filled with
    // it first: measured side by side, the forward's products 1.08x faster
    // at 2,048 rows)
    matmul_product(out, (size_t)OC, 1, bias, NULL, inp, (size_t)C, 1, weight, 1, (size_t)C, (int)N, OC, C);
}

// backward of matmul_forward:
//   dinp[i,c]    += sum_o dout[i,o] * weight[o,c]   (dout @ weight)
//   dweight[o,c] += sum_i dout[i,o] * inp[i,c]      (dout^T @ inp)
//   dbias[o]     += sum_i dout[i,o]                 (dbias may be NULL)
// dweight and dbias are NULL for a frozen weight (LoRA): its product is skipped.
// overwrite: dweight and dbias are written (=), not added into (+=): the
// step's first backward, whose gradients were not zeroed (see gpt2_zero_grad).
static void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int B, int T, int C, int OC,
                            int overwrite) {
    const size_t N = (size_t)B * T;
    matmul_accumulate(dinp, (size_t)C, NULL, dout, (size_t)OC, 1, weight, (size_t)C, 1, (int)N, C, OC);
    if (dweight != NULL) {
        // A = dout^T (OC, N), whose row sums are the bias gradient
        matmul_product(dweight, (size_t)C, overwrite, NULL, dbias, dout, 1, (size_t)OC, inp, (size_t)C, 1, OC, C, (int)N);
    } else if (dbias != NULL) {
        // a frozen weight with a trainable bias (LoRA --lora-train-norms): the
        // column sums of dout alone; threads own blocks of 64 outputs o
        #pragma omp parallel for
        for (int o0 = 0; o0 < OC; o0 += 64) {
            int n = OC - o0 < 64 ? OC - o0 : 64;
            float db[64] = {0.0f};
            for (size_t i = 0; i < N; i++) {
                for (int j = 0; j < n; j++) { db[j] += dout[i * OC + o0 + j]; }
            }
            for (int j = 0; j < n; j++) { dbias[o0 + j] = (overwrite ? 0.0f : dbias[o0 + j]) + db[j]; }
        }
    }
}

// LoRA (low-rank adaptation): a frozen weight W (OC, C) gets a trainable
// update of rank R, W' = W + scale * lora_b @ lora_a with lora_a (R, C),
// lora_b (OC, R) and scale = alpha / R, computed as two thin products (R (C +
// OC) multiply-adds per token instead of C * OC), added to what
// matmul_forward wrote into out:
//   h = scale * inp @ lora_a^T     (B,T,R), saved for the backward
//   out += h @ lora_b^T
// out (B,T,OC), h (B,T,R), inp (B,T,C); overwrites h, adds (+=) into out.
static void lora_forward(float *out, float *h, const float *inp, const float *lora_a,
                         const float *lora_b, float scale, int B, int T, int C, int OC, int R) {
    const size_t N = (size_t)B * T;
    matmul_forward(h, inp, lora_a, NULL, B, T, C, R);
    #pragma omp parallel for
    for (size_t i = 0; i < N * R; i++) { h[i] *= scale; }
    // out (N, OC) += h (N, R) @ lora_b^T: lora_b read transposed, as
    // matmul_forward reads its weight, but added into out instead of overwriting it
    matmul_accumulate(out, (size_t)OC, NULL, h, (size_t)R, 1, lora_b, 1, (size_t)R, (int)N, OC, R);
}

// backward of lora_forward, its two lines in reverse:
//   out += h @ lora_b^T         ->  dh = dout @ lora_b,  dlora_b += dout^T @ h
//   h = scale * inp @ lora_a^T  ->  dinp += (scale dh) @ lora_a,  dlora_a += (scale dh)^T @ inp
// (each is matmul_backward's pair of products). dh (B,T,R) is scratch,
// overwritten; adds into dinp, dlora_a and dlora_b.
static void lora_backward(float *dinp, float *dlora_a, float *dlora_b, float *dh, const float *dout,
                          const float *inp, const float *h, const float *lora_a,
                          const float *lora_b, float scale, int B, int T, int C, int OC, int R) {
    const size_t n = (size_t)B * T * R;
    memset(dh, 0, n * sizeof(float));
    matmul_backward(dh, dlora_b, NULL, dout, h, lora_b, B, T, R, OC, 0);
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) { dh[i] *= scale; }
    matmul_backward(dinp, dlora_a, NULL, dh, inp, lora_a, B, T, C, R, 0);
}

// Attention is matmuls too: for one head, the scores are Q K^T and the output
// is P V (P the softmax of the scores), and the backward is four more
// products. So both passes run the products through matmul_accumulate, a
// block of ATTENTION_BLOCK query rows at a time: a block at rows [r0, r1)
// needs keys 0..r1-1 only (causal), so no more than the block's own triangle
// above the diagonal is computed and thrown away.
#define ATTENTION_BLOCK 128

// the softmax of one row of scores in place: a[t2] = softmax(a[t2] * scale)
// over t2 < n, and a[t2] = 0 for n <= t2 < len
// (the sum is an omp simd reduction: the vector lanes keep partial sums,
// combined at the end; the same order every time, for a given build. The max:
// max_of, in lanes of its own, as an omp simd max reduction is not
// vectorised by clang and only earns a warning)
static void attention_softmax_row(float *a, int n, int len, float scale) {
    for (int t2 = 0; t2 < n; t2++) { a[t2] *= scale; }
    float maxval = max_of(a, n);
    // subtract the max so exp never overflows
    for (int t2 = 0; t2 < n; t2++) { a[t2] = exp_fast(a[t2] - maxval); }
    float sum = 0.0f;
    #pragma omp simd reduction(+ : sum)
    for (int t2 = 0; t2 < n; t2++) { sum += a[t2]; }
    float inv = 1.0f / sum;  // sum >= 1: the max term is exp(0)
    for (int t2 = 0; t2 < n; t2++) { a[t2] *= inv; }
    for (int t2 = n; t2 < len; t2++) { a[t2] = 0.0f; }
}

// One head's causal attention for `rows` queries at positions p0, p0+1, ...
// over the keys and values at positions 0 .. p0+rows-1. Row i of q, k and v
// is at q + i*q_rs (k, v: kv_rs); row i of att at att + i*att_rs, of out at
// out + i*out_rs. For each query row i (position p = p0 + i):
//   att[i, t2] = softmax_{t2<=p}(q_i . k_t2 * scale), 0 for p < t2 < att_len
//   out[i, :]  = sum_{t2<=p} att[i, t2] v_t2
// Overwrites att[i, 0:att_len] and out[i, 0:hs]. Both forwards call this, so
// the KV cache's rows are the same bits as the training forward's: each score
// and each output element is the same sum in the same order (matmul_accumulate's
// arithmetic per element does not depend on the number of rows or columns,
// and the zeros above the diagonal add exactly nothing).
static void attention_head_forward(float *out, size_t out_rs, float *att, size_t att_rs,
                                   const float *q, size_t q_rs, const float *k, const float *v,
                                   size_t kv_rs, int rows, int p0, int att_len, int hs, float scale) {
    const int keys = p0 + rows;
    // scores: att[i, t2] = q_i . k_t2, A = q (rows, hs), B[c, t2] = k_t2[c] (overwritten)
    matmul_product(att, att_rs, 1, NULL, NULL, q, q_rs, 1, k, 1, kv_rs, rows, keys, hs);
    #pragma omp parallel for if (rows >= 32)  // threads own rows of att
    for (int i = 0; i < rows; i++) { attention_softmax_row(att + i * att_rs, p0 + i + 1, att_len, scale); }
    // out = att (rows, keys) @ v (keys, hs) (overwritten)
    matmul_product(out, out_rs, 1, NULL, NULL, att, att_rs, 1, v, kv_rs, 1, rows, hs, keys);
}

// Causal multi-head self-attention. inp (B,T,3C) holds q, k, v side by side,
// head h in channels [h*hs, (h+1)*hs) of each. For every (b,t,h):
//   att[t2] = softmax_{t2<=t}(q_t . k_t2 / sqrt(hs)),  att[t2 > t] = 0
//   out[b,t,h*hs:] = sum_{t2<=t} att[t2] * v_t2
// out (B,T,C), att (B,NH,T,T) saved for the backward; overwrites both.
// With at least two (b,h) per thread, threads own whole heads (their rows of
// att, their channels of out; the products inside run on one thread);
// otherwise the heads go one by one and each product uses every thread.
static void attention_forward(float *out, float *att, const float *inp, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel for collapse(2) if (B * NH >= 2 * num_threads())
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float *q = inp + (size_t)b * T * C3 + (size_t)h * hs;
            float *a = att + ((size_t)b * NH + h) * T * T;
            float *o = out + (size_t)b * T * C + (size_t)h * hs;
            for (int r0 = 0; r0 < T; r0 += ATTENTION_BLOCK) {
                const int rows = T - r0 < ATTENTION_BLOCK ? T - r0 : ATTENTION_BLOCK;
                attention_head_forward(o + (size_t)r0 * C, (size_t)C, a + (size_t)r0 * T, (size_t)T,
                                       q + r0 * C3, C3, q + C, q + 2 * (size_t)C, C3, rows, r0, T,
                                       hs, scale);
            }
        }
    }
}

// the row stride of attention_backward's datt scratch: T + 16 floats, so
// that at T 1024 dk's reads down a column of ds (A = ds^T) are not 4 KiB
// apart, all in one set of L1 (measured side by side, the whole backward:
// 2-5% faster at B 1, T 1024; level at B 8, T 256)
#define ATTENTION_DATT_LD(T) ((size_t)(T) + 16)

// backward of attention_forward, per (b,h), walking the forward backwards:
//   out = att @ v       ->  datt = dout @ v^T,  dv += att^T @ dout
//   att = softmax(s)    ->  ds[t,t2] = att[t,t2] * (datt[t,t2] - sum_t3 att[t,t3] datt[t,t3])
//   s = q k^T * scale   ->  dq += ds @ k * scale,  dk += ds^T @ q * scale
// (the scale is folded into ds). dinp (B,T,3C), added into. One pass over
// blocks of query rows [r0, r1), keys < r1 only: the block's datt, then its
// ds in place, then its share of all three gradients: dq for its rows, and
// dv and dk for keys [0, r1), which collect from every query block at or
// below them. So datt is only ever one block of rows, in a scratch of
// ATTENTION_BLOCK x ATTENTION_DATT_LD(T) floats per thread (not a
// (B,NH,T,T) tensor). dv and dk read the block's rows of att and ds
// transposed (A = att^T: MR neighbouring keys of one query row per k),
// straight after the softmax's pass has read and written those rows: they
// come from L2. (Taken key block by key block after all the query blocks,
// as until 2026-12, the
// same products read att and ds back from L3 or memory, T floats apart:
// measured side by side at B 1, T 1024, C 768, 12 heads, the whole backward
// ran 17% faster on 1 thread and 21% on 2 this way, dv and dk 1.7x; level
// at B 8, T 256.) Threads as in the forward: whole heads, or every thread
// in each product.
static void attention_backward(float *dinp, const float *dout, const float *inp, const float *att,
                               int B, int T, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)hs);
    const int by_heads = B * NH >= 2 * num_threads();
    const size_t ld = ATTENTION_DATT_LD(T), block = (size_t)ATTENTION_BLOCK * ld;  // one block's datt
    float *scratch = (float *)mallocCheck((by_heads ? (size_t)num_threads() : 1) * block * sizeof(float));
    #pragma omp parallel for collapse(2) if (by_heads)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            const float *q = inp + (size_t)b * T * C3 + (size_t)h * hs, *k = q + C, *v = q + 2 * (size_t)C;
            float *dq = dinp + (size_t)b * T * C3 + (size_t)h * hs, *dk = dq + C, *dv = dq + 2 * (size_t)C;
            const float *a = att + ((size_t)b * NH + h) * T * T;
            const float *d = dout + (size_t)b * T * C + (size_t)h * hs;
            float *dar = scratch + (size_t)thread_index() * block;  // (thread 0 when not by heads)
            for (int r0 = 0; r0 < T; r0 += ATTENTION_BLOCK) {
                const int rows = T - r0 < ATTENTION_BLOCK ? T - r0 : ATTENTION_BLOCK, keys = r0 + rows;
                const float *ar0 = a + (size_t)r0 * T;
                // datt[t, t2] = dout_t . v_t2 for the block's rows, keys < r1
                matmul_product(dar, ld, 1, NULL, NULL, d + (size_t)r0 * C, (size_t)C, 1, v, 1, C3,
                               rows, keys, hs);
                // through the softmax, in place: datt becomes ds (zero above the diagonal)
                #pragma omp parallel for if (rows >= 32)  // threads own rows
                for (int i = 0; i < rows; i++) {
                    const float *ar = ar0 + (size_t)i * T;
                    float *dr = dar + (size_t)i * ld;
                    float dot = 0.0f;
                    #pragma omp simd reduction(+ : dot)
                    for (int t2 = 0; t2 <= r0 + i; t2++) { dot += ar[t2] * dr[t2]; }
                    for (int t2 = 0; t2 <= r0 + i; t2++) { dr[t2] = ar[t2] * (dr[t2] - dot) * scale; }
                    for (int t2 = r0 + i + 1; t2 < keys; t2++) { dr[t2] = 0.0f; }
                }
                // dq_t += sum_t2 ds[t, t2] k_t2
                matmul_accumulate(dq + r0 * C3, C3, NULL, dar, ld, 1, k, C3, 1, rows, hs, keys);
                // dv_t2 += sum_t att[t, t2] dout_t,  dk_t2 += sum_t ds[t, t2] q_t
                // over the block's queries t: A[t2, t] = att[t, t2], keys t2 < r1
                matmul_accumulate(dv, C3, NULL, ar0, 1, (size_t)T, d + (size_t)r0 * C, (size_t)C, 1,
                                  keys, hs, rows);
                matmul_accumulate(dk, C3, NULL, dar, 1, ld, q + r0 * C3, C3, 1, keys, hs, rows);
            }
        }
    }
    free(scratch);
}

// attention_forward for inference with a KV cache: n new positions
// pos0..pos0+n-1 of one sequence attend over every position so far. qkv (n,3C)
// holds the new rows' q, k, v; their k and v are first stored into kcache and
// vcache (maxT, C) at rows pos0..pos0+n-1, then new row t (position p =
// pos0+t) computes, per head, exactly attention_forward's row p (the same
// attention_head_forward, so the same sums in the same order):
//   att[t2] = softmax_{t2<=p}(q_p . k_t2 / sqrt(hs)),  out[t,h*hs:] = sum att[t2] v_t2
// out (n,C), att (n,NH,pos0+n) scratch; overwrites out. No backward.
static void attention_forward_cached(float *out, float *att, float *kcache, float *vcache,
                                     const float *qkv, int pos0, int n, int C, int NH) {
    const int hs = C / NH, P = pos0 + n;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)hs);
    for (int t = 0; t < n; t++) {
        memcpy(kcache + (size_t)(pos0 + t) * C, qkv + t * C3 + C, (size_t)C * sizeof(float));
        memcpy(vcache + (size_t)(pos0 + t) * C, qkv + t * C3 + 2 * (size_t)C, (size_t)C * sizeof(float));
    }
    for (int h = 0; h < NH; h++) {
        attention_head_forward(out + (size_t)h * hs, (size_t)C, att + (size_t)h * P, (size_t)NH * P,
                               qkv + (size_t)h * hs, C3, kcache + (size_t)h * hs,
                               vcache + (size_t)h * hs, (size_t)C, n, pos0, P, hs, scale);
    }
}

// GELU, tanh approximation: out = 0.5 x (1 + tanh(u)), u = sqrt(2/pi) (x + 0.044715 x^3).
// Computed as out = x * s with s = 0.5 (1 + tanh u) = 1 / (1 + exp(-2u)), the
// same function: one exp is several times cheaper than tanhf, and for
// large |u| it saturates cleanly (s -> 0 or 1).
// out and inp (N); overwrites out
static void gelu_forward(float *out, const float *inp, size_t N) {
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + GELU_CUBIC * x * x * x);
        float s = 1.0f / (1.0f + exp_fast(-2.0f * u));
        out[i] = x * s;
    }
}

// backward of gelu_forward: with u and s as above (tanh u = 2s - 1, so 1 - tanh^2 u = 4 s (1 - s)),
//   d out / dx = 0.5 (1 + tanh u) + 0.5 x (1 - tanh^2 u) du/dx
//              = s + 2 x s (1 - s) sqrt(2/pi) (1 + 3 * 0.044715 x^2)
static void gelu_backward(float *dinp, const float *inp, const float *dout, size_t N) {
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        float x = inp[i];
        float u = GELU_SCALE * (x + GELU_CUBIC * x * x * x);
        float s = 1.0f / (1.0f + exp_fast(-2.0f * u));
        float du = GELU_SCALE * (1.0f + 3.0f * GELU_CUBIC * x * x);
        float grad = s + 2.0f * x * s * (1.0f - s) * du;
        dinp[i] += grad * dout[i];
    }
}

// out = inp1 + inp2, all (N); overwrites out
static void residual_forward(float *out, const float *inp1, const float *inp2, size_t N) {
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) { out[i] = inp1[i] + inp2[i]; }
}

// backward of residual_forward: the sum passes its gradient to both inputs
static void residual_backward(float *dinp1, float *dinp2, const float *dout, size_t N) {
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        dinp1[i] += dout[i];
        dinp2[i] += dout[i];
    }
}

// Softmax over the first V logits of each (b,t) and the cross-entropy loss
// against the target: probs = exp(l - max) / sum, loss = log(sum) + max - l[target]
// (log-sum-exp: finite even when the target's probability underflows).
// The probabilities are not stored: (B,T,Vp) floats, as many as the logits,
// written here and read back by the backward, when two floats per row say
// what they are. The row's max and 1 / sum are kept instead, and the
// backward recomputes each probability from its logit, the same operations
// in the same order, so the same bits. That is one more exponential per
// logit for (B,T,Vp) floats fewer written and read back: forward and
// backward timed alternately (dev/cpu/classifier's versions 2 and 3), 2
// threads level, 1 thread 5-9% slower, at 256 and 2,048 rows; and the
// memory of a step drops by 2 (B,T,Vp) floats (probs, and its gradient).
// losses, lmax, linv (B,T), logits (B,T,Vp), targets (B,T); overwrites
// losses, lmax and linv. Loops run to V, never into Vp.
static void softmax_crossentropy_forward(float *losses, float *lmax, float *linv, const float *logits,
                                         const int *targets, int B, int T, int V, int Vp) {
    size_t N = (size_t)B * T;
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        const float *l = logits + i * Vp;
        float maxval = max_of(l, V);
        float sum = 0.0f;
        #pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) { sum += exp_fast(l[v] - maxval); }
        lmax[i] = maxval;
        linv[i] = 1.0f / sum;
        losses[i] = logf(sum) + maxval - l[targets[i]];
    }
}

// backward of softmax_crossentropy_forward: dlogits = (probs - onehot(target)) * dlosses,
// and 0 in the padding columns, each prob recomputed from its logit and the
// row's lmax and linv. It overwrites dlogits (the only gradient into the
// logits), so gpt2_backward need not zero it first. dlogits may be logits
// itself (gpt2_backward's case): each logit is read before its own
// gradient is written over it, and no other logit is read after.
static void softmax_crossentropy_backward(float *dlogits, const float *dlosses, const float *logits,
                                          const float *lmax, const float *linv, const int *targets,
                                          int B, int T, int V, int Vp) {
    size_t N = (size_t)B * T;
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        float *dl = dlogits + i * Vp;
        const float *l = logits + i * Vp;
        const float maxval = lmax[i], inv = linv[i], g = dlosses[i];
        #pragma omp simd
        for (int v = 0; v < V; v++) { dl[v] = exp_fast(l[v] - maxval) * inv * g; }  // prob * g
        for (int v = V; v < Vp; v++) { dl[v] = 0.0f; }
        dl[targets[i]] -= g;
    }
}

// ----------------------------------------------------------------------------
// 3. the model: configuration, and ONE table per group of tensors that gives
// each tensor its name, shape and role, from which the sizes, the pointers,
// the initialisation and the weight decay are all derived

typedef struct {
    int max_seq_len;        // maxT, the longest sequence the position table covers
    int vocab_size;         // V
    int padded_vocab_size;  // Vp: V rounded up to VOCAB_PAD, for aligned rows
    int num_layers;         // L
    int num_heads;          // NH
    int channels;           // C
} GPT2Config;

#define MAX_RANK 5
typedef enum { INIT_NONE, INIT_ZEROS, INIT_ONES, INIT_NORMAL, INIT_NORMAL_RESIDUAL } InitKind;

typedef struct {
    const char *name;
    size_t offset;           // offsetof() the tensor's pointer in its struct
    int rank;
    size_t shape[MAX_RANK];
    int per_layer;           // 1 when the first dimension is L: a stack of L tensors
    InitKind init;           // parameters only
    size_t start;            // first element in the group's allocation (set by carve)
} TensorSpec;

static size_t spec_numel(const TensorSpec *s) {
    size_t n = 1;
    for (int i = 0; i < s->rank; i++) { n *= s->shape[i]; }
    return n;
}

// Decoupled weight decay applies to matrices (rank >= 2 per layer: the
// embeddings and the four projection weights), never to biases or layernorm
// gains. The rule lives here, once.
static int spec_decays(const TensorSpec *s) {
    return s->rank - s->per_layer >= 2;
}

#define NUM_PARAMETER_TENSORS 16
typedef struct {
    float *wte;       // (Vp, C) token embedding, also the LM head (tied)
    float *wpe;       // (maxT, C) position embedding
    float *ln1w;      // (L, C)
    float *ln1b;      // (L, C)
    float *qkvw;      // (L, 3*C, C)
    float *qkvb;      // (L, 3*C)
    float *attprojw;  // (L, C, C)
    float *attprojb;  // (L, C)
    float *ln2w;      // (L, C)
    float *ln2b;      // (L, C)
    float *fcw;       // (L, 4*C, C)
    float *fcb;       // (L, 4*C)
    float *fcprojw;   // (L, C, 4*C)
    float *fcprojb;   // (L, C)
    float *lnfw;      // (C)
    float *lnfb;      // (C)
} ParameterTensors;

// the parameter table, in the model file's order
static void parameter_specs(TensorSpec *specs, const GPT2Config *cfg) {
    size_t Vp = cfg->padded_vocab_size, C = cfg->channels, L = cfg->num_layers;
    size_t maxT = cfg->max_seq_len;
    TensorSpec table[NUM_PARAMETER_TENSORS] = {
        {"wte",      offsetof(ParameterTensors, wte),      2, {Vp, C},        0, INIT_NORMAL, 0},
        {"wpe",      offsetof(ParameterTensors, wpe),      2, {maxT, C},      0, INIT_NORMAL, 0},
        {"ln1w",     offsetof(ParameterTensors, ln1w),     2, {L, C},         1, INIT_ONES, 0},
        {"ln1b",     offsetof(ParameterTensors, ln1b),     2, {L, C},         1, INIT_ZEROS, 0},
        {"qkvw",     offsetof(ParameterTensors, qkvw),     3, {L, 3 * C, C},  1, INIT_NORMAL, 0},
        {"qkvb",     offsetof(ParameterTensors, qkvb),     2, {L, 3 * C},     1, INIT_ZEROS, 0},
        {"attprojw", offsetof(ParameterTensors, attprojw), 3, {L, C, C},      1, INIT_NORMAL_RESIDUAL, 0},
        {"attprojb", offsetof(ParameterTensors, attprojb), 2, {L, C},         1, INIT_ZEROS, 0},
        {"ln2w",     offsetof(ParameterTensors, ln2w),     2, {L, C},         1, INIT_ONES, 0},
        {"ln2b",     offsetof(ParameterTensors, ln2b),     2, {L, C},         1, INIT_ZEROS, 0},
        {"fcw",      offsetof(ParameterTensors, fcw),      3, {L, 4 * C, C},  1, INIT_NORMAL, 0},
        {"fcb",      offsetof(ParameterTensors, fcb),      2, {L, 4 * C},     1, INIT_ZEROS, 0},
        {"fcprojw",  offsetof(ParameterTensors, fcprojw),  3, {L, C, 4 * C},  1, INIT_NORMAL_RESIDUAL, 0},
        {"fcprojb",  offsetof(ParameterTensors, fcprojb),  2, {L, C},         1, INIT_ZEROS, 0},
        {"lnfw",     offsetof(ParameterTensors, lnfw),     1, {C},            0, INIT_ONES, 0},
        {"lnfb",     offsetof(ParameterTensors, lnfb),     1, {C},            0, INIT_ZEROS, 0},
    };
    memcpy(specs, table, sizeof(table));
}

#define NUM_ACTIVATION_TENSORS 23
typedef struct {
    float *encoded;    // (B, T, C) token + position embeddings
    float *ln1;        // (L, B, T, C)
    float *ln1_mean;   // (L, B, T)
    float *ln1_rstd;   // (L, B, T)
    float *qkv;        // (L, B, T, 3*C)
    float *atty;       // (L, B, T, C) attention output, heads side by side
    float *att;        // (L, B, NH, T, T) attention weights after softmax
    float *attproj;    // (L, B, T, C)
    float *residual2;  // (L, B, T, C) residual stream after attention
    float *ln2;        // (L, B, T, C)
    float *ln2_mean;   // (L, B, T)
    float *ln2_rstd;   // (L, B, T)
    float *fch;        // (L, B, T, 4*C) MLP hidden, before GELU
    float *fch_gelu;   // (L, B, T, 4*C)
    float *fcproj;     // (L, B, T, C)
    float *residual3;  // (L, B, T, C) residual stream after the MLP: the block's output
    float *lnf;        // (B, T, C)
    float *lnf_mean;   // (B, T)
    float *lnf_rstd;   // (B, T)
    float *lmax;       // (B, T) the largest of each row's logits
    float *linv;       // (B, T) 1 / sum_v exp(logit_v - lmax): with lmax, the softmax
    float *logits;     // (B, T, Vp); gpt2_backward turns them into their gradient
    float *losses;     // (B, T)
} ActivationTensors;

// the activation table for a batch of B sequences of T tokens. The gradients
// of the activations use the same table.
static void activation_specs(TensorSpec *specs, const GPT2Config *cfg, int B_, int T_) {
    size_t B = B_, T = T_, C = cfg->channels, L = cfg->num_layers, NH = cfg->num_heads;
    size_t Vp = cfg->padded_vocab_size;
    TensorSpec table[NUM_ACTIVATION_TENSORS] = {
        {"encoded",   offsetof(ActivationTensors, encoded),   3, {B, T, C},         0, INIT_NONE, 0},
        {"ln1",       offsetof(ActivationTensors, ln1),       4, {L, B, T, C},      1, INIT_NONE, 0},
        {"ln1_mean",  offsetof(ActivationTensors, ln1_mean),  3, {L, B, T},         1, INIT_NONE, 0},
        {"ln1_rstd",  offsetof(ActivationTensors, ln1_rstd),  3, {L, B, T},         1, INIT_NONE, 0},
        {"qkv",       offsetof(ActivationTensors, qkv),       4, {L, B, T, 3 * C},  1, INIT_NONE, 0},
        {"atty",      offsetof(ActivationTensors, atty),      4, {L, B, T, C},      1, INIT_NONE, 0},
        {"att",       offsetof(ActivationTensors, att),       5, {L, B, NH, T, T},  1, INIT_NONE, 0},
        {"attproj",   offsetof(ActivationTensors, attproj),   4, {L, B, T, C},      1, INIT_NONE, 0},
        {"residual2", offsetof(ActivationTensors, residual2), 4, {L, B, T, C},      1, INIT_NONE, 0},
        {"ln2",       offsetof(ActivationTensors, ln2),       4, {L, B, T, C},      1, INIT_NONE, 0},
        {"ln2_mean",  offsetof(ActivationTensors, ln2_mean),  3, {L, B, T},         1, INIT_NONE, 0},
        {"ln2_rstd",  offsetof(ActivationTensors, ln2_rstd),  3, {L, B, T},         1, INIT_NONE, 0},
        {"fch",       offsetof(ActivationTensors, fch),       4, {L, B, T, 4 * C},  1, INIT_NONE, 0},
        {"fch_gelu",  offsetof(ActivationTensors, fch_gelu),  4, {L, B, T, 4 * C},  1, INIT_NONE, 0},
        {"fcproj",    offsetof(ActivationTensors, fcproj),    4, {L, B, T, C},      1, INIT_NONE, 0},
        {"residual3", offsetof(ActivationTensors, residual3), 4, {L, B, T, C},      1, INIT_NONE, 0},
        {"lnf",       offsetof(ActivationTensors, lnf),       3, {B, T, C},         0, INIT_NONE, 0},
        {"lnf_mean",  offsetof(ActivationTensors, lnf_mean),  2, {B, T},            0, INIT_NONE, 0},
        {"lnf_rstd",  offsetof(ActivationTensors, lnf_rstd),  2, {B, T},            0, INIT_NONE, 0},
        {"lmax",      offsetof(ActivationTensors, lmax),      2, {B, T},            0, INIT_NONE, 0},
        {"linv",      offsetof(ActivationTensors, linv),      2, {B, T},            0, INIT_NONE, 0},
        {"logits",    offsetof(ActivationTensors, logits),    3, {B, T, Vp},        0, INIT_NONE, 0},
        {"losses",    offsetof(ActivationTensors, losses),    2, {B, T},            0, INIT_NONE, 0},
    };
    memcpy(specs, table, sizeof(table));
}

// total elements of a table; also fills each spec's start
static size_t layout_specs(TensorSpec *specs, int n) {
    size_t total = 0;
    for (int i = 0; i < n; i++) {
        specs[i].start = total;
        total += spec_numel(&specs[i]);
    }
    return total;
}

// points each tensor of a struct (ParameterTensors or ActivationTensors) into memory
static void point_tensors(void *tensors, const TensorSpec *specs, int n, float *memory) {
    for (int i = 0; i < n; i++) {
        float **field = (float **)((char *)tensors + specs[i].offset);
        *field = memory + specs[i].start;
    }
}

static int pad_vocab(int V) {
    return (V + VOCAB_PAD - 1) / VOCAB_PAD * VOCAB_PAD;
}

// a shape given by a depth preset d6, d12, d24, d36, d48 (d12..d48: the GPT-2
// 124M, 350M, 774M and 1558M shapes); returns 0 when name is not a preset
static int config_from_preset(GPT2Config *cfg, const char *name, int vocab_size) {
    static const struct { const char *name; int L, C, NH; } presets[] = {
        {"d6", 6, 384, 6}, {"d12", 12, 768, 12}, {"d24", 24, 1024, 16},
        {"d36", 36, 1280, 20}, {"d48", 48, 1600, 25},
    };
    for (size_t i = 0; i < sizeof(presets) / sizeof(presets[0]); i++) {
        if (strcmp(name, presets[i].name) == 0) {
            cfg->max_seq_len = 1024;
            cfg->vocab_size = vocab_size;
            cfg->padded_vocab_size = pad_vocab(vocab_size);
            cfg->num_layers = presets[i].L;
            cfg->channels = presets[i].C;
            cfg->num_heads = presets[i].NH;
            return 1;
        }
    }
    return 0;
}

// a config from a file or a flag must make sense before anything is allocated
static void check_config(const GPT2Config *c, const char *source) {
    if (c->max_seq_len <= 0 || c->vocab_size <= 0 || c->num_layers <= 0 || c->num_heads <= 0 ||
        c->channels <= 0) {
        die("%s: bad model shape maxT=%d V=%d L=%d NH=%d C=%d (all must be positive)", source,
            c->max_seq_len, c->vocab_size, c->num_layers, c->num_heads, c->channels);
    }
    if (c->channels % c->num_heads != 0) {
        die("%s: C=%d is not a multiple of NH=%d", source, c->channels, c->num_heads);
    }
    if (c->padded_vocab_size < c->vocab_size) {
        die("%s: padded vocabulary Vp=%d is smaller than V=%d", source, c->padded_vocab_size,
            c->vocab_size);
    }
    if (c->max_seq_len > (1 << 20) || c->channels > (1 << 16) || c->num_layers > 1024 ||
        c->padded_vocab_size > (1 << 24)) {
        die("%s: model shape out of range (maxT=%d C=%d L=%d Vp=%d)", source, c->max_seq_len,
            c->channels, c->num_layers, c->padded_vocab_size);
    }
}

static size_t count_parameters(const GPT2Config *cfg) {
    TensorSpec specs[NUM_PARAMETER_TENSORS];
    parameter_specs(specs, cfg);
    return layout_specs(specs, NUM_PARAMETER_TENSORS);
}

static size_t count_activations(const GPT2Config *cfg, int B, int T) {
    TensorSpec specs[NUM_ACTIVATION_TENSORS];
    activation_specs(specs, cfg, B, T);
    return layout_specs(specs, NUM_ACTIVATION_TENSORS);
}

// the activation gradients' table: the activations' table with two entries
// holding nothing. att's gradient lives only inside attention_backward, one
// block of query rows at a time (its own scratch: see there), so the
// (L, B, NH, T, T) floats that att takes are not needed twice. And the
// logits' gradient is written over the logits (gpt2_backward), which
// nothing reads after it: the (B, T, Vp) floats are not needed twice either.
static void activation_grad_specs(TensorSpec *specs, const GPT2Config *cfg, int B, int T) {
    activation_specs(specs, cfg, B, T);
    for (int i = 0; i < NUM_ACTIVATION_TENSORS; i++) {
        if (specs[i].offset == offsetof(ActivationTensors, att) ||
            specs[i].offset == offsetof(ActivationTensors, logits)) {
            specs[i].shape[0] = 0;
        }
    }
}

static size_t count_activation_grads(const GPT2Config *cfg, int B, int T) {
    TensorSpec specs[NUM_ACTIVATION_TENSORS];
    activation_grad_specs(specs, cfg, B, T);
    return layout_specs(specs, NUM_ACTIVATION_TENSORS);
}

// LoRA fine-tuning: the base parameters are frozen (no gradients, no AdamW
// moments) and each targeted matrix W (out, in) of every block gets two
// trainable adapters, A (R, in) and B (out, R): W' = W + (alpha / R) B A
// (lora_forward). The trainable set is the adapters and, with train_norms,
// the base's biases and layernorm parameters (the tensors that do not decay).
// A starts uniform in +-1/sqrt(in) (PEFT's default), B at 0, so at step 0
// the model is exactly the base model.
typedef enum { LORA_QKV, LORA_ATTPROJ, LORA_FC, LORA_FCPROJ, LORA_NUM_TARGETS } LoraTarget;
static const char *const lora_target_names[LORA_NUM_TARGETS] = {"qkv", "attproj", "fc", "fcproj"};
#define LORA_ALL_TARGETS ((1u << LORA_NUM_TARGETS) - 1)

typedef struct {
    int rank;          // R; 0 = no LoRA: every parameter trains
    float alpha;       // the update is scaled by alpha / R
    unsigned targets;  // bit t set: matrix t (LoraTarget) of every block has adapters
    int train_norms;   // 1: the biases and layernorm parameters train too
} LoraConfig;

// in and out channels of target t's matrix (out, in)
static void lora_target_dims(const GPT2Config *cfg, int t, int *in, int *out) {
    int C = cfg->channels;
    static const int in_mult[LORA_NUM_TARGETS] = {1, 1, 1, 4}, out_mult[LORA_NUM_TARGETS] = {3, 1, 4, 1};
    *in = in_mult[t] * C;
    *out = out_mult[t] * C;
}

typedef struct {
    float *a[LORA_NUM_TARGETS];  // (L, R, in) adapter A of target t; NULL when not targeted
    float *b[LORA_NUM_TARGETS];  // (L, out, R) adapter B
} LoraTensors;

typedef struct {
    float *h[LORA_NUM_TARGETS];  // (L, B, T, R) scale * A x of target t, saved for the backward
    float *dh;                   // (B, T, R) scratch of lora_backward
} LoraActs;

#define LORA_MAX_TRAINABLE (2 * LORA_NUM_TARGETS + NUM_PARAMETER_TENSORS)
#define LORA_MAX_ACTS (LORA_NUM_TARGETS + 1)

// the trainable table: the adapters of each target (A, then B), then with
// train_norms every base tensor that does not decay (biases, layernorms).
// base[k] is the param_specs index of entry k, or -1 for an adapter, whose
// offset is into LoraTensors. Returns the number of entries.
static int lora_specs(TensorSpec *specs, int *base, const GPT2Config *cfg, const LoraConfig *lc) {
    static const char *const names[LORA_NUM_TARGETS][2] = {
        {"qkv_lora_a", "qkv_lora_b"}, {"attproj_lora_a", "attproj_lora_b"},
        {"fc_lora_a", "fc_lora_b"}, {"fcproj_lora_a", "fcproj_lora_b"}};
    size_t L = cfg->num_layers, R = lc->rank;
    int n = 0;
    for (int t = 0; t < LORA_NUM_TARGETS; t++) {
        if (!(lc->targets & (1u << t))) { continue; }
        int in, out;
        lora_target_dims(cfg, t, &in, &out);
        TensorSpec a = {names[t][0], offsetof(LoraTensors, a) + t * sizeof(float *), 3,
                        {L, R, (size_t)in}, 1, INIT_NONE, 0};
        TensorSpec b = {names[t][1], offsetof(LoraTensors, b) + t * sizeof(float *), 3,
                        {L, (size_t)out, R}, 1, INIT_ZEROS, 0};
        base[n] = -1;
        specs[n++] = a;
        base[n] = -1;
        specs[n++] = b;
    }
    if (lc->train_norms) {
        TensorSpec p[NUM_PARAMETER_TENSORS];
        parameter_specs(p, cfg);
        for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
            if (spec_decays(&p[i])) { continue; }
            base[n] = i;
            specs[n++] = p[i];
        }
    }
    return n;
}

// the LoRA activation table for batches of B x T: h of each target, and dh
static int lora_act_specs(TensorSpec *specs, const GPT2Config *cfg, const LoraConfig *lc, int B, int T) {
    static const char *const names[LORA_NUM_TARGETS] = {"qkv_lora_h", "attproj_lora_h", "fc_lora_h",
                                                        "fcproj_lora_h"};
    size_t L = cfg->num_layers, R = lc->rank;
    int n = 0;
    for (int t = 0; t < LORA_NUM_TARGETS; t++) {
        if (!(lc->targets & (1u << t))) { continue; }
        TensorSpec h = {names[t], offsetof(LoraActs, h) + t * sizeof(float *), 4,
                        {L, (size_t)B, (size_t)T, R}, 1, INIT_NONE, 0};
        specs[n++] = h;
    }
    TensorSpec dh = {"lora_dh", offsetof(LoraActs, dh), 3, {(size_t)B, (size_t)T, R}, 0, INIT_NONE, 0};
    specs[n++] = dh;
    return n;
}

// the bytes a LoRA run allocates, per group, from the same tables as lora_init
// and gpt2_alloc_activations: what the bill prints, and test_train checks
// against what is allocated
typedef struct {
    size_t num_trainable;           // adapters, plus the biases and layernorms with train_norms
    size_t base_param_bytes;        // the frozen base model (its trainable norms included)
    size_t adapter_bytes;           // A and B of every targeted matrix
    size_t grad_bytes;              // gradients of the trainable set only
    size_t adam_bytes;              // AdamW m and v of the trainable set only
    size_t act_bytes, act_grad_bytes;  // the base model's activations and their gradients
    size_t lora_act_bytes;          // h of every targeted matrix, and the dh scratch
    size_t other_bytes;             // token buffers, norm partial sums
    size_t total_bytes;
} LoraBill;

static LoraBill lora_bill(const GPT2Config *cfg, const LoraConfig *lc, int B, int T) {
    TensorSpec specs[LORA_MAX_TRAINABLE], acts[LORA_MAX_ACTS];
    int base[LORA_MAX_TRAINABLE];
    int n = lora_specs(specs, base, cfg, lc);
    LoraBill b;
    memset(&b, 0, sizeof(b));
    b.num_trainable = layout_specs(specs, n);
    for (int k = 0; k < n; k++) {
        if (base[k] < 0) { b.adapter_bytes += spec_numel(&specs[k]) * sizeof(float); }
    }
    b.base_param_bytes = count_parameters(cfg) * sizeof(float);
    b.grad_bytes = b.num_trainable * sizeof(float);
    b.adam_bytes = 2 * b.num_trainable * sizeof(float);
    b.act_bytes = count_activations(cfg, B, T) * sizeof(float);
    b.act_grad_bytes = count_activation_grads(cfg, B, T) * sizeof(float);
    b.lora_act_bytes = layout_specs(acts, lora_act_specs(acts, cfg, lc, B, T)) * sizeof(float);
    b.other_bytes = (b.num_trainable + NORM_CHUNK - 1) / NORM_CHUNK * sizeof(double) +
                    2 * (size_t)B * T * sizeof(int);
    b.total_bytes = b.base_param_bytes + b.adapter_bytes + b.grad_bytes + b.adam_bytes + b.act_bytes +
                    b.act_grad_bytes + b.lora_act_bytes + b.other_bytes;
    return b;
}

// what LoRA adds to a GPT2: the config, the trainable table and its memory
typedef struct {
    LoraConfig config;            // config.rank == 0: LoRA is off
    float scale;                  // alpha / R
    TensorSpec specs[LORA_MAX_TRAINABLE];
    int base[LORA_MAX_TRAINABLE]; // see lora_specs
    int num_specs;
    size_t num_adapters;          // elements of the adapters: the first entries of specs
    size_t num_trainable;         // elements of the whole trainable set
    LoraTensors w;                // the adapters
    LoraTensors g;                // their gradients
    float *w_memory;              // (num_adapters)
    float *g_memory;              // (num_trainable) gradients of the trainable set, table order
    float *m_memory, *v_memory;   // (num_trainable) AdamW moments
    LoraActs acts;
    float *acts_memory;
    size_t num_acts;
} LoraState;

// Where a step's time goes (--profile): the model's functions end every
// operation with lap(), which adds the time since the previous lap to that
// operation's total, so the totals add up to the whole step. The run turns
// the stopwatch on for its training steps only (not validation or sampling);
// a lap costs one clock read, about 20 ns, against ~200 laps in a step of
// milliseconds or more. train_profile.h prints the table.
typedef enum {
    OP_MATMUL_FORWARD, OP_MATMUL_BACKWARD, OP_ATTENTION_FORWARD, OP_ATTENTION_BACKWARD,
    OP_LAYERNORM, OP_GELU, OP_RESIDUAL, OP_ENCODER, OP_CLASSIFIER, OP_ZERO_GRAD, OP_NORM,
    OP_ADAMW, OP_COMM, OP_OTHER, NUM_OPS
} Op;

typedef struct {
    int running;             // laps count only while this is set
    double last;             // the clock at the previous lap
    double seconds[NUM_OPS]; // time per operation since the last reset
    int steps;               // training steps timed since the last reset
} Stopwatch;

static void lap(Stopwatch *sw, Op op) {
    if (!sw->running) { return; }
    double now = now_seconds();
    sw->seconds[op] += now - sw->last;
    sw->last = now;
}

typedef struct {
    GPT2Config config;
    TensorSpec param_specs[NUM_PARAMETER_TENSORS];
    size_t num_parameters;
    ParameterTensors params;    // the weights
    ParameterTensors grads;     // their gradients, same layout
    float *params_memory;
    float *grads_memory;
    int grads_stale;            // 1: the next backward writes the gradients instead of adding
    float *m_memory;            // AdamW first moment of parameters [opt_start, opt_end)
    float *v_memory;            // AdamW second moment, the same
    size_t opt_start, opt_end;  // all of them, or with ZeRO-1 this rank's shard
    double *norm_partials;      // one partial sum of squares per NORM_CHUNK gradients
    // activations, allocated for at most B_max sequences of T_max tokens
    int B_max, T_max;
    size_t num_activations;
    ActivationTensors acts;
    ActivationTensors grads_acts;
    float *acts_memory;
    float *grads_acts_memory;
    int *inputs;                // (B_max, T_max) the last forward's tokens
    int *targets;               // (B_max, T_max) the last loss's targets
    int B, T;                   // shape of the last forward
    LoraState lora;             // LoRA fine-tuning (lora.config.rank > 0): the base is frozen
    size_t bytes_allocated;     // everything above, for the bill check
    Stopwatch sw;               // --profile: time per operation (not allocated)
} GPT2;

// ---- LoRA: the trainable set beside the frozen model (see LoraConfig)

#define LORA_A_INIT_GAIN 1.0f  // A ~ U(-g/sqrt(in), g/sqrt(in)): kaiming_uniform(a=sqrt(5)), as PEFT

// the values of trainable entry k: an adapter, or a base tensor in params_memory
static float *lora_values(GPT2 *model, int k) {
    const LoraState *s = &model->lora;
    if (s->base[k] < 0) { return s->w_memory + s->specs[k].start; }
    return model->params_memory + model->param_specs[s->base[k]].start;
}

// the bitmask of a comma-separated list of targets ("qkv,fc"); exits on an unknown one
static unsigned lora_parse_targets(const char *list) {
    unsigned mask = 0;
    const char *p = list;
    while (*p != '\0') {
        size_t len = strcspn(p, ",");
        int found = -1;
        for (int t = 0; t < LORA_NUM_TARGETS; t++) {
            const char *name = lora_target_names[t];
            if (strlen(name) == len && strncmp(p, name, len) == 0) { found = t; }
        }
        if (found < 0) {
            die("--lora-targets: unknown target '%.*s' in '%s' (the targets are qkv, attproj, fc, "
                "fcproj, comma-separated)", (int)len, p, list);
        }
        mask |= 1u << found;
        p += len;
        if (*p == ',') { p++; }
    }
    if (mask == 0) { die("--lora-targets '%s' names no target (qkv, attproj, fc, fcproj)", list); }
    return mask;
}

// a LoRA config must fit the model: R at most min(in, out) of every targeted matrix
static void lora_check(const GPT2Config *cfg, const LoraConfig *lc) {
    if (lc->rank <= 0) { die("--lora %d: the rank R must be positive", lc->rank); }
    if (lc->targets == 0 || (lc->targets & ~LORA_ALL_TARGETS) != 0) { die("--lora: bad target set"); }
    if (!(lc->alpha > 0.0f) || !isfinite(lc->alpha)) {
        die("--lora-alpha %g must be positive", lc->alpha);
    }
    for (int t = 0; t < LORA_NUM_TARGETS; t++) {
        if (!(lc->targets & (1u << t))) { continue; }
        int in, out;
        lora_target_dims(cfg, t, &in, &out);
        int most = in < out ? in : out;
        if (lc->rank > most) {
            die("--lora %d: the rank is larger than the %s matrix (%d x %d) allows; use at most %d",
                lc->rank, lora_target_names[t], out, in, most);
        }
    }
}

// freezes the base model: frees its gradients and AdamW moments (the memory
// LoRA saves); its parameters stay
static void gpt2_freeze(GPT2 *model) {
    size_t n = model->num_parameters;
    free(model->grads_memory);
    free(model->m_memory);
    free(model->v_memory);
    free(model->norm_partials);
    model->bytes_allocated -= (n + 2 * (model->opt_end - model->opt_start)) * sizeof(float) +
                              (n + NORM_CHUNK - 1) / NORM_CHUNK * sizeof(double);
    model->grads_memory = model->m_memory = model->v_memory = NULL;
    model->norm_partials = NULL;
    memset(&model->grads, 0, sizeof(model->grads));
    model->opt_start = model->opt_end = 0;
}

// LoRA on a frozen model (gpt2_freeze first): the trainable table, its
// memory (adapters, gradients, m, v), A drawn from rng, B zero; the
// gradients of trainable base tensors point into the trainable set's
static void lora_init(GPT2 *model, const LoraConfig *lc, Rng *rng) {
    lora_check(&model->config, lc);
    LoraState *s = &model->lora;
    memset(s, 0, sizeof(*s));
    s->config = *lc;
    s->scale = lc->alpha / (float)lc->rank;
    s->num_specs = lora_specs(s->specs, s->base, &model->config, lc);
    s->num_trainable = layout_specs(s->specs, s->num_specs);
    for (int k = 0; k < s->num_specs; k++) {
        if (s->base[k] < 0) { s->num_adapters = s->specs[k].start + spec_numel(&s->specs[k]); }
    }
    size_t n = s->num_trainable;
    s->w_memory = (float *)callocCheck(s->num_adapters, sizeof(float));
    s->g_memory = (float *)callocCheck(n, sizeof(float));
    s->m_memory = (float *)callocCheck(n, sizeof(float));
    s->v_memory = (float *)callocCheck(n, sizeof(float));
    size_t chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    model->norm_partials = (double *)callocCheck(chunks, sizeof(double));
    for (int k = 0; k < s->num_specs; k++) {
        const TensorSpec *sp = &s->specs[k];
        if (s->base[k] < 0) {
            *(float **)((char *)&s->w + sp->offset) = s->w_memory + sp->start;
            *(float **)((char *)&s->g + sp->offset) = s->g_memory + sp->start;
        } else {
            *(float **)((char *)&model->grads + sp->offset) = s->g_memory + sp->start;
        }
    }
    for (int t = 0; t < LORA_NUM_TARGETS; t++) {
        if (!(lc->targets & (1u << t))) { continue; }
        int in, out;
        lora_target_dims(&model->config, t, &in, &out);
        float bound = LORA_A_INIT_GAIN / sqrtf((float)in);
        size_t na = (size_t)model->config.num_layers * lc->rank * in;
        for (size_t i = 0; i < na; i++) { s->w.a[t][i] = bound * (2.0f * rng_uniform(rng) - 1.0f); }
    }
    model->bytes_allocated += (s->num_adapters + 3 * n) * sizeof(float) + chunks * sizeof(double);
}

// the LoRA activations for batches of up to B x T (gpt2_alloc_activations calls it)
static void lora_alloc_activations(GPT2 *model, int B, int T) {
    LoraState *s = &model->lora;
    TensorSpec specs[LORA_MAX_ACTS];
    int k = lora_act_specs(specs, &model->config, &s->config, B, T);
    s->num_acts = layout_specs(specs, k);
    s->acts_memory = (float *)callocCheck(s->num_acts, sizeof(float));
    point_tensors(&s->acts, specs, k, s->acts_memory);
    model->bytes_allocated += s->num_acts * sizeof(float);
}

static void lora_free(GPT2 *model) {
    LoraState *s = &model->lora;
    free(s->w_memory);
    free(s->g_memory);
    free(s->m_memory);
    free(s->v_memory);
    free(s->acts_memory);
    memset(s, 0, sizeof(*s));
}

// lora_forward of target t in layer l, when t is targeted: adds into out
static void lora_forward_at(GPT2 *model, int t, int l, float *out, const float *inp, int B, int T) {
    LoraState *s = &model->lora;
    if (s->config.rank == 0 || !(s->config.targets & (1u << t))) { return; }
    int in, oc, R = s->config.rank;
    lora_target_dims(&model->config, t, &in, &oc);
    size_t BT = (size_t)B * T;
    lora_forward(out, s->acts.h[t] + l * BT * R, inp, s->w.a[t] + (size_t)l * R * in,
                 s->w.b[t] + (size_t)l * oc * R, s->scale, B, T, in, oc, R);
}

// lora_backward of target t in layer l, when t is targeted: adds into dinp and the adapters' gradients
static void lora_backward_at(GPT2 *model, int t, int l, float *dinp, const float *dout,
                             const float *inp, int B, int T) {
    LoraState *s = &model->lora;
    if (s->config.rank == 0 || !(s->config.targets & (1u << t))) { return; }
    int in, oc, R = s->config.rank;
    lora_target_dims(&model->config, t, &in, &oc);
    size_t BT = (size_t)B * T, la = (size_t)l * R * in, lb = (size_t)l * oc * R;
    lora_backward(dinp, s->g.a[t] + la, s->g.b[t] + lb, s->acts.dh, dout, inp,
                  s->acts.h[t] + l * BT * R, s->w.a[t] + la, s->w.b[t] + lb, s->scale, B, T, in,
                  oc, R);
}

// allocates parameters, gradients and AdamW moments (all zero) for a config
static void gpt2_init(GPT2 *model, const GPT2Config *cfg) {
    memset(model, 0, sizeof(*model));
    check_config(cfg, "model");
    model->config = *cfg;
    parameter_specs(model->param_specs, cfg);
    size_t n = layout_specs(model->param_specs, NUM_PARAMETER_TENSORS);
    model->num_parameters = n;
    model->params_memory = (float *)callocCheck(n, sizeof(float));
    model->grads_memory = (float *)callocCheck(n, sizeof(float));
    model->m_memory = (float *)callocCheck(n, sizeof(float));
    model->v_memory = (float *)callocCheck(n, sizeof(float));
    model->opt_start = 0;
    model->opt_end = n;
    size_t chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    model->norm_partials = (double *)callocCheck(chunks, sizeof(double));
    point_tensors(&model->params, model->param_specs, NUM_PARAMETER_TENSORS, model->params_memory);
    point_tensors(&model->grads, model->param_specs, NUM_PARAMETER_TENSORS, model->grads_memory);
    model->bytes_allocated = 4 * n * sizeof(float) + chunks * sizeof(double);
}

// allocates activations and their gradients for batches of up to B x T tokens
static void gpt2_alloc_activations(GPT2 *model, int B, int T) {
    if (T > model->config.max_seq_len) {
        die("sequence length T=%d is longer than the model's maxT=%d; use -t %d or less", T,
            model->config.max_seq_len, model->config.max_seq_len);
    }
    TensorSpec specs[NUM_ACTIVATION_TENSORS], grad_specs[NUM_ACTIVATION_TENSORS];
    activation_specs(specs, &model->config, B, T);
    activation_grad_specs(grad_specs, &model->config, B, T);
    size_t n = layout_specs(specs, NUM_ACTIVATION_TENSORS);
    size_t n_grads = layout_specs(grad_specs, NUM_ACTIVATION_TENSORS);
    model->B_max = B;
    model->T_max = T;
    model->num_activations = n;
    model->acts_memory = (float *)callocCheck(n, sizeof(float));
    model->grads_acts_memory = (float *)callocCheck(n_grads, sizeof(float));
    point_tensors(&model->acts, specs, NUM_ACTIVATION_TENSORS, model->acts_memory);
    point_tensors(&model->grads_acts, grad_specs, NUM_ACTIVATION_TENSORS, model->grads_acts_memory);
    model->grads_acts.att = NULL;  // (no such tensors: see activation_grad_specs)
    model->grads_acts.logits = NULL;
    model->inputs = (int *)callocCheck((size_t)B * T, sizeof(int));
    model->targets = (int *)callocCheck((size_t)B * T, sizeof(int));
    model->bytes_allocated += (n + n_grads) * sizeof(float) + 2 * (size_t)B * T * sizeof(int);
    if (model->lora.config.rank > 0) { lora_alloc_activations(model, B, T); }
}

static void gpt2_free(GPT2 *model) {
    free(model->params_memory);
    free(model->grads_memory);
    free(model->m_memory);
    free(model->v_memory);
    free(model->norm_partials);
    free(model->acts_memory);
    free(model->grads_acts_memory);
    free(model->inputs);
    free(model->targets);
    lora_free(model);
    memset(model, 0, sizeof(*model));
}

// ZeRO-1: keep the AdamW moments of parameters [start, end) only
static void gpt2_shard_optimizer(GPT2 *model, size_t start, size_t end) {
    size_t n = model->num_parameters;
    free(model->m_memory);
    free(model->v_memory);
    model->m_memory = (float *)callocCheck(end - start, sizeof(float));
    model->v_memory = (float *)callocCheck(end - start, sizeof(float));
    model->opt_start = start;
    model->opt_end = end;
    model->bytes_allocated -= 2 * (n - (end - start)) * sizeof(float);
}

// GPT-2's initialisation: weights ~ N(0, 0.02), the two projections that feed
// the residual stream ~ N(0, 0.02 / sqrt(2L)) (each block adds two of them, so
// the stream's variance stays put with depth), layernorm gains 1, biases 0.
// The padding rows of wte stay 0.
static void gpt2_init_random(GPT2 *model, Rng *rng) {
    const GPT2Config *c = &model->config;
    float residual_std = INIT_STD / sqrtf(2.0f * c->num_layers);
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        const TensorSpec *s = &model->param_specs[i];
        float *p = model->params_memory + s->start;
        size_t n = spec_numel(s);
        if (p == model->params.wte) { n = (size_t)c->vocab_size * c->channels; }
        for (size_t j = 0; j < spec_numel(s); j++) {
            float value = 0.0f;
            if (j < n) {
                switch (s->init) {
                    case INIT_ONES: value = 1.0f; break;
                    case INIT_NORMAL: value = INIT_STD * rng_normal(rng); break;
                    case INIT_NORMAL_RESIDUAL: value = residual_std * rng_normal(rng); break;
                    default: value = 0.0f; break;
                }
            }
            p[j] = value;
        }
    }
}

// the pointers of one layer into the parameter (or gradient) tensors
typedef struct {
    float *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb;
    float *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} LayerParams;

// base + offset, or NULL for a tensor that is not there (a frozen one's gradient)
static float *offset_or_null(float *base, size_t offset) {
    return base != NULL ? base + offset : NULL;
}

static LayerParams layer_params(const ParameterTensors *p, const GPT2Config *cfg, int l) {
    size_t C = cfg->channels;
    LayerParams lp;
    lp.ln1w = offset_or_null(p->ln1w, l * C);
    lp.ln1b = offset_or_null(p->ln1b, l * C);
    lp.qkvw = offset_or_null(p->qkvw, l * 3 * C * C);
    lp.qkvb = offset_or_null(p->qkvb, l * 3 * C);
    lp.attprojw = offset_or_null(p->attprojw, l * C * C);
    lp.attprojb = offset_or_null(p->attprojb, l * C);
    lp.ln2w = offset_or_null(p->ln2w, l * C);
    lp.ln2b = offset_or_null(p->ln2b, l * C);
    lp.fcw = offset_or_null(p->fcw, l * 4 * C * C);
    lp.fcb = offset_or_null(p->fcb, l * 4 * C);
    lp.fcprojw = offset_or_null(p->fcprojw, l * C * 4 * C);
    lp.fcprojb = offset_or_null(p->fcprojb, l * C);
    return lp;
}

// the pointers of one layer into the activations (or their gradients), for
// the batch shape B x T of the current forward (layers are packed at that
// shape, which fits inside the B_max x T_max allocation)
typedef struct {
    float *ln1, *ln1_mean, *ln1_rstd, *qkv, *atty, *att, *attproj, *residual2;
    float *ln2, *ln2_mean, *ln2_rstd, *fch, *fch_gelu, *fcproj, *residual3;
} LayerActs;

static LayerActs layer_acts(const ActivationTensors *a, const GPT2Config *cfg, int l, int B, int T) {
    size_t BT = (size_t)B * T, C = cfg->channels, NH = cfg->num_heads;
    LayerActs la;
    la.ln1 = a->ln1 + l * BT * C;
    la.ln1_mean = a->ln1_mean + l * BT;
    la.ln1_rstd = a->ln1_rstd + l * BT;
    la.qkv = a->qkv + l * BT * 3 * C;
    la.atty = a->atty + l * BT * C;
    la.att = a->att + l * BT * NH * T;
    la.attproj = a->attproj + l * BT * C;
    la.residual2 = a->residual2 + l * BT * C;
    la.ln2 = a->ln2 + l * BT * C;
    la.ln2_mean = a->ln2_mean + l * BT;
    la.ln2_rstd = a->ln2_rstd + l * BT;
    la.fch = a->fch + l * BT * 4 * C;
    la.fch_gelu = a->fch_gelu + l * BT * 4 * C;
    la.fcproj = a->fcproj + l * BT * C;
    la.residual3 = a->residual3 + l * BT * C;
    return la;
}

static void check_tokens(const int *tokens, size_t n, int V, const char *what) {
    for (size_t i = 0; i < n; i++) {
        if (tokens[i] < 0 || tokens[i] >= V) {
            die("%s: token id %d at position %zu is outside the vocabulary [0, %d)", what,
                tokens[i], i, V);
        }
    }
}

// logits (B, T, Vp) of the model for inputs (B, T); the logits are in
// model->acts.logits. Any B <= B_max and T <= T_max.
static void gpt2_forward(GPT2 *model, const int *inputs, int B, int T) {
    const GPT2Config *cfg = &model->config;
    if (model->acts_memory == NULL || B > model->B_max || T > model->T_max || B < 1 || T < 1) {
        die("gpt2_forward: batch %dx%d does not fit the activations (%dx%d)", B, T, model->B_max,
            model->T_max);
    }
    int C = cfg->channels, NH = cfg->num_heads, L = cfg->num_layers, Vp = cfg->padded_vocab_size;
    size_t BT = (size_t)B * T;
    check_tokens(inputs, BT, cfg->vocab_size, "inputs");
    memcpy(model->inputs, inputs, BT * sizeof(int));
    model->B = B;
    model->T = T;
    ParameterTensors *p = &model->params;
    ActivationTensors *a = &model->acts;
    Stopwatch *sw = &model->sw;  // lap(sw, OP) after each operation: --profile
    lap(sw, OP_OTHER);           // (the time since the last lap: the data, the loop)
    encoder_forward(a->encoded, inputs, p->wte, p->wpe, B, T, C);
    lap(sw, OP_ENCODER);
    for (int l = 0; l < L; l++) {
        LayerParams lp = layer_params(p, cfg, l);
        LayerActs la = layer_acts(a, cfg, l, B, T);
        const float *residual = l == 0 ? a->encoded : layer_acts(a, cfg, l - 1, B, T).residual3;
        layernorm_forward(la.ln1, la.ln1_mean, la.ln1_rstd, residual, lp.ln1w, lp.ln1b, B, T, C);
        lap(sw, OP_LAYERNORM);
        matmul_forward(la.qkv, la.ln1, lp.qkvw, lp.qkvb, B, T, C, 3 * C);
        // LoRA (a no-op without --lora): += the adapters' term, timed as matmul
        lora_forward_at(model, LORA_QKV, l, la.qkv, la.ln1, B, T);
        lap(sw, OP_MATMUL_FORWARD);
        attention_forward(la.atty, la.att, la.qkv, B, T, C, NH);
        lap(sw, OP_ATTENTION_FORWARD);
        matmul_forward(la.attproj, la.atty, lp.attprojw, lp.attprojb, B, T, C, C);
        lora_forward_at(model, LORA_ATTPROJ, l, la.attproj, la.atty, B, T);
        lap(sw, OP_MATMUL_FORWARD);
        residual_forward(la.residual2, residual, la.attproj, BT * C);
        lap(sw, OP_RESIDUAL);
        layernorm_forward(la.ln2, la.ln2_mean, la.ln2_rstd, la.residual2, lp.ln2w, lp.ln2b, B, T, C);
        lap(sw, OP_LAYERNORM);
        matmul_forward(la.fch, la.ln2, lp.fcw, lp.fcb, B, T, C, 4 * C);
        lora_forward_at(model, LORA_FC, l, la.fch, la.ln2, B, T);
        lap(sw, OP_MATMUL_FORWARD);
        gelu_forward(la.fch_gelu, la.fch, BT * 4 * C);
        lap(sw, OP_GELU);
        matmul_forward(la.fcproj, la.fch_gelu, lp.fcprojw, lp.fcprojb, B, T, 4 * C, C);
        lora_forward_at(model, LORA_FCPROJ, l, la.fcproj, la.fch_gelu, B, T);
        lap(sw, OP_MATMUL_FORWARD);
        residual_forward(la.residual3, la.residual2, la.fcproj, BT * C);
        lap(sw, OP_RESIDUAL);
    }
    const float *last = layer_acts(a, cfg, L - 1, B, T).residual3;
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, last, p->lnfw, p->lnfb, B, T, C);
    lap(sw, OP_LAYERNORM);
    // the LM head is the token embedding: logits = lnf @ wte^T (padding rows of wte are 0)
    matmul_forward(a->logits, a->lnf, p->wte, NULL, B, T, C, Vp);
    lap(sw, OP_MATMUL_FORWARD);
}

// mean cross-entropy of the last forward's logits against targets (B, T);
// also leaves each row's lmax and linv and the per-token losses for gpt2_backward
static float gpt2_loss(GPT2 *model, const int *targets) {
    const GPT2Config *cfg = &model->config;
    int B = model->B, T = model->T;
    size_t BT = (size_t)B * T;
    check_tokens(targets, BT, cfg->vocab_size, "targets");
    memcpy(model->targets, targets, BT * sizeof(int));
    ActivationTensors *a = &model->acts;
    softmax_crossentropy_forward(a->losses, a->lmax, a->linv, a->logits, targets, B, T, cfg->vocab_size,
                                 cfg->padded_vocab_size);
    double sum = 0.0;  // in order, in double: the same value for any thread count
    for (size_t i = 0; i < BT; i++) { sum += a->losses[i]; }
    lap(&model->sw, OP_CLASSIFIER);
    return (float)(sum / (double)BT);
}

// ----------------------------------------------------------------------------
// 4. backward and AdamW

// x[0:n] = 0 on every thread, each zeroing its own share in one memset
// (one thread's memset wrote the 163 MB of GPT-2 124M's activation gradients
// at B 4, T 64 at about half the rate two threads reach)
static void zero_floats(float *x, size_t n) {
    #pragma omp parallel
    {
        const size_t t = (size_t)thread_index(), threads = (size_t)num_threads();
        memset(x + n * t / threads, 0, (n * (t + 1) / threads - n * t / threads) * sizeof(float));
    }
}

// LoRA: zeroes the trainable set's gradients
static void lora_zero_grad(GPT2 *model) {
    zero_floats(model->lora.g_memory, model->lora.num_trainable);
    lap(&model->sw, OP_ZERO_GRAD);
}

// LoRA: the sum of squares of the trainable set's gradients, in fixed chunks
// summed in double and then in order, as gpt2_grad_sumsq (any thread count,
// the same bits)
static double lora_grad_sumsq(GPT2 *model) {
    const LoraState *s = &model->lora;
    size_t n = s->num_trainable, chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    double *partial = model->norm_partials;
    #pragma omp parallel for
    for (size_t ch = 0; ch < chunks; ch++) {
        size_t stop = (ch + 1) * NORM_CHUNK < n ? (ch + 1) * NORM_CHUNK : n;
        double sum = 0.0;
        const float *g = s->g_memory;
        for (size_t i = ch * NORM_CHUNK; i < stop; i++) { sum += (double)g[i] * g[i]; }
        partial[ch] = sum;
    }
    double total = 0.0;
    for (size_t ch = 0; ch < chunks; ch++) { total += partial[ch]; }
    lap(&model->sw, OP_NORM);
    return total;
}

// starts a step's gradients at zero. Without LoRA, nothing is written here:
// the next gpt2_backward writes every parameter gradient instead of adding
// into it (its first product, layernorm or position into each tensor
// writes), which is the same sum as adding into zeros, without a pass over
// the 500 MB of GPT-2 124M's gradients (the issue's "first micro-step
// writes"; measured: that memset took 2-4% of a d12 B4 T64 step). Further
// backwards before the next zero_grad (gradient accumulation) add.
// LoRA: the trainable set is zeroed (its products only ever add).
static void gpt2_zero_grad(GPT2 *model) {
    if (model->lora.config.rank > 0) { lora_zero_grad(model); return; }  // LoRA: the trainable set
    model->grads_stale = 1;
    lap(&model->sw, OP_ZERO_GRAD);
}

// adds into the parameter gradients the gradient of loss_scale * sum of the
// per-token losses of the last gpt2_loss (writes them, the first backward
// after gpt2_zero_grad). loss_scale = 1/(B*T) gives the
// gradient of the mean loss; 1/(B*T*steps) averages over accumulation steps.
// With LoRA only the trainable set gets gradients (a frozen tensor's
// gradient pointer is NULL and its products are skipped); the activation
// gradients still flow through every layer. The logits are overwritten by
// their gradient (as train.cu's fused classifier does): run gpt2_forward
// again before reading them.
static void gpt2_backward(GPT2 *model, float loss_scale) {
    const GPT2Config *cfg = &model->config;
    int B = model->B, T = model->T;
    int C = cfg->channels, NH = cfg->num_heads, L = cfg->num_layers;
    int V = cfg->vocab_size, Vp = cfg->padded_vocab_size;
    size_t BT = (size_t)B * T;
    ParameterTensors *p = &model->params, *g = &model->grads;
    ActivationTensors *a = &model->acts, *ga = &model->grads_acts;
    Stopwatch *sw = &model->sw;
    lap(sw, OP_OTHER);
    const int first = model->grads_stale;  // write the parameter gradients (see gpt2_zero_grad)
    model->grads_stale = 0;
    if (first) {  // wpe's rows past T get no gradient from this backward: zeros
        zero_floats(g->wpe + (size_t)T * C, (size_t)(cfg->max_seq_len - T) * C);
    }
    // activation gradients are scratch for this one backward: start them at
    // 0, all but the last, the losses' gradients, set next (lmax's and
    // linv's, (B,T) each, are never used; dlogits has no place of its own)
    zero_floats(model->grads_acts_memory, (size_t)(ga->losses - model->grads_acts_memory));
    lap(sw, OP_ZERO_GRAD);
    for (size_t i = 0; i < BT; i++) { ga->losses[i] = loss_scale; }

    // dlogits written over the logits, which nothing needs after this line
    float *dlogits = a->logits;
    softmax_crossentropy_backward(dlogits, ga->losses, a->logits, a->lmax, a->linv, model->targets, B, T, V, Vp);
    lap(sw, OP_CLASSIFIER);
    matmul_backward(ga->lnf, g->wte, NULL, dlogits, a->lnf, p->wte, B, T, C, Vp, first);
    lap(sw, OP_MATMUL_BACKWARD);
    const float *last = layer_acts(a, cfg, L - 1, B, T).residual3;
    float *dlast = layer_acts(ga, cfg, L - 1, B, T).residual3;
    layernorm_backward(dlast, g->lnfw, g->lnfb, ga->lnf, last, p->lnfw, a->lnf_mean, a->lnf_rstd,
                       B, T, C, first);
    lap(sw, OP_LAYERNORM);
    for (int l = L - 1; l >= 0; l--) {
        LayerParams lp = layer_params(p, cfg, l), gp = layer_params(g, cfg, l);
        LayerActs la = layer_acts(a, cfg, l, B, T), gl = layer_acts(ga, cfg, l, B, T);
        const float *residual = l == 0 ? a->encoded : layer_acts(a, cfg, l - 1, B, T).residual3;
        float *dresidual = l == 0 ? ga->encoded : layer_acts(ga, cfg, l - 1, B, T).residual3;
        // the MLP half, last line of the forward first
        residual_backward(gl.residual2, gl.fcproj, gl.residual3, BT * C);
        lap(sw, OP_RESIDUAL);
        matmul_backward(gl.fch_gelu, gp.fcprojw, gp.fcprojb, gl.fcproj, la.fch_gelu, lp.fcprojw,
                        B, T, 4 * C, C, first);
        lora_backward_at(model, LORA_FCPROJ, l, gl.fch_gelu, gl.fcproj, la.fch_gelu, B, T);
        lap(sw, OP_MATMUL_BACKWARD);
        gelu_backward(gl.fch, la.fch, gl.fch_gelu, BT * 4 * C);
        lap(sw, OP_GELU);
        matmul_backward(gl.ln2, gp.fcw, gp.fcb, gl.fch, la.ln2, lp.fcw, B, T, C, 4 * C, first);
        lora_backward_at(model, LORA_FC, l, gl.ln2, gl.fch, la.ln2, B, T);
        lap(sw, OP_MATMUL_BACKWARD);
        layernorm_backward(gl.residual2, gp.ln2w, gp.ln2b, gl.ln2, la.residual2, lp.ln2w,
                           la.ln2_mean, la.ln2_rstd, B, T, C, first);
        lap(sw, OP_LAYERNORM);
        // the attention half
        residual_backward(dresidual, gl.attproj, gl.residual2, BT * C);
        lap(sw, OP_RESIDUAL);
        matmul_backward(gl.atty, gp.attprojw, gp.attprojb, gl.attproj, la.atty, lp.attprojw,
                        B, T, C, C, first);
        lora_backward_at(model, LORA_ATTPROJ, l, gl.atty, gl.attproj, la.atty, B, T);
        lap(sw, OP_MATMUL_BACKWARD);
        attention_backward(gl.qkv, gl.atty, la.qkv, la.att, B, T, C, NH);
        lap(sw, OP_ATTENTION_BACKWARD);
        matmul_backward(gl.ln1, gp.qkvw, gp.qkvb, gl.qkv, la.ln1, lp.qkvw, B, T, C, 3 * C, first);
        lora_backward_at(model, LORA_QKV, l, gl.ln1, gl.qkv, la.ln1, B, T);
        lap(sw, OP_MATMUL_BACKWARD);
        layernorm_backward(dresidual, gp.ln1w, gp.ln1b, gl.ln1, residual, lp.ln1w, la.ln1_mean,
                           la.ln1_rstd, B, T, C, first);
        lap(sw, OP_LAYERNORM);
    }
    // (wte: added into, after the classifier's weight gradient wrote it)
    if (g->wte != NULL) { encoder_backward(g->wte, g->wpe, ga->encoded, model->inputs, B, T, C, first); }
    lap(sw, OP_ENCODER);
}

// the sum of squares of gradients [start, end). Fixed chunks summed in
// double, then the chunk sums added in order: the same bits for any number of
// threads. Within a chunk, NORM_LANES running sums take every NORM_LANES-th
// element (lane j: elements j, j + 8, ...), so the additions vectorise instead
// of waiting on one another; the lanes are then added in order.
#define NORM_LANES 8
typedef double doublev __attribute__((vector_size(4 * sizeof(double))));
typedef float floatv4 __attribute__((vector_size(4 * sizeof(float))));
static double gpt2_grad_sumsq(GPT2 *model, size_t start, size_t end) {
    if (model->lora.config.rank > 0) { return lora_grad_sumsq(model); }  // LoRA: the trainable set
    size_t chunks = (end - start + NORM_CHUNK - 1) / NORM_CHUNK;
    const float *grads = model->grads_memory + start;
    double *partial = model->norm_partials;
    size_t n = end - start;
    #pragma omp parallel for
    for (size_t ch = 0; ch < chunks; ch++) {
        size_t i = ch * NORM_CHUNK;
        size_t stop = (ch + 1) * NORM_CHUNK < n ? (ch + 1) * NORM_CHUNK : n;
        // lanes 0-3 and 4-7 as two vectors of 4 doubles (vector extensions;
        // __builtin_convertvector widens 4 floats to 4 doubles)
        doublev lo = {0.0, 0.0, 0.0, 0.0}, hi = lo;
        for (; i + NORM_LANES <= stop; i += NORM_LANES) {
            floatv4 a, b;
            memcpy(&a, grads + i, sizeof(a));
            memcpy(&b, grads + i + 4, sizeof(b));
            doublev da = __builtin_convertvector(a, doublev), db = __builtin_convertvector(b, doublev);
            lo += da * da;
            hi += db * db;
        }
        double lanes[NORM_LANES];
        memcpy(lanes, &lo, sizeof(lo));
        memcpy(lanes + 4, &hi, sizeof(hi));
        for (; i < stop; i++) { lanes[0] += (double)grads[i] * grads[i]; }
        double s = 0.0;
        for (int j = 0; j < NORM_LANES; j++) { s += lanes[j]; }
        partial[ch] = s;
    }
    double total = 0.0;
    for (size_t ch = 0; ch < chunks; ch++) { total += partial[ch]; }
    lap(&model->sw, OP_NORM);
    return total;
}


// the factor that clips the global gradient norm to at most clip (0 = off)
static float clip_scale(float norm, float clip) {
    return clip > 0.0f && norm > clip ? clip / norm : 1.0f;
}

typedef struct {
    float lr;
    float beta1, beta2, eps;
    float weight_decay;
    float grad_scale;  // multiplies every gradient first: the clipping factor
    int t;             // 1-based step number, for the bias corrections
} AdamWArgs;

// AdamW over n parameters p with gradients g and moments m, v (the formula
// at gpt2_update); bc1, bc2 are the bias corrections 1 - beta^t. Threads own
// elements.
static void adamw_span(float *p, const float *g, float *m, float *v, size_t n, float wd,
                       const AdamWArgs *args, float bc1, float bc2) {
    #pragma omp parallel for
    for (size_t i = 0; i < n; i++) {
        float grad = g[i] * args->grad_scale;
        m[i] = args->beta1 * m[i] + (1.0f - args->beta1) * grad;
        v[i] = args->beta2 * v[i] + (1.0f - args->beta2) * grad * grad;
        float mhat = m[i] / bc1;
        float vhat = v[i] / bc2;
        p[i] -= args->lr * (mhat / (sqrtf(vhat) + args->eps) + wd * p[i]);
    }
}

// LoRA: gpt2_update's AdamW over the trainable set (adapters, and with
// train_norms the biases and layernorms), weight decay by the same rule
// (spec_decays: the adapters decay, being matrices)
static void lora_update(GPT2 *model, const AdamWArgs *args) {
    LoraState *s = &model->lora;
    float bc1 = (float)(1.0 - pow(args->beta1, (double)args->t));  // as gpt2_update's
    float bc2 = (float)(1.0 - pow(args->beta2, (double)args->t));
    for (int k = 0; k < s->num_specs; k++) {
        const TensorSpec *sp = &s->specs[k];
        float wd = spec_decays(sp) ? args->weight_decay : 0.0f;
        float *p = lora_values(model, k);
        const float *g = s->g_memory + sp->start;
        float *m = s->m_memory + sp->start, *v = s->v_memory + sp->start;
        size_t n = spec_numel(sp);
        adamw_span(p, g, m, v, n, wd, args, bc1, bc2);
    }
    lap(&model->sw, OP_ADAMW);
}

// AdamW, with decoupled weight decay on the matrices only (spec_decays):
//   g = grad * grad_scale
//   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2
//   p -= lr * ( m / (1 - beta1^t) / (sqrt(v / (1 - beta2^t)) + eps) + wd * p )
// Only parameters [opt_start, opt_end) are updated (all, unless ZeRO-1).
static void gpt2_update(GPT2 *model, const AdamWArgs *args) {
    if (model->lora.config.rank > 0) { lora_update(model, args); return; }  // LoRA: the trainable set
    float bc1 = (float)(1.0 - pow(args->beta1, args->t));
    float bc2 = (float)(1.0 - pow(args->beta2, args->t));
    for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) {
        const TensorSpec *s = &model->param_specs[k];
        // the part of this tensor inside [opt_start, opt_end)
        size_t lo = s->start > model->opt_start ? s->start : model->opt_start;
        size_t hi = s->start + spec_numel(s) < model->opt_end ? s->start + spec_numel(s)
                                                              : model->opt_end;
        if (lo >= hi) { continue; }
        float wd = spec_decays(s) ? args->weight_decay : 0.0f;
        float *p = model->params_memory + lo;
        const float *g = model->grads_memory + lo;
        float *m = model->m_memory + (lo - model->opt_start);
        float *v = model->v_memory + (lo - model->opt_start);
        size_t n = hi - lo;
        adamw_span(p, g, m, v, n, wd, args, bc1, bc2);
    }
    lap(&model->sw, OP_ADAMW);
}

// LoRA: folds the adapters into the base, W += scale * B A for every targeted
// matrix of every layer, and ends LoRA: the model is then a plain model whose
// logits are the LoRA model's (up to float rounding), ready for gpt2_save
static void lora_merge(GPT2 *model) {
    LoraState *s = &model->lora;
    const GPT2Config *cfg = &model->config;
    float *weights[LORA_NUM_TARGETS] = {model->params.qkvw, model->params.attprojw,
                                        model->params.fcw, model->params.fcprojw};
    int R = s->config.rank;
    for (int t = 0; t < LORA_NUM_TARGETS; t++) {
        if (!(s->config.targets & (1u << t))) { continue; }
        int in, out;
        lora_target_dims(cfg, t, &in, &out);
        float *scaled = (float *)mallocCheck((size_t)out * R * sizeof(float));
        for (int l = 0; l < cfg->num_layers; l++) {
            const float *b = s->w.b[t] + (size_t)l * out * R;
            for (size_t i = 0; i < (size_t)out * R; i++) { scaled[i] = s->scale * b[i]; }
            // W (out, in) += (scale B) (out, R) @ A (R, in)
            matmul_accumulate(weights[t] + (size_t)l * out * in, (size_t)in, NULL, scaled, (size_t)R, 1,
                              s->w.a[t] + (size_t)l * R * in, (size_t)in, 1, out, in, R);
        }
        free(scaled);
    }
    s->config.rank = 0;  // the forward no longer adds the adapters
}

// ----------------------------------------------------------------------------
// The model ends here. The companions below are not about how training works:
// reading and writing files, the command line, the bill, MPI and generation.

// the tokenizer library (decoding samples, encoding --prompt); train.c does
// not call all of it
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "tokenizer.h"
#pragma GCC diagnostic pop
#include "train_mpi.h"
#include "train_files.h"
#include "train_flags.h"
#include "train_bill.h"
#include "train_profile.h"
#include "train_generate.h"

// ----------------------------------------------------------------------------
// 5. the training run
//
// the backend: what the run loop asks of the model. train.c has the CPU one
// below; train.cu plugs in its CUDA one. run->model always holds the config
// and, on the host, the parameters and this rank's AdamW moments (the CPU
// backend computes on them; a GPU backend copies them before a checkpoint).

typedef struct Run Run;

typedef struct Backend {
    const char *name;
    // the host model exists with its parameters: allocate the rest for
    // run->B_local x cfg.T tokens per micro-step
    void (*setup)(Run *run);
    void (*zero_grad)(Run *run);
    // forward, loss and backward of B x T tokens, gradients accumulated with
    // loss_scale per token; returns their mean loss
    float (*micro_step)(Run *run, const int *inputs, const int *targets, int B, int T,
                        float loss_scale);
    // sums the gradients over ranks (with ZeRO-1 only this rank's shard)
    void (*reduce_grads)(Run *run);
    // the sum of squares of the reduced gradient over [opt_start, opt_end)
    double (*grad_sumsq)(Run *run);
    // AdamW over [opt_start, opt_end); afterwards every rank has every parameter
    void (*update)(Run *run, const AdamWArgs *args);
    float (*eval_loss)(Run *run, const int *inputs, const int *targets, int B, int T);
    // the (Vp) logits that follow tokens[0..len), on the host
    const float *(*next_logits)(Run *run, const int *tokens, int len);
    void (*to_host)(Run *run);    // parameters, m and v into run->model
    void (*from_host)(Run *run);  // and back, after a resume
    void (*release)(Run *run);
    // after a step with a non-finite loss or norm: names the first tensor
    // holding a NaN or an infinity (in buf), or NULL when there is none or
    // the backend cannot tell
    const char *(*first_nonfinite)(Run *run, char *buf, size_t size);
} Backend;

struct Run {
    RunConfig cfg;
    const Backend *be;
    void *device;          // the backend's own state (train.cu's device model)
    GPT2 model;
    int zero;              // ZeRO-1 is on: --zero 1 with more than one rank
    int B_local;           // sequences of each batch this rank computes: B / nranks
    DataLoader train;
    DataLoader val;
    int use_val;           // a val loader was opened (-v > 0)
    Tokenizer tokenizer;
    int use_tokenizer;     // a tokenizer file was loaded
    Rng rng;               // sampling draws from it; saved in checkpoints
    int step;              // optimizer steps done
    int max_steps;
    int grad_accum;        // micro-steps per step
    uint64_t base_hash;    // LoRA: params_hash of the base model as loaded, for its checkpoints
    int nonfinite_streak;  // steps in a row skipped for a non-finite loss or norm
    float *sample_scratch; // (V)
    int *gen_tokens;       // (gen_tokens + 1)
    FILE *log;             // -o DIR/main.log on rank 0, or NULL
    double peak_flops;     // the backend's peak FLOP/s per rank, set by its setup for the
                           // MFU column (train.cu: from gpu_peak); 0: no MFU column
};

static void cpu_setup(Run *run) {
    gpt2_alloc_activations(&run->model, run->B_local, run->cfg.T);
}

static void cpu_zero_grad(Run *run) {
    gpt2_zero_grad(&run->model);
}

static float cpu_micro_step(Run *run, const int *inputs, const int *targets, int B, int T,
                            float loss_scale) {
    gpt2_forward(&run->model, inputs, B, T);
    float loss = gpt2_loss(&run->model, targets);
    gpt2_backward(&run->model, loss_scale);
    return loss;
}

static void cpu_reduce_grads(Run *run) {
    GPT2 *m = &run->model;
    lap(&m->sw, OP_OTHER);
    if (m->lora.config.rank > 0) {  // LoRA: the trainable set's gradients (no ZeRO-1)
        comm_all_reduce(m->lora.g_memory, m->lora.num_trainable);
    } else if (run->zero) {
        comm_reduce_scatter(m->grads_memory, m->num_parameters);
    } else {
        comm_all_reduce(m->grads_memory, m->num_parameters);
    }
    lap(&m->sw, OP_COMM);
}

static double cpu_grad_sumsq(Run *run) {
    return gpt2_grad_sumsq(&run->model, run->model.opt_start, run->model.opt_end);
}

static void cpu_update(Run *run, const AdamWArgs *args) {
    gpt2_update(&run->model, args);
    if (run->zero) { comm_all_gather(run->model.params_memory, run->model.num_parameters); }
    lap(&run->model.sw, OP_COMM);
}

static float cpu_eval_loss(Run *run, const int *inputs, const int *targets, int B, int T) {
    gpt2_forward(&run->model, inputs, B, T);
    return gpt2_loss(&run->model, targets);
}

static const float *cpu_next_logits(Run *run, const int *tokens, int len) {
    gpt2_forward(&run->model, tokens, 1, len);
    return run->model.acts.logits + (size_t)(len - 1) * run->model.config.padded_vocab_size;
}

static void cpu_nothing(Run *run) {
    (void)run;
}

// the first tensor holding a NaN or an infinity: the parameters in table
// order, then their gradients, e.g. "the gradient of fcw (layer 3, element 17)"
static const char *gpt2_first_nonfinite(const GPT2 *model, char *buf, size_t size) {
    const float *groups[2] = {model->params_memory, model->grads_memory};
    const char *what[2] = {"", "the gradient of "};
    for (int g = 0; g < 2; g++) {
        if (groups[g] == NULL) { continue; }  // LoRA: the base has no gradients
        for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) {
            const TensorSpec *s = &model->param_specs[k];
            size_t n = spec_numel(s), per = s->per_layer ? n / s->shape[0] : n;
            for (size_t i = 0; i < n; i++) {
                if (isfinite(groups[g][s->start + i])) { continue; }
                if (s->per_layer) {
                    snprintf(buf, size, "%s%s (layer %zu, element %zu)", what[g], s->name, i / per, i % per);
                } else {
                    snprintf(buf, size, "%s%s (element %zu)", what[g], s->name, i);
                }
                return buf;
            }
        }
    }
    // LoRA: the adapters, then the trainable set's gradients
    const LoraState *ls = &model->lora;
    for (int g = 0; g < 2 && ls->config.rank > 0; g++) {
        for (int k = 0; k < ls->num_specs; k++) {
            const TensorSpec *s = &ls->specs[k];
            if (g == 0 && ls->base[k] >= 0) { continue; }  // checked with the base above
            const float *x = (g == 0 ? ls->w_memory : ls->g_memory) + s->start;
            size_t n = spec_numel(s), per = s->per_layer ? n / s->shape[0] : n;
            for (size_t i = 0; i < n; i++) {
                if (isfinite(x[i])) { continue; }
                if (s->per_layer) {
                    snprintf(buf, size, "%s%s (layer %zu, element %zu)", what[g], s->name, i / per, i % per);
                } else {
                    snprintf(buf, size, "%s%s (element %zu)", what[g], s->name, i);
                }
                return buf;
            }
        }
    }
    return NULL;
}

static const char *cpu_first_nonfinite(Run *run, char *buf, size_t size) {
    return gpt2_first_nonfinite(&run->model, buf, size);
}

static const Backend cpu_backend = {
    "cpu", cpu_setup, cpu_zero_grad, cpu_micro_step, cpu_reduce_grads, cpu_grad_sumsq,
    cpu_update, cpu_eval_loss, cpu_next_logits, cpu_nothing, cpu_nothing, cpu_nothing,
    cpu_first_nonfinite,
};

// the learning rate of step (0-based): linear warmup over `warmup` steps to
// lr, then cosine decay to lr * final_lr_frac at max_steps
static float learning_rate(const RunConfig *c, int step, int max_steps) {
    float min_lr = c->lr * c->final_lr_frac;
    if (step < c->warmup) { return c->lr * (float)(step + 1) / (float)c->warmup; }
    if (max_steps <= c->warmup) { return c->lr; }
    float ratio = (float)(step - c->warmup) / (float)(max_steps - c->warmup);
    float coeff = 0.5f * (1.0f + cosf((float)M_PI * ratio));
    return min_lr + coeff * (c->lr - min_lr);
}

// what a checkpoint's state file keeps of the run
static TrainState run_state(const Run *run) {
    TrainState s = {run->cfg.B, run->cfg.T, run->cfg.shuffle, run->cfg.seed, run->step,
                    run->rng.state, run->train.pos};
    return s;
}

// writes model_STEP.bin, then state_STEP.bin, each atomically: a state file
// on disk always has its model file beside it. Rank 0 writes; with ZeRO-1 it
// first gathers every rank's shard of m and v.
static void run_checkpoint(Run *run) {
    if (run->cfg.output_dir[0] == '\0') { return; }
    GPT2 *m = &run->model;
    run->be->to_host(run);
    float *m_full = m->m_memory, *v_full = m->v_memory;
    if (run->zero) {
        if (g_comm.rank == 0) {
            m_full = (float *)mallocCheck(m->num_parameters * sizeof(float));
            v_full = (float *)mallocCheck(m->num_parameters * sizeof(float));
        }
        comm_gather_shards(m_full, m->m_memory, m->num_parameters);
        comm_gather_shards(v_full, m->v_memory, m->num_parameters);
    }
    if (m->lora.config.rank > 0) {  // LoRA: the trainable set and run state; the base is -e
        if (g_comm.rank == 0) {
            char path[PATH_MAX_LEN];
            path_join(path, run->cfg.output_dir, "lora_%08d.bin", run->step);
            TrainState s = run_state(run);
            lora_save(path, m, &s, run->base_hash);
            printf("checkpoint: %s/lora_%08d.bin\n", run->cfg.output_dir, run->step);
        }
        comm_barrier();
        return;
    }
    if (g_comm.rank == 0) {
        char path[PATH_MAX_LEN];
        path_join(path, run->cfg.output_dir, "model_%08d.bin", run->step);
        gpt2_save(m, path);
        path_join(path, run->cfg.output_dir, "state_%08d.bin", run->step);
        TrainState s = run_state(run);
        state_save(path, m, &s, m_full, v_full);
        printf("checkpoint: %s/{model,state}_%08d.bin\n", run->cfg.output_dir, run->step);
        if (run->zero) {
            free(m_full);
            free(v_full);
        }
    }
    comm_barrier();  // no rank goes on (or resumes) before the files are there
}

// one row of the configuration table: a name and a printf-formatted value
static void config_row(const char *name, const char *fmt, ...) {
    char value[256];
    va_list args;
    va_start(args, fmt);
    vsnprintf(value, sizeof(value), fmt, args);
    va_end(args);
    printf("| %-21s | %-52s |\n", name, value);
}

static void print_run_config(const Run *run, const GPT2Config *mc) {
    const RunConfig *c = &run->cfg;
    const char *line = "+-----------------------+------------------------------------------------------+";
    printf("%s\n", line);
    config_row("model (-e)", "%s", c->model);
    config_row("shape", "L=%d NH=%d C=%d V=%d Vp=%d maxT=%d", mc->num_layers, mc->num_heads,
               mc->channels, mc->vocab_size, mc->padded_vocab_size, mc->max_seq_len);
    config_row("train shards (-i)", "%s (%zu batches)", c->train_pattern, run->train.total_batches);
    config_row("val shards (-j)", "%s", run->use_val ? c->val_pattern : "(no validation)");
    config_row("tokenizer (-k)", "%s", run->use_tokenizer ? c->tokenizer : "(none)");
    config_row("output dir (-o)", "%s", c->output_dir[0] ? c->output_dir : "(none)");
    config_row("batch (-b -t -d)", "B=%d T=%d, %d micro-step(s) per step", c->B, c->T,
               run->grad_accum);
    config_row("steps (-x)", "%d, starting at %d", run->max_steps, run->step);
    config_row("schedule (-l -u -q)", "lr %g, warmup %d, final fraction %g", c->lr, c->warmup,
               c->final_lr_frac);
    config_row("AdamW", "beta1 %g beta2 %g eps %g wd %g clip %g", c->beta1, c->beta2, c->eps,
               c->weight_decay, c->grad_clip);
    config_row("eval (-v -m -s -g)", "val every %d (%d batches), sample every %d (%d tokens)",
               c->val_every, c->val_batches, c->sample_every, c->gen_tokens);
    config_row("backend", "%s, %d rank(s) of B=%d%s", run->be->name, g_comm.nranks, run->B_local,
               run->zero ? ", ZeRO-1 (AdamW state sharded)" : "");
    const LoraState *ls = &run->model.lora;
    if (ls->config.rank > 0) {
        config_row("LoRA (--lora)", "R=%d alpha=%g %s%s", ls->config.rank, ls->config.alpha,
                   c->lora_targets, ls->config.train_norms ? " +norms" : "");
        config_row("trainable", "%zu of %zu parameters (%.3f%%)", ls->num_trainable,
                   run->model.num_parameters + ls->num_adapters,
                   100.0 * ls->num_trainable / (run->model.num_parameters + ls->num_adapters));
    }
    config_row("other", "seed %d, shuffle %d, threads %d", c->seed, c->shuffle, num_threads());
    printf("%s\n", line);
}

// sets up a run from its flags: tokenizer, model (file, preset or the latest
// checkpoint), data, schedule, on the backend c->backend (NULL: the CPU).
// Exits with a message on anything wrong.
static void run_init(Run *run, const RunConfig *c) {
    memset(run, 0, sizeof(*run));
    run->cfg = *c;
    run->be = c->backend != NULL ? c->backend : &cpu_backend;
    rng_seed(&run->rng, (uint64_t)c->seed);
    if (c->B % g_comm.nranks != 0) {
        die("-b %d does not split over %d ranks: give a multiple of %d", c->B, g_comm.nranks,
            g_comm.nranks);
    }
    run->B_local = c->B / g_comm.nranks;
    run->zero = c->zero && g_comm.nranks > 1;
    if (file_size(c->tokenizer) >= 0) {
        tokenizer_load(&run->tokenizer, c->tokenizer);
        run->use_tokenizer = 1;
    } else if (c->gen_tokens > 0 && g_comm.rank == 0) {
        fprintf(stderr, "warning: tokenizer '%s' not found: samples print token ids, and a preset "
                "takes V from --vocab (%d)\n", c->tokenizer, c->vocab);
    }
    if (c->resume && c->output_dir[0] == '\0') { die("-y 1 needs -o DIR to find the checkpoint in"); }
    // LoRA: the base comes from -e, the checkpoints are lora_STEP.bin
    int lora = c->lora > 0;
    if (c->resume && !lora && g_comm.rank == 0 && latest_checkpoint(c->output_dir) < 0 &&
        latest_checkpoint_of(c->output_dir, "lora") >= 0) {
        die("'%s' holds LoRA checkpoints (lora_*.bin): resume them with the same --lora R and -e "
            "as the run that wrote them", c->output_dir);
    }
    // rank 0 picks the checkpoint: every rank then reads the same files
    int resume_step = comm_broadcast_int(
        c->resume ? latest_checkpoint_of(c->output_dir, lora ? "lora" : "state") : -1);
    if (c->resume && resume_step < 0 && g_comm.rank == 0) {
        printf("resume: no checkpoint in '%s' yet, starting fresh\n", c->output_dir);
    }
    // the model's shape first, so that the run's size is checked before
    // anything is allocated
    GPT2Config shape;
    char resume_model[PATH_MAX_LEN] = "";
    if (resume_step >= 0 && !lora) {
        path_join(resume_model, c->output_dir, "model_%08d.bin", resume_step);
        read_model_header(&shape, resume_model);
    } else {
        model_config_for(&shape, c->model, run->use_tokenizer ? (int)run->tokenizer.vocab_size : c->vocab);
    }
    if (c->T > shape.max_seq_len) {
        die("-t %d is longer than the model's maxT=%d", c->T, shape.max_seq_len);
    }
    LoraConfig lcfg = {c->lora, c->lora_alpha > 0.0f ? c->lora_alpha : (float)c->lora, 0,
                       c->lora_train_norms};
    if (lora) {
        lcfg.targets = lora_parse_targets(c->lora_targets);
        lora_check(&shape, &lcfg);
    }
    check_run_size(&shape, lora ? &lcfg : NULL, run->B_local, c->T, run->zero ? g_comm.nranks : 1,
                   run->be == &cpu_backend);
    if (resume_step >= 0 && !lora) {
        gpt2_load(&run->model, resume_model);
        if (g_comm.rank == 0) { printf("resume: from %s\n", resume_model); }
    } else if (config_from_preset(&shape, c->model, shape.vocab_size)) {
        // the same seed on every rank: the same initial parameters
        gpt2_init(&run->model, &shape);
        gpt2_init_random(&run->model, &run->rng);
    } else {
        gpt2_load(&run->model, c->model);
    }
    GPT2Config *mc = &run->model.config;
    if (run->use_tokenizer && run->tokenizer.vocab_size != (size_t)mc->vocab_size && g_comm.rank == 0) {
        fprintf(stderr, "warning: tokenizer has %zu tokens, the model %d\n",
                run->tokenizer.vocab_size, mc->vocab_size);
    }
    if (lora) {
        // the base as loaded, hashed so that a resume with another -e is refused
        if (c->output_dir[0] != '\0') { run->base_hash = params_hash(&run->model); }
        gpt2_freeze(&run->model);
        lora_init(&run->model, &lcfg, &run->rng);
    }
    if (run->zero) {
        size_t n = run->model.num_parameters;
        gpt2_shard_optimizer(&run->model, shard_start(n, g_comm.rank), shard_start(n, g_comm.rank + 1));
    }
    size_t BT = (size_t)c->B * c->T;
    size_t total = c->total_batch == 0 ? BT : (size_t)c->total_batch;
    if (total % BT != 0) {
        die("-d %d is not a multiple of B*T = %zu", c->total_batch, BT);
    }
    run->grad_accum = (int)(total / BT);
    run->be->setup(run);
    loader_init(&run->train, c->train_pattern, c->B, c->T, mc->vocab_size, c->shuffle,
                (uint64_t)c->seed);
    if (c->val_every > 0) {
        loader_init(&run->val, c->val_pattern, c->B, c->T, mc->vocab_size, 0, 0);
        run->use_val = 1;
    }
    run->max_steps = c->max_steps;
    if (run->max_steps < 0) {
        run->max_steps = (int)(run->train.total_batches / (size_t)run->grad_accum);
        if (run->max_steps == 0) {
            die("one epoch of the train data (%zu batches) is less than one step of %d "
                "micro-steps", run->train.total_batches, run->grad_accum);
        }
    }
    run->sample_scratch = (float *)mallocCheck((size_t)mc->vocab_size * sizeof(float));
    run->gen_tokens = (int *)mallocCheck(((size_t)c->gen_tokens + 1) * sizeof(int));
    if (resume_step >= 0) {
        char path[PATH_MAX_LEN];
        TrainState s = run_state(run);
        if (lora) {
            path_join(path, c->output_dir, "lora_%08d.bin", resume_step);
            lora_load(path, &run->model, &s, run->base_hash);
            if (g_comm.rank == 0) { printf("resume: from %s\n", path); }
        } else {
            path_join(path, c->output_dir, "state_%08d.bin", resume_step);
            state_load(path, &run->model, &s);
        }
        run->step = s.step;
        run->rng.state = s.rng_state;
        loader_seek(&run->train, s.pos);
        run->be->from_host(run);
    }
    if (c->output_dir[0] != '\0' && g_comm.rank == 0) {
        make_dirs(c->output_dir);
        remove_stale_temporaries(c->output_dir);
        char path[PATH_MAX_LEN];
        int n = snprintf(path, sizeof(path), "%s/main.log", c->output_dir);
        if (n < 0 || n >= PATH_MAX_LEN) { die("path too long: %s", c->output_dir); }
        run->log = fopenCheck(path, resume_step >= 0 ? "a" : "w");
    }
}

static void run_free(Run *run) {
    run->be->release(run);
    gpt2_free(&run->model);
    loader_free(&run->train);
    if (run->use_val) { loader_free(&run->val); }
    if (run->use_tokenizer) { tokenizer_free(&run->tokenizer); }
    free(run->sample_scratch);
    free(run->gen_tokens);
    if (run->log != NULL) { fcloseCheck(run->log); }
    memset(run, 0, sizeof(*run));
}

typedef struct {
    float loss;   // mean over the step's tokens, all ranks
    float norm;   // global gradient norm before clipping
    float lr;
    double ms;
    int skipped;  // the update was skipped: the loss or the norm was not finite
} StepResult;

// one optimizer step: grad_accum micro-steps of forward, loss and backward
// (this rank's slice of each batch), the gradients summed over ranks, then
// clipping and AdamW
// the model's FLOPs in one optimizer step of all ranks (for MFU): full training's, or
// LoRA's (no weight gradients for the frozen matrices; bill_lora)
static double run_flops_per_step(const Run *run) {
    const GPT2 *m = &run->model;
    int B = run->cfg.B, T = run->cfg.T;  // all ranks' tokens
    if (m->lora.config.rank > 0) {
        BillColumn b = bill_lora_layout(&m->config, B, T, 1, &m->lora.config, 0, 0, sizeof(float), 0);
        return b.flops_per_token * B * T * run->grad_accum;
    }
    return compute_bill(&m->config, B, T, run->grad_accum, 1).flops_per_step;
}

static StepResult run_step(Run *run) {
    StepResult r;
    double t0 = now_seconds();
    const RunConfig *c = &run->cfg;
    const Backend *be = run->be;
    Stopwatch *sw = &run->model.sw;  // the CPU model's laps count from here
    sw->running = 1;
    sw->last = t0;
    be->zero_grad(run);
    double loss_sum = 0.0;
    float loss_scale = 1.0f / ((float)c->B * c->T * run->grad_accum);
    size_t slice = (size_t)g_comm.rank * run->B_local * c->T;
    for (int micro = 0; micro < run->grad_accum; micro++) {
        loader_next(&run->train);
        loss_sum += be->micro_step(run, run->train.inputs + slice, run->train.targets + slice,
                                   run->B_local, c->T, loss_scale);
    }
    be->reduce_grads(run);
    r.loss = (float)(comm_sum(loss_sum) / ((double)g_comm.nranks * run->grad_accum));
    double sumsq = be->grad_sumsq(run);
    r.norm = (float)sqrt(run->zero ? comm_sum(sumsq) : sumsq);
    r.lr = learning_rate(c, run->step, run->max_steps);
    r.skipped = !isfinite(r.loss) || !isfinite(r.norm);
    if (r.skipped) {
        // a NaN or an infinity: stop with the last checkpoint as it is, or
        // (--skip-nonfinite N) leave the parameters and moments as they are,
        // count the step and go on, up to N such steps in a row
        char buf[256];
        const char *where = be->first_nonfinite != NULL ? be->first_nonfinite(run, buf, sizeof(buf)) : NULL;
        if (where == NULL) { where = "(not located)"; }
        run->nonfinite_streak++;
        if (run->nonfinite_streak > c->skip_nonfinite) {
            die("step %d: loss %f, grad norm %f, first non-finite value in %s: training diverged "
                "(try a lower -l, or --clip; --skip-nonfinite N skips such steps); the last "
                "checkpoint is left as it was", run->step + 1, r.loss, r.norm, where);
        }
        if (g_comm.rank == 0) {
            fprintf(stderr, "warning: step %d: loss %f, grad norm %f, first non-finite value in %s: "
                    "update skipped (%d in a row, --skip-nonfinite %d)\n", run->step + 1, r.loss,
                    r.norm, where, run->nonfinite_streak, c->skip_nonfinite);
        }
        run->step++;
        r.ms = 1000.0 * (now_seconds() - t0);
        lap(sw, OP_OTHER);
        sw->running = 0;
        sw->steps++;
        return r;
    }
    run->nonfinite_streak = 0;
    AdamWArgs args = {r.lr, c->beta1, c->beta2, c->eps, c->weight_decay,
                      clip_scale(r.norm, c->grad_clip), run->step + 1};
    be->update(run, &args);
    run->step++;
    r.ms = 1000.0 * (now_seconds() - t0);
    lap(sw, OP_OTHER);
    sw->running = 0;
    sw->steps++;
    return r;
}

// mean loss over the first -m batches of the val data (the same ones each
// time; each rank computes its slice of every batch)
static float run_validate(Run *run) {
    loader_reset(&run->val);
    int n = run->cfg.val_batches;
    if ((size_t)n > run->val.total_batches) { n = (int)run->val.total_batches; }
    size_t slice = (size_t)g_comm.rank * run->B_local * run->cfg.T;
    double sum = 0.0;
    for (int i = 0; i < n; i++) {
        loader_next(&run->val);
        sum += run->be->eval_loss(run, run->val.inputs + slice, run->val.targets + slice,
                                  run->B_local, run->cfg.T);
    }
    float loss = (float)(comm_sum(sum) / ((double)g_comm.nranks * n));
    if (!isfinite(loss)) { die("step %d: val loss is %f", run->step, loss); }
    if (g_comm.rank == 0) { printf("val loss %.6f\n", loss); }
    if (run->log != NULL) { fprintf(run->log, "s:%d tel:%.6f\n", run->step, loss); fflush(run->log); }
    return loss;
}

// generates -g tokens from <|endoftext|> and prints them, decoded when a
// tokenizer is loaded (rank 0 only). Each token reruns the model on the last
// T tokens.
static void run_sample(Run *run) {
    const RunConfig *c = &run->cfg;
    if (c->gen_tokens == 0 || g_comm.rank != 0) { return; }
    int V = run->model.config.vocab_size;
    const Tokenizer *tok = run->use_tokenizer ? &run->tokenizer : NULL;
    int *tokens = run->gen_tokens;
    tokens[0] = tok != NULL && tok->eot < (uint32_t)V ? (int)tok->eot : V - 1;
    printf("sample at step %d:\n---\n", run->step);
    for (int i = 1; i <= c->gen_tokens; i++) {
        int len = i < c->T ? i : c->T;
        const float *logits = run->be->next_logits(run, tokens + i - len, len);
        tokens[i] = sample_token(logits, V, c->temperature, c->top_k, run->sample_scratch, &run->rng);
        tokenizer_print(tok, tokens[i], stdout);
        if (tok == NULL) { putchar(' '); }
        fflush(stdout);
    }
    printf("\n---\n");
}

// "1h02m", "3m05s", "42s"
static void format_duration(char *out, size_t size, double seconds) {
    long s = seconds > 0 ? (long)(seconds + 0.5) : 0;
    if (s >= 3600) {
        snprintf(out, size, "%ldh%02ldm", s / 3600, (s % 3600) / 60);
    } else if (s >= 60) {
        snprintf(out, size, "%ldm%02lds", s / 60, s % 60);
    } else {
        snprintf(out, size, "%lds", s);
    }
}

// ----------------------------------------------------------------------------
// stopping on a signal: SIGINT (Ctrl-C), SIGTERM or SIGUSR1 asks the run to
// stop after the current step, with a checkpoint and exit status 128 + the
// signal (130, 143, 138); a second one exits at once and writes nothing (a checkpoint being
// written then leaves only its temporary file, never a half file). A signal
// handler can only reach the loop through a global: this is it.

static volatile sig_atomic_t g_stop_signal = 0;

static void on_stop_signal(int sig) {
    if (g_stop_signal != 0) { _exit(128 + sig); }
    g_stop_signal = sig;
}

static void catch_stop_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;  // reads and writes in progress go on
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    // mpirun kills its ranks on SIGINT and SIGTERM but forwards SIGUSR1 to
    // every rank: with MPI, `kill -USR1 <mpirun's pid>` stops the run cleanly
    sigaction(SIGUSR1, &sa, NULL);
    // past `ulimit -f` a write then fails with EFBIG, which is reported like
    // a full disk, instead of killing the process
    signal(SIGXFSZ, SIG_IGN);
}

// the end of a run stopped by signal sig after a step: a checkpoint (unless
// that step just wrote one) and how to go on
static int run_stop(Run *run, int sig, int saved) {
    if (!saved) { run_checkpoint(run); }
    if (g_comm.rank == 0) {
        const char *name = sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : sig == SIGUSR1 ? "SIGUSR1" : "a signal";
        if (run->cfg.output_dir[0] != '\0') {
            printf("stopped by %s after step %d: to go on, run the same command with -y 1\n", name,
                   run->step);
        } else {
            printf("stopped by %s after step %d: nothing saved (no -o)\n", name, run->step);
        }
        fflush(stdout);
    }
    run_free(run);
    comm_finish();
    return 128 + sig;
}

// the bill of a LoRA run beside full training's, for the same shape and batch
static void print_lora_bill(const GPT2Config *cfg, const LoraConfig *lc, int B, int T) {
    LoraBill b = lora_bill(cfg, lc, B, T);
    Bill full = compute_bill(cfg, B, T, 1, 1);
    char title[64];
    snprintf(title, sizeof(title), "LoRA R=%d (B=%d, T=%d)", lc->rank, B, T);
    printf("+------------------------------+------------------+----------------+\n");
    printf("| %-28s | %16s | %14s |\n", title, "bytes", "");
    printf("+------------------------------+------------------+----------------+\n");
    printf("| %-28s | %16zu | %14s |\n", "trainable (count)", b.num_trainable, "");
    print_bytes_row("base parameters (frozen)", b.base_param_bytes);
    print_bytes_row("adapters", b.adapter_bytes);
    print_bytes_row("gradients (trainable)", b.grad_bytes);
    print_bytes_row("AdamW moments (trainable)", b.adam_bytes);
    print_bytes_row("activations", b.act_bytes);
    print_bytes_row("activation gradients", b.act_grad_bytes);
    print_bytes_row("LoRA activations (h, dh)", b.lora_act_bytes);
    print_bytes_row("other (tokens, norm sums)", b.other_bytes);
    print_bytes_row("total", b.total_bytes);
    print_bytes_row("full training, for contrast", full.total_bytes);
    printf("+------------------------------+------------------+----------------+\n");
}

// --dry-run --lora R: the LoRA bill after dry_run's, for the same shape (V
// from the tokenizer file when there is one, as dry_run takes it)
static void lora_dry_run(const RunConfig *c) {
    int V = c->vocab;
    if (file_size(c->tokenizer) >= 0) {
        Tokenizer tok;
        tokenizer_load(&tok, c->tokenizer);
        V = (int)tok.vocab_size;
        tokenizer_free(&tok);
    }
    GPT2Config mc;
    model_config_for(&mc, c->model, V);
    LoraConfig lc = {c->lora, c->lora_alpha > 0.0f ? c->lora_alpha : (float)c->lora,
                     lora_parse_targets(c->lora_targets), c->lora_train_norms};
    lora_check(&mc, &lc);
    print_lora_bill(&mc, &lc, c->B, c->T);
}

// the LoRA flags, checked before anything is loaded: a message and exit 1 for
// what is wrong or not supported
static void check_lora_flags(const RunConfig *c) {
    if (c->lora == 0) {
        if (c->lora_merge[0] != '\0') {
            die("--lora-merge needs adapters to merge: give --lora R (and -o DIR -y 1 to merge a "
                "LoRA checkpoint)");
        }
        return;
    }
    lora_parse_targets(c->lora_targets);
    if (c->zero) { die("--lora with --zero 1: ZeRO-1 sharding of LoRA's AdamW state is not supported"); }
    if (g_comm.nranks > 1) {
        die("--lora with %d MPI ranks: LoRA runs in one process only", g_comm.nranks);
    }
    if (c->prompt != NULL) {
        die("--prompt with --lora: generation runs a plain model; merge the adapters first "
            "(--lora-merge OUT), then --prompt with -e OUT");
    }
}

// the command line program on a backend (train.c's main: the CPU; train.cu's:
// CUDA). Rank 0 prints, logs, samples and writes checkpoints.
static int train_main(int argc, char **argv, const Backend *backend) {
    comm_init(&argc, &argv);
    RunConfig c;
    if (parse_args(&c, argc, argv) != 0) {
        if (g_comm.rank == 0) { print_usage(stdout, argv[0], backend->name); }
        comm_finish();
        return 0;
    }
    c.backend = backend;
    check_lora_flags(&c);
    if (c.dry_run) {
        if (g_comm.rank == 0) { dry_run(&c); }
        if (g_comm.rank == 0 && c.lora > 0) { lora_dry_run(&c); }
        comm_finish();
        return 0;
    }
    if (c.prompt != NULL) {
        if (g_comm.rank == 0) { generate_main(&c); }
        comm_finish();
        return 0;
    }
    catch_stop_signals();
    Run run;
    run_init(&run, &c);
    if (g_comm.rank == 0) {
        print_run_config(&run, &run.model.config);
        if (run.model.lora.config.rank > 0) {
            print_lora_bill(&run.model.config, &run.model.lora.config, run.B_local, c.T);
        } else {
            print_bill(&run.model.config, run.B_local, c.T, run.grad_accum,
                       run.zero ? g_comm.nranks : 1);
        }
    }
    size_t tokens_per_step = (size_t)c.B * c.T * run.grad_accum;
    double step_ms_sum = 0.0;  // this session's steps, for the ETA
    int first_step = run.step;
    while (run.step < run.max_steps) {
        if (c.val_every > 0 && run.step % c.val_every == 0) { run_validate(&run); }
        if (c.sample_every > 0 && run.step > 0 && run.step % c.sample_every == 0) { run_sample(&run); }
        StepResult r = run_step(&run);
        if (run.step == first_step + 1 && run.step < run.max_steps) {
            // --profile leaves out the first step: first touches of memory, cold caches
            memset(&run.model.sw, 0, sizeof(run.model.sw));
        }
        double tok_s = tokens_per_step / (r.ms / 1000.0);
        // the time left at this session's mean step time (evaluations and
        // checkpoints not counted)
        step_ms_sum += r.ms;
        double per_step = step_ms_sum / 1000.0 / (run.step - first_step);
        char eta[32];
        format_duration(eta, sizeof(eta), per_step * (run.max_steps - run.step));
        // MFU: the model's FLOPs per step over what the ranks' peak allows in that time
        char mfu[32] = "";
        if (run.peak_flops > 0.0) {
            double flops = run_flops_per_step(&run);
            snprintf(mfu, sizeof(mfu), " | mfu %.1f%%",
                     100.0 * flops / (r.ms / 1000.0) / (run.peak_flops * g_comm.nranks));
        }
        if (g_comm.rank == 0) {
            printf("step %d/%d | loss %.6f | lr %.2e | norm %.4f | ms %.1f | tok/s %.0f%s | eta %s%s\n",
                   run.step, run.max_steps, r.loss, r.lr, r.norm, r.ms, tok_s, mfu, eta,
                   r.skipped ? " | skipped" : "");
            fflush(stdout);
        }
        if (run.log != NULL && !r.skipped) {
            fprintf(run.log, "s:%d trl:%.6f lr:%.6e norm:%.6f ms:%.3f tok/s:%.1f\n", run.step,
                    r.loss, r.lr, r.norm, r.ms, tok_s);
            fflush(run.log);
        }
        int saved = c.ckpt_every > 0 && run.step % c.ckpt_every == 0 && run.step < run.max_steps;
        if (saved) { run_checkpoint(&run); }
        int sig = comm_broadcast_int(g_stop_signal);  // rank 0's signal stops every rank
        if (sig != 0) { return run_stop(&run, sig, saved); }
    }
    // the end: val loss, checkpoint, then a sample (after the checkpoint, so
    // the saved RNG is the one a resumed run would sample with at this step)
    if (c.val_every > 0) { run_validate(&run); }
    if (g_comm.nranks > 1) {  // every rank must end with the same parameters
        run.be->to_host(&run);
        comm_check_same(run.model.params_memory, run.model.num_parameters * sizeof(float));
    }
    run_checkpoint(&run);
    if (c.profile && g_comm.rank == 0) {
        if (strcmp(backend->name, "cpu") == 0) {
            GPT2 *m = &run.model;
            print_profile(&m->sw, &m->config, run.B_local, c.T, run.grad_accum, m->num_parameters,
                          m->opt_end - m->opt_start,
                          compute_bill(&m->config, run.B_local, c.T, run.grad_accum, 1).flops_per_step);
            if (m->lora.config.rank > 0) {
                printf("(LoRA: the rates count full training's work; the frozen matrices' weight "
                       "gradients, AdamW and norm over them are not done, so those rates read high)\n");
            }
        } else {
            printf("--profile: the per-operation table is the CPU backend's\n");
        }
    }
    run_sample(&run);
    if (c.lora_merge[0] != '\0' && g_comm.rank == 0) {  // LoRA: W + (alpha/R) B A, a plain model file
        lora_merge(&run.model);
        gpt2_save(&run.model, c.lora_merge);
        printf("merged: %s (the base with the adapters of step %d merged in)\n", c.lora_merge, run.step);
    }
    if (g_comm.rank == 0) { print_training_memory(&run.model, run.B_local, c.T, run.be == &cpu_backend); }
    run_free(&run);
    comm_finish();
    return 0;
}

#ifndef TRAIN_NO_MAIN
// the command line program; tests and train.cu include this file with
// TRAIN_NO_MAIN defined
int main(int argc, char **argv) {
    return train_main(argc, argv, &cpu_backend);
}
#endif
