/*
train.c: the whole of GPT-2 training on the CPU, in one C file.

The model, every layer's forward and backward pass (side by side), AdamW,
the learning-rate schedule, gradient clipping and accumulation, the data
loader, validation, sampling, checkpoints that resume bit for bit, and the
command line. Parallel with OpenMP where the compiler has it.

Build and run:
    make train
    ./train -h                                   # every flag and its default
    ./train -e d6 -b 4 -t 64 -x 100 -o out       # a small GPT-2 from scratch
    ./train -e model.bin -i 'shards/train_*.bin' # continue from a model file
    ./train -e d48 -b 8 -t 1024 --dry-run        # what would it cost?
    ./train -e model.bin -k tok.bin --prompt Hi  # continue a text (KV cache), no training

Dimension letters used in every comment and shape:
    B  batch size                 T   time (sequence length)
    C  channels (model width)     NH  number of attention heads
    hs head size, C / NH          L   number of layers (blocks)
    V  vocabulary size            Vp  V padded up to a multiple of 128
    OC output channels of a matmul
A shape written (B, T, C) is row-major: the last letter varies fastest.

File formats (llm.c compatible, see data/README.md): model files, token
shards and tokenizer files start with a header of 256 int32 that is checked
on load (magic, version, and the file size the header implies).
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE  // POSIX and glibc: fseeko (64-bit offsets), strdup, glob, mkdtemp, M_PI
#endif
#include <errno.h>
#include <glob.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef USE_MPI
#include <mpi.h>
#endif
#ifdef _OPENMP
#include <omp.h>
#endif

// The tokenizer (tokenizer.c: loading a tokenizer file, the BPE encoder, the
// token bytes) and the checked helpers it starts with (fopenCheck, fwriteCheck,
// fcloseCheck, mallocCheck, callocCheck, reallocCheck, atomic files,
// now_seconds), included as they are: one copy of each in the repository.
// Its errors print like ours; its commands and main are left out. Prompts
// for --prompt are encoded with it.
#define FAIL_PREFIX "error: "
#define TOKENIZER_LIBRARY_ONLY
#define TOKENIZER_NO_MAIN
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"  // parts train.c does not call
#include "tokenizer.c"
#pragma GCC diagnostic pop

// ----------------------------------------------------------------------------
// constants (HEADER_INTS and the tokenizer file's come with tokenizer.c)

#define MODEL_MAGIC 20240326
#define MODEL_VERSION_FP32 3
#define MODEL_VERSION_BF16 5
#define TOKENS_MAGIC 20240520
#define TOKENS_VERSION 1
#define STATE_MAGIC 20261129         // our own: the training state for resume
#define STATE_VERSION 1
#define VOCAB_PAD 128                // Vp = V rounded up to a multiple of this
#define LAYERNORM_EPS 1e-5f
#define GELU_SCALE 0.7978845608028654f  // sqrt(2 / pi), tanh approximation
#define GELU_CUBIC 0.044715f
#define INIT_STD 0.02f               // GPT-2's initialisation
#define NORM_CHUNK 65536             // elements per partial sum of the grad norm
#define PATH_MAX_LEN 4096

// ----------------------------------------------------------------------------
// checked helpers (with tokenizer.c's): every failure says where it happened
// and what to do

static void die(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    fprintf(stderr, "error: ");
    vfprintf(stderr, fmt, args);
    fprintf(stderr, "\n");
    va_end(args);
    exit(EXIT_FAILURE);
}

static void fread_check(void *ptr, size_t size, size_t count, FILE *fp, const char *file, int line) {
    size_t got = fread(ptr, size, count, fp);
    if (got != count) {
        die("short read: wanted %zu items of %zu bytes, got %zu (%s) [%s:%d]", count, size, got,
            feof(fp) ? "file truncated?" : strerror(errno), file, line);
    }
}
#define freadCheck(ptr, size, count, fp) fread_check(ptr, size, count, fp, __FILE__, __LINE__)

static void fseek_check(FILE *fp, int64_t offset, int whence, const char *file, int line) {
    if (fseeko(fp, (off_t)offset, whence) != 0) {
        die("seek to %lld failed: %s [%s:%d]", (long long)offset, strerror(errno), file, line);
    }
}
#define fseekCheck(fp, offset, whence) fseek_check(fp, offset, whence, __FILE__, __LINE__)

// size of a file in bytes, or -1 when it cannot be opened
static int64_t file_size(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) { return -1; }
    return (int64_t)st.st_size;
}

// Reads the 256-int32 header of a file and checks its magic and size:
// fails with a message naming the file when it is missing, short or foreign.
static void read_header(int *header, const char *path, int magic, const char *what) {
    int64_t size = file_size(path);
    if (size < 0) { die("cannot open %s '%s': %s", what, path, strerror(errno)); }
    if (size < (int64_t)(HEADER_INTS * sizeof(int))) {
        die("%s '%s' is %lld bytes, shorter than its %zu-byte header: truncated or not a %s",
            what, path, (long long)size, HEADER_INTS * sizeof(int), what);
    }
    FILE *fp = fopenCheck(path, "rb");
    freadCheck(header, sizeof(int), HEADER_INTS, fp);
    fcloseCheck(fp);
    if (header[0] != magic) {
        die("'%s' is not a %s: magic number %d, expected %d", path, what, header[0], magic);
    }
}

// mkdir -p: creates dir and any missing parents
static void make_dirs(const char *dir) {
    char path[PATH_MAX_LEN];
    int n = snprintf(path, sizeof(path), "%s", dir);
    if (n < 0 || n >= PATH_MAX_LEN) { die("path too long: %s", dir); }
    for (char *p = path + 1; ; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(path, 0755) != 0 && errno != EEXIST) {
                die("cannot create directory '%s': %s", path, strerror(errno));
            }
            *p = saved;
            if (saved == '\0') { break; }
        }
    }
}

static int num_threads(void) {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

// ----------------------------------------------------------------------------
// random numbers: xorshift* (64-bit state in a struct, so runs are seeded and
// the state can be saved in a checkpoint)

typedef struct {
    uint64_t state;
} Rng;

static void rng_seed(Rng *rng, uint64_t seed) {
    // splitmix64 of the seed, so that nearby seeds give unrelated streams and
    // the state is never zero (xorshift would stay at zero forever)
    uint64_t z = seed + 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    z = z ^ (z >> 31);
    rng->state = z != 0 ? z : 0x2545F4914F6CDD1DULL;
}

static uint32_t rng_u32(Rng *rng) {
    rng->state ^= rng->state >> 12;
    rng->state ^= rng->state << 25;
    rng->state ^= rng->state >> 27;
    return (uint32_t)((rng->state * 0x2545F4914F6CDD1DULL) >> 32);
}

// uniform in [0, 1), 24 random bits
static float rng_uniform(Rng *rng) {
    return (float)(rng_u32(rng) >> 8) / 16777216.0f;
}

// standard normal by Box-Muller (uses two uniforms per draw; simple, exact enough)
static float rng_normal(Rng *rng) {
    float u1 = rng_uniform(rng);
    float u2 = rng_uniform(rng);
    float r = sqrtf(-2.0f * logf(1.0f - u1));  // 1 - u1 is in (0, 1]: no log(0)
    return r * cosf(2.0f * (float)M_PI * u2);
}

// uniform integer in [0, n), for shuffling
static size_t rng_below(Rng *rng, size_t n) {
    uint64_t r = ((uint64_t)rng_u32(rng) << 32) | rng_u32(rng);
    return (size_t)(r % n);
}

// ----------------------------------------------------------------------------
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
    // the NaN into the result
    float e = n >= -126.0f ? n : -126.0f;
    uint32_t bits = (uint32_t)(e + 127.0f) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof(scale));
    return p * scale;
}

// ----------------------------------------------------------------------------
// layers: forward and backward side by side, in the order the model uses them.
// Every forward overwrites its outputs; every backward adds (+=) into its
// gradients.

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

// inverts encoder_forward: dwte[inp[b,t],:] += dout[b,t,:], dwpe[t,:] += dout[b,t,:]
// Threads split the channels: a token id can repeat in the batch, so two
// (b,t) could hit the same row of dwte, but never the same column c.
static void encoder_backward(float *dwte, float *dwpe, const float *dout, const int *inp,
                             int B, int T, int C) {
    const int block = 16;
    #pragma omp parallel for
    for (int c0 = 0; c0 < C; c0 += block) {
        int c1 = c0 + block < C ? c0 + block : C;
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                const float *dout_bt = dout + ((size_t)b * T + t) * C;
                float *dwte_ix = dwte + (size_t)inp[b * T + t] * C;
                float *dwpe_t = dwpe + (size_t)t * C;
                for (int c = c0; c < c1; c++) {
                    dwte_ix[c] += dout_bt[c];
                    dwpe_t[c] += dout_bt[c];
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
        float m = 0.0f;
        for (int c = 0; c < C; c++) { m += x[c]; }
        m /= C;
        float v = 0.0f;  // two passes: no cancellation from E[x^2] - E[x]^2
        for (int c = 0; c < C; c++) { float d = x[c] - m; v += d * d; }
        v /= C;
        float s = 1.0f / sqrtf(v + LAYERNORM_EPS);
        float *o = out + i * C;
        for (int c = 0; c < C; c++) { o[c] = (x[c] - m) * s * weight[c] + bias[c]; }
        mean[i] = m;
        rstd[i] = s;
    }
}

// inverts layernorm_forward. With n = (x - mean) * rstd and g = weight * dout:
//   dbias += dout, dweight += n * dout,
//   dx += rstd * (g - mean_c(g) - n * mean_c(g * n))
// (the two means are the gradient flowing through mean and rstd).
// Rows own their dinp; the dweight/dbias sums over rows are split by channel.
static void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                               const float *inp, const float *weight, const float *mean,
                               const float *rstd, int B, int T, int C) {
    size_t N = (size_t)B * T;
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        const float *x = inp + i * C;
        const float *d = dout + i * C;
        float *dx = dinp + i * C;
        float g_mean = 0.0f, gn_mean = 0.0f;
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
    const int block = 16;
    #pragma omp parallel for
    for (int c0 = 0; c0 < C; c0 += block) {
        int c1 = c0 + block < C ? c0 + block : C;
        for (size_t i = 0; i < N; i++) {
            const float *x = inp + i * C;
            const float *d = dout + i * C;
            for (int c = c0; c < c1; c++) {
                dbias[c] += d[c];
                dweight[c] += (x[c] - mean[i]) * rstd[i] * d[c];
            }
        }
    }
}

// All three products of a linear layer (forward, and the two of its backward)
// are one operation, C (M, N) += A (M, K) @ B (K, N), with A and B read
// through strides so that a transpose is just a different stride:
//   A[m,k] = a[m * a_rs + k * a_cs],  B[k,n] = b[k * b_rs + n * b_cs],
//   C[m,n] = c[m * N + n].
// How it is fast:
// 1. Register tile: a MATMUL_MR x MATMUL_NR block of C (6 x 16 floats, 12
//    vectors of 8) stays in registers while k runs; each step loads 16
//    values of B and 6 of A and does 96 multiply-adds, so the arithmetic,
//    not the memory, sets the pace. The vectors are GCC/Clang vector
//    extensions: plain C arithmetic on 8 floats at once, which the compiler
//    maps to AVX (or SSE, NEON, or scalar code where there is none).
// 2. Cache blocks: C is done in groups of 1024 columns, and for each group k
//    runs in blocks of MATMUL_KC. For one k block, the group is cut into
//    tiles of MATMUL_MC rows by one 16-column strip; a tile copies its strip
//    of B into a contiguous panel (KC x 16 = 16 KiB, stays in L1; this is
//    also where a transposed B becomes contiguous), its A block (MC x KC,
//    up to 504 KiB) stays in L2 while the tiles of a row block pass, and the
//    group of C (up to MC x 1024) stays in L2 from one k block to the next.
//    So even the classifier's 50304-wide products read each byte of A, B
//    and C from memory only a few times.
// 3. Threads share out the tiles of one k block: no two write the same
//    element of C, and every element adds its k blocks in the same order,
//    so the result is the same for any thread count.
#if defined(__AVX512F__)
#define MATMUL_VEC 16  // floats per vector register: 32 registers of 16 with AVX-512
#define MATMUL_MR 12   // 12 x 32 tile: 24 accumulators + 2 of B + 1 of A
#else
#define MATMUL_VEC 8   // 16 registers of 8 with AVX2 (and narrower or none elsewhere)
#define MATMUL_MR 6    // 6 x 16 tile: 12 accumulators + 2 of B + 1 of A
#endif
#define MATMUL_NR (2 * MATMUL_VEC)
#define MATMUL_KC 256
#define MATMUL_MC 504  // at most this many rows per row block (a multiple of 6 and 12)
#define MATMUL_NC_STRIPS 64  // strips of C per column group: 1024 columns
typedef float floatv __attribute__((vector_size(MATMUL_VEC * sizeof(float))));

// C[0:rows, 0:cols] += A[0:rows, 0:kc] @ panel (kc, MATMUL_NR)
static void matmul_micro_kernel(float *c, size_t ldc, const float *a, size_t a_rs, size_t a_cs,
                                const float *panel, int kc, int rows, int cols) {
    floatv acc[MATMUL_MR][2];
    memset(acc, 0, sizeof(acc));
    size_t row[MATMUL_MR];  // rows past `rows` re-read the last one; never stored
    for (int r = 0; r < MATMUL_MR; r++) { row[r] = (size_t)(r < rows ? r : rows - 1) * a_rs; }
    for (int k = 0; k < kc; k++) {
        floatv b0, b1;  // memcpy: unaligned vector loads
        memcpy(&b0, panel + (size_t)k * MATMUL_NR, sizeof(b0));
        memcpy(&b1, panel + (size_t)k * MATMUL_NR + MATMUL_VEC, sizeof(b1));
        const float *ak = a + (size_t)k * a_cs;
        for (int r = 0; r < MATMUL_MR; r++) {
            float ar = ak[row[r]];
            acc[r][0] += ar * b0;  // the scalar is broadcast to all lanes
            acc[r][1] += ar * b1;
        }
    }
    float tile[MATMUL_MR][MATMUL_NR];
    memcpy(tile, acc, sizeof(tile));
    for (int r = 0; r < rows; r++) {
        for (int j = 0; j < cols; j++) { c[(size_t)r * ldc + j] += tile[r][j]; }
    }
}

// C (M, N) += A (M, K) @ B (K, N), strided as described above
static void matmul_accumulate(float *c, const float *a, size_t a_rs, size_t a_cs, const float *b,
                              size_t b_rs, size_t b_cs, int M, int N, int K) {
    const int strips = (N + MATMUL_NR - 1) / MATMUL_NR;
    const int row_blocks = (M + MATMUL_MC - 1) / MATMUL_MC;
    // rows per block: as even as the blocks can be, in whole micro-tiles
    const int mc = ((M + row_blocks - 1) / row_blocks + MATMUL_MR - 1) / MATMUL_MR * MATMUL_MR;
    for (int s0 = 0; s0 < strips; s0 += MATMUL_NC_STRIPS) {
      const int group = strips - s0 < MATMUL_NC_STRIPS ? strips - s0 : MATMUL_NC_STRIPS;
      for (int k0 = 0; k0 < K; k0 += MATMUL_KC) {
        const int kc = K - k0 < MATMUL_KC ? K - k0 : MATMUL_KC;
        #pragma omp parallel for collapse(2) schedule(static)
        for (int rb = 0; rb < row_blocks; rb++) {
            for (int s = s0; s < s0 + group; s++) {
                float panel[MATMUL_KC * MATMUL_NR];
                const int n0 = s * MATMUL_NR;
                const int cols = N - n0 < MATMUL_NR ? N - n0 : MATMUL_NR;
                for (int k = 0; k < kc; k++) {  // pack, zero-filling a partial strip
                    for (int j = 0; j < MATMUL_NR; j++) {
                        panel[k * MATMUL_NR + j] =
                            j < cols ? b[(size_t)(k0 + k) * b_rs + (size_t)(n0 + j) * b_cs] : 0.0f;
                    }
                }
                const int m_end = (rb + 1) * mc < M ? (rb + 1) * mc : M;
                for (int m0 = rb * mc; m0 < m_end; m0 += MATMUL_MR) {
                    const int rows = m_end - m0 < MATMUL_MR ? m_end - m0 : MATMUL_MR;
                    matmul_micro_kernel(c + (size_t)m0 * N + n0, (size_t)N,
                                        a + (size_t)m0 * a_rs + (size_t)k0 * a_cs, a_rs, a_cs,
                                        panel, kc, rows, cols);
                }
            }
        }
      }
    }
}

// out = inp @ weight^T + bias: out[i,o] = bias[o] + sum_c inp[i,c] * weight[o,c]
// out (B,T,OC), inp (B,T,C), weight (OC,C), bias (OC) or NULL; overwrites out.
// (the plain triple loop this computes is kept in dev/cpu as the reference)
static void matmul_forward(float *out, const float *inp, const float *weight, const float *bias,
                           int B, int T, int C, int OC) {
    const size_t N = (size_t)B * T;
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        for (int o = 0; o < OC; o++) { out[i * OC + o] = bias != NULL ? bias[o] : 0.0f; }
    }
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
                out[i * OC + o] += s;
            }
        }
        return;
    }
    // A = inp (N, C); B[c,o] = weight[o,c]: weight read transposed
    matmul_accumulate(out, inp, (size_t)C, 1, weight, 1, (size_t)C, (int)N, OC, C);
}

// inverts matmul_forward:
//   dinp[i,c]    += sum_o dout[i,o] * weight[o,c]   (dout @ weight)
//   dweight[o,c] += sum_i dout[i,o] * inp[i,c]      (dout^T @ inp)
//   dbias[o]     += sum_i dout[i,o]                 (dbias may be NULL)
static void matmul_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                            const float *inp, const float *weight, int B, int T, int C, int OC) {
    const size_t N = (size_t)B * T;
    matmul_accumulate(dinp, dout, (size_t)OC, 1, weight, (size_t)C, 1, (int)N, C, OC);
    matmul_accumulate(dweight, dout, 1, (size_t)OC, inp, (size_t)C, 1, OC, C, (int)N);
    if (dbias != NULL) {
        // threads own blocks of 64 outputs o, and read dout row by row
        #pragma omp parallel for
        for (int o0 = 0; o0 < OC; o0 += 64) {
            int n = OC - o0 < 64 ? OC - o0 : 64;
            float db[64] = {0.0f};
            for (size_t i = 0; i < N; i++) {
                for (int j = 0; j < n; j++) { db[j] += dout[i * OC + o0 + j]; }
            }
            for (int j = 0; j < n; j++) { dbias[o0 + j] += db[j]; }
        }
    }
}

// One query's attention over n keys and values: the core of both attention
// forwards. k and v step by `stride` floats from key/value 0 to n-1.
//   a[t2] = softmax_t2(q . k_t2 * scale),  o = sum_t2 a[t2] v_t2
// o (hs) and a (n); overwrites both.
static void attention_row(float *o, float *a, const float *q, const float *k, const float *v,
                          size_t stride, int n, int hs, float scale) {
    // scores, and their max (started from the first score)
    float maxval = 0.0f;
    for (int t2 = 0; t2 < n; t2++) {
        const float *kt = k + (size_t)t2 * stride;
        float s = 0.0f;
        #pragma omp simd reduction(+ : s)
        for (int i = 0; i < hs; i++) { s += q[i] * kt[i]; }
        s *= scale;
        a[t2] = s;
        if (t2 == 0 || s > maxval) { maxval = s; }
    }
    // softmax: subtract the max so exp never overflows
    float sum = 0.0f;
    for (int t2 = 0; t2 < n; t2++) {
        a[t2] = exp_fast(a[t2] - maxval);
        sum += a[t2];
    }
    float inv = 1.0f / sum;  // sum >= 1: the max term is exp(0)
    for (int t2 = 0; t2 < n; t2++) { a[t2] *= inv; }
    // weighted sum of the values
    for (int i = 0; i < hs; i++) { o[i] = 0.0f; }
    for (int t2 = 0; t2 < n; t2++) {
        const float *vt = v + (size_t)t2 * stride;
        for (int i = 0; i < hs; i++) { o[i] += a[t2] * vt[i]; }
    }
}

// Causal multi-head self-attention. inp (B,T,3C) holds q, k, v side by side,
// head h in channels [h*hs, (h+1)*hs) of each. For every (b,t,h):
//   att[t2] = softmax_{t2<=t}(q_t . k_t2 / sqrt(hs)),  att[t2 > t] = 0
//   out[b,t,h*hs:] = sum_{t2<=t} att[t2] * v_t2
// out (B,T,C), att (B,NH,T,T) saved for the backward; overwrites both.
static void attention_forward(float *out, float *att, const float *inp, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel for collapse(3)
    for (int b = 0; b < B; b++) {
        for (int t = 0; t < T; t++) {
            for (int h = 0; h < NH; h++) {
                const float *seq = inp + (size_t)b * T * C3 + (size_t)h * hs;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                attention_row(out + ((size_t)b * T + t) * C + (size_t)h * hs, a, seq + t * C3,
                              seq + C, seq + 2 * (size_t)C, C3, t + 1, hs, scale);
                for (int t2 = t + 1; t2 < T; t2++) { a[t2] = 0.0f; }
            }
        }
    }
}

// inverts attention_forward. Per (b,h,t), walking the forward backwards:
//   out = sum att[t2] v_t2   ->  datt[t2] += dout . v_t2,  dv_t2 += att[t2] * dout
//   att = softmax(s)         ->  ds[t2] = att[t2] * (datt[t2] - sum_t3 att[t3] datt[t3])
//   s = q . k_t2 / sqrt(hs)  ->  dq += ds[t2] k_t2 / sqrt(hs), dk_t2 += ds[t2] q / sqrt(hs)
// dinp (B,T,3C), datt (B,NH,T,T) is scratch of the same shape as att.
// dk and dv of a position t2 collect from every t >= t2, so threads own a
// whole (b,h): its head's channels of dinp, over all t, are theirs alone.
static void attention_backward(float *dinp, float *datt, const float *dout, const float *inp,
                               const float *att, int B, int T, int C, int NH) {
    const int hs = C / NH;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)hs);
    #pragma omp parallel for collapse(2)
    for (int b = 0; b < B; b++) {
        for (int h = 0; h < NH; h++) {
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float *da = datt + (((size_t)b * NH + h) * T + t) * T;
                const float *q = inp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                float *dq = dinp + ((size_t)b * T + t) * C3 + (size_t)h * hs;
                const float *d = dout + ((size_t)b * T + t) * C + (size_t)h * hs;
                // through the weighted sum of values
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *v = inp + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    float *dv = dinp + ((size_t)b * T + t2) * C3 + 2 * (size_t)C + (size_t)h * hs;
                    float s = 0.0f;
                    #pragma omp simd reduction(+ : s)
                    for (int i = 0; i < hs; i++) {
                        s += d[i] * v[i];
                        dv[i] += a[t2] * d[i];
                    }
                    da[t2] += s;
                }
                // through the softmax
                float dot = 0.0f;
                for (int t2 = 0; t2 <= t; t2++) { dot += a[t2] * da[t2]; }
                // through the scaled scores
                for (int t2 = 0; t2 <= t; t2++) {
                    const float *k = inp + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float *dk = dinp + ((size_t)b * T + t2) * C3 + C + (size_t)h * hs;
                    float ds = a[t2] * (da[t2] - dot) * scale;
                    for (int i = 0; i < hs; i++) {
                        dq[i] += ds * k[i];
                        dk[i] += ds * q[i];
                    }
                }
            }
        }
    }
}

// attention_forward for inference with a KV cache: n new positions
// pos0..pos0+n-1 of one sequence attend over every position so far. qkv (n,3C)
// holds the new rows' q, k, v; their k and v are first stored into kcache and
// vcache (maxT, C) at rows pos0..pos0+n-1, then new row t (position p =
// pos0+t) computes, per head, exactly attention_forward's row p (same sums
// in the same order):
//   att[t2] = softmax_{t2<=p}(q_p . k_t2 / sqrt(hs)),  out[t,h*hs:] = sum att[t2] v_t2
// out (n,C), att (n,NH,pos0+n) scratch; overwrites out. No backward.
// Threads own a (t,h): its channels of out and its row of att.
static void attention_forward_cached(float *out, float *att, float *kcache, float *vcache,
                                     const float *qkv, int pos0, int n, int C, int NH) {
    const int hs = C / NH, P = pos0 + n;
    const size_t C3 = 3 * (size_t)C;
    const float scale = 1.0f / sqrtf((float)hs);
    for (int t = 0; t < n; t++) {
        memcpy(kcache + (size_t)(pos0 + t) * C, qkv + t * C3 + C, (size_t)C * sizeof(float));
        memcpy(vcache + (size_t)(pos0 + t) * C, qkv + t * C3 + 2 * (size_t)C, (size_t)C * sizeof(float));
    }
    #pragma omp parallel for collapse(2)
    for (int t = 0; t < n; t++) {
        for (int h = 0; h < NH; h++) {
            attention_row(out + (size_t)t * C + (size_t)h * hs, att + ((size_t)t * NH + h) * P,
                          qkv + t * C3 + (size_t)h * hs, kcache + (size_t)h * hs,
                          vcache + (size_t)h * hs, (size_t)C, pos0 + t + 1, hs, scale);
        }
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

// inverts gelu_forward: with u and s as above (tanh u = 2s - 1, so 1 - tanh^2 u = 4 s (1 - s)),
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

// inverts residual_forward: the sum passes its gradient to both inputs
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
// losses (B,T), probs (B,T,Vp) with the padding set to 0, logits (B,T,Vp),
// targets (B,T); overwrites losses and probs. Loops run to V, never into Vp.
static void softmax_crossentropy_forward(float *losses, float *probs, const float *logits,
                                         const int *targets, int B, int T, int V, int Vp) {
    size_t N = (size_t)B * T;
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        const float *l = logits + i * Vp;
        float *p = probs + i * Vp;
        float maxval = l[0];
        #pragma omp simd reduction(max : maxval)
        for (int v = 1; v < V; v++) { maxval = l[v] > maxval ? l[v] : maxval; }
        for (int v = 0; v < V; v++) { p[v] = exp_fast(l[v] - maxval); }
        float sum = 0.0f;
        #pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) { sum += p[v]; }
        float inv = 1.0f / sum;
        for (int v = 0; v < V; v++) { p[v] *= inv; }
        for (int v = V; v < Vp; v++) { p[v] = 0.0f; }
        losses[i] = logf(sum) + maxval - l[targets[i]];
    }
}

// inverts softmax_crossentropy_forward: dlogits += (probs - onehot(target)) * dlosses.
// The padding columns get no gradient.
static void softmax_crossentropy_backward(float *dlogits, const float *dlosses, const float *probs,
                                          const int *targets, int B, int T, int V, int Vp) {
    size_t N = (size_t)B * T;
    #pragma omp parallel for
    for (size_t i = 0; i < N; i++) {
        float *dl = dlogits + i * Vp;
        const float *p = probs + i * Vp;
        float g = dlosses[i];
        for (int v = 0; v < V; v++) { dl[v] += p[v] * g; }
        dl[targets[i]] -= g;
    }
}

// ----------------------------------------------------------------------------
// the model: configuration, and ONE table per group of tensors that gives
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

#define NUM_ACTIVATION_TENSORS 22
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
    float *logits;     // (B, T, Vp)
    float *probs;      // (B, T, Vp)
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
        {"logits",    offsetof(ActivationTensors, logits),    3, {B, T, Vp},        0, INIT_NONE, 0},
        {"probs",     offsetof(ActivationTensors, probs),     3, {B, T, Vp},        0, INIT_NONE, 0},
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

typedef struct {
    GPT2Config config;
    TensorSpec param_specs[NUM_PARAMETER_TENSORS];
    size_t num_parameters;
    ParameterTensors params;    // the weights
    ParameterTensors grads;     // their gradients, same layout
    float *params_memory;
    float *grads_memory;
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
    size_t bytes_allocated;     // everything above, for the bill check
} GPT2;

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
    TensorSpec specs[NUM_ACTIVATION_TENSORS];
    activation_specs(specs, &model->config, B, T);
    size_t n = layout_specs(specs, NUM_ACTIVATION_TENSORS);
    model->B_max = B;
    model->T_max = T;
    model->num_activations = n;
    model->acts_memory = (float *)callocCheck(n, sizeof(float));
    model->grads_acts_memory = (float *)callocCheck(n, sizeof(float));
    point_tensors(&model->acts, specs, NUM_ACTIVATION_TENSORS, model->acts_memory);
    point_tensors(&model->grads_acts, specs, NUM_ACTIVATION_TENSORS, model->grads_acts_memory);
    model->inputs = (int *)callocCheck((size_t)B * T, sizeof(int));
    model->targets = (int *)callocCheck((size_t)B * T, sizeof(int));
    model->bytes_allocated += 2 * n * sizeof(float) + 2 * (size_t)B * T * sizeof(int);
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

static LayerParams layer_params(const ParameterTensors *p, const GPT2Config *cfg, int l) {
    size_t C = cfg->channels;
    LayerParams lp;
    lp.ln1w = p->ln1w + l * C;
    lp.ln1b = p->ln1b + l * C;
    lp.qkvw = p->qkvw + l * 3 * C * C;
    lp.qkvb = p->qkvb + l * 3 * C;
    lp.attprojw = p->attprojw + l * C * C;
    lp.attprojb = p->attprojb + l * C;
    lp.ln2w = p->ln2w + l * C;
    lp.ln2b = p->ln2b + l * C;
    lp.fcw = p->fcw + l * 4 * C * C;
    lp.fcb = p->fcb + l * 4 * C;
    lp.fcprojw = p->fcprojw + l * C * 4 * C;
    lp.fcprojb = p->fcprojb + l * C;
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
    encoder_forward(a->encoded, inputs, p->wte, p->wpe, B, T, C);
    for (int l = 0; l < L; l++) {
        LayerParams lp = layer_params(p, cfg, l);
        LayerActs la = layer_acts(a, cfg, l, B, T);
        const float *residual = l == 0 ? a->encoded : layer_acts(a, cfg, l - 1, B, T).residual3;
        layernorm_forward(la.ln1, la.ln1_mean, la.ln1_rstd, residual, lp.ln1w, lp.ln1b, B, T, C);
        matmul_forward(la.qkv, la.ln1, lp.qkvw, lp.qkvb, B, T, C, 3 * C);
        attention_forward(la.atty, la.att, la.qkv, B, T, C, NH);
        matmul_forward(la.attproj, la.atty, lp.attprojw, lp.attprojb, B, T, C, C);
        residual_forward(la.residual2, residual, la.attproj, BT * C);
        layernorm_forward(la.ln2, la.ln2_mean, la.ln2_rstd, la.residual2, lp.ln2w, lp.ln2b, B, T, C);
        matmul_forward(la.fch, la.ln2, lp.fcw, lp.fcb, B, T, C, 4 * C);
        gelu_forward(la.fch_gelu, la.fch, BT * 4 * C);
        matmul_forward(la.fcproj, la.fch_gelu, lp.fcprojw, lp.fcprojb, B, T, 4 * C, C);
        residual_forward(la.residual3, la.residual2, la.fcproj, BT * C);
    }
    const float *last = layer_acts(a, cfg, L - 1, B, T).residual3;
    layernorm_forward(a->lnf, a->lnf_mean, a->lnf_rstd, last, p->lnfw, p->lnfb, B, T, C);
    // the LM head is the token embedding: logits = lnf @ wte^T (padding rows of wte are 0)
    matmul_forward(a->logits, a->lnf, p->wte, NULL, B, T, C, Vp);
}

// mean cross-entropy of the last forward's logits against targets (B, T);
// also leaves the probabilities and per-token losses for gpt2_backward
static float gpt2_loss(GPT2 *model, const int *targets) {
    const GPT2Config *cfg = &model->config;
    int B = model->B, T = model->T;
    size_t BT = (size_t)B * T;
    check_tokens(targets, BT, cfg->vocab_size, "targets");
    memcpy(model->targets, targets, BT * sizeof(int));
    ActivationTensors *a = &model->acts;
    softmax_crossentropy_forward(a->losses, a->probs, a->logits, targets, B, T, cfg->vocab_size,
                                 cfg->padded_vocab_size);
    double sum = 0.0;  // in order, in double: the same value for any thread count
    for (size_t i = 0; i < BT; i++) { sum += a->losses[i]; }
    return (float)(sum / (double)BT);
}

// Inference with a KV cache. Generating token by token, gpt2_forward would
// rerun every earlier position for each new token; but a position's keys and
// values depend only on the tokens up to it, so each layer keeps them, and a
// new token runs only its own row through the layers (one position's worth
// of matmuls) plus attention over the cached rows. Its tensors, for R rows
// per call and the model's maxT, come from one table like the activations.
#define NUM_CACHE_TENSORS 13
typedef struct {
    float *k;         // (L, maxT, C) keys of every cached position, per layer
    float *v;         // (L, maxT, C) values
    float *x;         // (R, C) residual stream of the rows being computed
    float *ln;        // (R, C) layernorm output (ln1, ln2, then lnf)
    float *mean;      // (R)
    float *rstd;      // (R)
    float *qkv;       // (R, 3*C)
    float *atty;      // (R, C)
    float *proj;      // (R, C) a projection's output, before the residual add
    float *fch;       // (R, 4*C)
    float *fch_gelu;  // (R, 4*C)
    float *att;       // (R, NH, maxT) attention weights (scratch)
    float *logits;    // (R, Vp) logits of the rows of the last call
} CacheTensors;

static void cache_specs(TensorSpec *specs, const GPT2Config *cfg, int R_) {
    size_t R = R_, C = cfg->channels, L = cfg->num_layers, NH = cfg->num_heads;
    size_t maxT = cfg->max_seq_len, Vp = cfg->padded_vocab_size;
    TensorSpec table[NUM_CACHE_TENSORS] = {
        {"k",        offsetof(CacheTensors, k),        3, {L, maxT, C}, 1, INIT_NONE, 0},
        {"v",        offsetof(CacheTensors, v),        3, {L, maxT, C}, 1, INIT_NONE, 0},
        {"x",        offsetof(CacheTensors, x),        2, {R, C},       0, INIT_NONE, 0},
        {"ln",       offsetof(CacheTensors, ln),       2, {R, C},       0, INIT_NONE, 0},
        {"mean",     offsetof(CacheTensors, mean),     1, {R},          0, INIT_NONE, 0},
        {"rstd",     offsetof(CacheTensors, rstd),     1, {R},          0, INIT_NONE, 0},
        {"qkv",      offsetof(CacheTensors, qkv),      2, {R, 3 * C},   0, INIT_NONE, 0},
        {"atty",     offsetof(CacheTensors, atty),     2, {R, C},       0, INIT_NONE, 0},
        {"proj",     offsetof(CacheTensors, proj),     2, {R, C},       0, INIT_NONE, 0},
        {"fch",      offsetof(CacheTensors, fch),      2, {R, 4 * C},   0, INIT_NONE, 0},
        {"fch_gelu", offsetof(CacheTensors, fch_gelu), 2, {R, 4 * C},   0, INIT_NONE, 0},
        {"att",      offsetof(CacheTensors, att),      3, {R, NH, maxT}, 0, INIT_NONE, 0},
        {"logits",   offsetof(CacheTensors, logits),   2, {R, Vp},      0, INIT_NONE, 0},
    };
    memcpy(specs, table, sizeof(table));
}

typedef struct {
    CacheTensors t;
    float *memory;
    int max_rows;               // R: the most positions one call computes
    int len;                    // positions cached: rows 0..len-1 of k and v are valid
    size_t positions_computed;  // positions run through the layers, over all calls
} KVCache;

// an empty cache for a model, computing up to max_rows positions per call
static void kv_cache_init(KVCache *cache, const GPT2Config *cfg, int max_rows) {
    memset(cache, 0, sizeof(*cache));
    TensorSpec specs[NUM_CACHE_TENSORS];
    cache_specs(specs, cfg, max_rows);
    size_t n = layout_specs(specs, NUM_CACHE_TENSORS);
    cache->memory = (float *)callocCheck(n, sizeof(float));
    point_tensors(&cache->t, specs, NUM_CACHE_TENSORS, cache->memory);
    cache->max_rows = max_rows;
}

static void kv_cache_free(KVCache *cache) {
    free(cache->memory);
    memset(cache, 0, sizeof(*cache));
}

// Runs positions pos_from..pos_to-1 of one sequence (tokens holds their
// pos_to - pos_from tokens) through the model, each layer on these rows
// only, attention also reading the cached keys and values of positions
// 0..pos_from-1. pos_from <= cache->len: a smaller pos_from forgets the cached
// positions from there on (0 starts a new sequence). The logits of the new
// rows go to cache->t.logits (n, Vp): gpt2_forward's rows pos_from..pos_to-1
// for tokens 0..pos_to-1, up to the order of float sums.
static void gpt2_forward_cached(GPT2 *model, KVCache *cache, const int *tokens, int pos_from,
                                int pos_to) {
    const GPT2Config *cfg = &model->config;
    int n = pos_to - pos_from;
    if (pos_from < 0 || pos_from > cache->len || n < 1 || n > cache->max_rows ||
        pos_to > cfg->max_seq_len) {
        die("gpt2_forward_cached: positions [%d, %d) do not fit a cache of %d positions (maxT=%d, "
            "at most %d per call)", pos_from, pos_to, cache->len, cfg->max_seq_len, cache->max_rows);
    }
    check_tokens(tokens, (size_t)n, cfg->vocab_size, "inputs");
    int C = cfg->channels, NH = cfg->num_heads, L = cfg->num_layers, Vp = cfg->padded_vocab_size;
    size_t layer_kv = (size_t)cfg->max_seq_len * C, nC = (size_t)n * C;
    const ParameterTensors *p = &model->params;
    CacheTensors *c = &cache->t;
    encoder_forward(c->x, tokens, p->wte, p->wpe + (size_t)pos_from * C, 1, n, C);
    for (int l = 0; l < L; l++) {
        LayerParams lp = layer_params(p, cfg, l);
        layernorm_forward(c->ln, c->mean, c->rstd, c->x, lp.ln1w, lp.ln1b, 1, n, C);
        matmul_forward(c->qkv, c->ln, lp.qkvw, lp.qkvb, 1, n, C, 3 * C);
        attention_forward_cached(c->atty, c->att, c->k + l * layer_kv, c->v + l * layer_kv, c->qkv,
                                 pos_from, n, C, NH);
        matmul_forward(c->proj, c->atty, lp.attprojw, lp.attprojb, 1, n, C, C);
        residual_forward(c->x, c->x, c->proj, nC);
        layernorm_forward(c->ln, c->mean, c->rstd, c->x, lp.ln2w, lp.ln2b, 1, n, C);
        matmul_forward(c->fch, c->ln, lp.fcw, lp.fcb, 1, n, C, 4 * C);
        gelu_forward(c->fch_gelu, c->fch, 4 * nC);
        matmul_forward(c->proj, c->fch_gelu, lp.fcprojw, lp.fcprojb, 1, n, 4 * C, C);
        residual_forward(c->x, c->x, c->proj, nC);
    }
    layernorm_forward(c->ln, c->mean, c->rstd, c->x, p->lnfw, p->lnfb, 1, n, C);
    matmul_forward(c->logits, c->ln, p->wte, NULL, 1, n, C, Vp);
    cache->len = pos_to;
    cache->positions_computed += (size_t)n;
}

// zeroes the parameter gradients (the only place they are zeroed)
static void gpt2_zero_grad(GPT2 *model) {
    memset(model->grads_memory, 0, model->num_parameters * sizeof(float));
}

// adds into the parameter gradients the gradient of loss_scale * sum of the
// per-token losses of the last gpt2_loss. loss_scale = 1/(B*T) gives the
// gradient of the mean loss; 1/(B*T*steps) averages over accumulation steps.
static void gpt2_backward(GPT2 *model, float loss_scale) {
    const GPT2Config *cfg = &model->config;
    int B = model->B, T = model->T;
    int C = cfg->channels, NH = cfg->num_heads, L = cfg->num_layers;
    int V = cfg->vocab_size, Vp = cfg->padded_vocab_size;
    size_t BT = (size_t)B * T;
    ParameterTensors *p = &model->params, *g = &model->grads;
    ActivationTensors *a = &model->acts, *ga = &model->grads_acts;
    // activation gradients are scratch for this one backward: start them at 0
    memset(model->grads_acts_memory, 0, model->num_activations * sizeof(float));
    for (size_t i = 0; i < BT; i++) { ga->losses[i] = loss_scale; }

    softmax_crossentropy_backward(ga->logits, ga->losses, a->probs, model->targets, B, T, V, Vp);
    matmul_backward(ga->lnf, g->wte, NULL, ga->logits, a->lnf, p->wte, B, T, C, Vp);
    const float *last = layer_acts(a, cfg, L - 1, B, T).residual3;
    float *dlast = layer_acts(ga, cfg, L - 1, B, T).residual3;
    layernorm_backward(dlast, g->lnfw, g->lnfb, ga->lnf, last, p->lnfw, a->lnf_mean, a->lnf_rstd,
                       B, T, C);
    for (int l = L - 1; l >= 0; l--) {
        LayerParams lp = layer_params(p, cfg, l), gp = layer_params(g, cfg, l);
        LayerActs la = layer_acts(a, cfg, l, B, T), gl = layer_acts(ga, cfg, l, B, T);
        const float *residual = l == 0 ? a->encoded : layer_acts(a, cfg, l - 1, B, T).residual3;
        float *dresidual = l == 0 ? ga->encoded : layer_acts(ga, cfg, l - 1, B, T).residual3;
        // the MLP half, last line of the forward first
        residual_backward(gl.residual2, gl.fcproj, gl.residual3, BT * C);
        matmul_backward(gl.fch_gelu, gp.fcprojw, gp.fcprojb, gl.fcproj, la.fch_gelu, lp.fcprojw,
                        B, T, 4 * C, C);
        gelu_backward(gl.fch, la.fch, gl.fch_gelu, BT * 4 * C);
        matmul_backward(gl.ln2, gp.fcw, gp.fcb, gl.fch, la.ln2, lp.fcw, B, T, C, 4 * C);
        layernorm_backward(gl.residual2, gp.ln2w, gp.ln2b, gl.ln2, la.residual2, lp.ln2w,
                           la.ln2_mean, la.ln2_rstd, B, T, C);
        // the attention half
        residual_backward(dresidual, gl.attproj, gl.residual2, BT * C);
        matmul_backward(gl.atty, gp.attprojw, gp.attprojb, gl.attproj, la.atty, lp.attprojw,
                        B, T, C, C);
        attention_backward(gl.qkv, gl.att, gl.atty, la.qkv, la.att, B, T, C, NH);
        matmul_backward(gl.ln1, gp.qkvw, gp.qkvb, gl.qkv, la.ln1, lp.qkvw, B, T, C, 3 * C);
        layernorm_backward(dresidual, gp.ln1w, gp.ln1b, gl.ln1, residual, lp.ln1w, la.ln1_mean,
                           la.ln1_rstd, B, T, C);
    }
    encoder_backward(g->wte, g->wpe, ga->encoded, model->inputs, B, T, C);
}

// the sum of squares of gradients [start, end). Fixed chunks summed in
// double, then the chunk sums added in order: the same bits for any number of
// threads.
static double gpt2_grad_sumsq(GPT2 *model, size_t start, size_t end) {
    size_t chunks = (end - start + NORM_CHUNK - 1) / NORM_CHUNK;
    const float *grads = model->grads_memory + start;
    double *partial = model->norm_partials;
    size_t n = end - start;
    #pragma omp parallel for
    for (size_t ch = 0; ch < chunks; ch++) {
        size_t stop = (ch + 1) * NORM_CHUNK < n ? (ch + 1) * NORM_CHUNK : n;
        double s = 0.0;
        for (size_t i = ch * NORM_CHUNK; i < stop; i++) { s += (double)grads[i] * grads[i]; }
        partial[ch] = s;
    }
    double total = 0.0;
    for (size_t ch = 0; ch < chunks; ch++) { total += partial[ch]; }
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

// AdamW, with decoupled weight decay on the matrices only (spec_decays):
//   g = grad * grad_scale
//   m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2
//   p -= lr * ( m / (1 - beta1^t) / (sqrt(v / (1 - beta2^t)) + eps) + wd * p )
// Only parameters [opt_start, opt_end) are updated (all, unless ZeRO-1).
static void gpt2_update(GPT2 *model, const AdamWArgs *args) {
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
}

// ----------------------------------------------------------------------------
// model files (llm.c's format): header, then every parameter in table order

static void config_to_header(int *header, const GPT2Config *c) {
    header[2] = c->max_seq_len;
    header[3] = c->vocab_size;
    header[4] = c->num_layers;
    header[5] = c->num_heads;
    header[6] = c->channels;
    header[7] = c->padded_vocab_size;
}

// the inverse of config_to_header, checked (source names the file in messages)
static void config_from_header(GPT2Config *c, const int *header, const char *source) {
    c->max_seq_len = header[2];
    c->vocab_size = header[3];
    c->num_layers = header[4];
    c->num_heads = header[5];
    c->channels = header[6];
    c->padded_vocab_size = header[7];
    check_config(c, source);
}

// reads and checks a model file's header: magic, version, shape, and that the
// file holds exactly the parameters the header implies. Returns the version.
static int read_model_header(GPT2Config *cfg, const char *path) {
    int header[HEADER_INTS];
    read_header(header, path, MODEL_MAGIC, "model file");
    int version = header[1];
    if (version != MODEL_VERSION_FP32 && version != MODEL_VERSION_BF16) {
        die("model file '%s' has version %d; this trainer reads %d (fp32) and %d (bf16)", path,
            version, MODEL_VERSION_FP32, MODEL_VERSION_BF16);
    }
    config_from_header(cfg, header, path);
    size_t bytes_per = version == MODEL_VERSION_FP32 ? 4 : 2;
    int64_t want = (int64_t)(HEADER_INTS * sizeof(int) + count_parameters(cfg) * bytes_per);
    int64_t got = file_size(path);
    if (got != want) {
        die("model file '%s' is %lld bytes but its header (L=%d C=%d V=%d) implies %lld: "
            "truncated or corrupt", path, (long long)got, cfg->num_layers, cfg->channels,
            cfg->vocab_size, (long long)want);
    }
    return version;
}

// builds the model from a model file (fp32, or bf16 widened to fp32)
static void gpt2_load(GPT2 *model, const char *path) {
    GPT2Config cfg;
    int version = read_model_header(&cfg, path);
    gpt2_init(model, &cfg);
    FILE *fp = fopenCheck(path, "rb");
    fseekCheck(fp, HEADER_INTS * sizeof(int), SEEK_SET);
    if (version == MODEL_VERSION_FP32) {
        freadCheck(model->params_memory, sizeof(float), model->num_parameters, fp);
    } else {
        // bf16 is the top half of an fp32: shift it back into place
        const size_t chunk = 1 << 16;
        uint16_t *buf = (uint16_t *)mallocCheck(chunk * sizeof(uint16_t));
        for (size_t i = 0; i < model->num_parameters; i += chunk) {
            size_t n = model->num_parameters - i < chunk ? model->num_parameters - i : chunk;
            freadCheck(buf, sizeof(uint16_t), n, fp);
            for (size_t j = 0; j < n; j++) {
                uint32_t bits = (uint32_t)buf[j] << 16;
                memcpy(&model->params_memory[i + j], &bits, sizeof(float));
            }
        }
        free(buf);
    }
    fcloseCheck(fp);
}

// writes the model file atomically (fp32, version 3: llm.c reads it as is)
static void gpt2_save(const GPT2 *model, const char *path) {
    int header[HEADER_INTS] = {0};
    header[0] = MODEL_MAGIC;
    header[1] = MODEL_VERSION_FP32;
    config_to_header(header, &model->config);
    AtomicFile out = atomic_open(path);  // PATH.tmp.PID, fsync, rename: never half a file
    fwriteCheck(header, sizeof(int), HEADER_INTS, out.f);
    fwriteCheck(model->params_memory, sizeof(float), model->num_parameters, out.f);
    atomic_commit(&out);
}

// ----------------------------------------------------------------------------
// data loader: token shards (llm.c's format) matched by a glob pattern, read
// one batch of B*T+1 tokens at a time (inputs are the first B*T, targets the
// same shifted by one). Sequential by default; with shuffling, the order of the
// shards and of the batches inside each shard is a permutation drawn from the
// seed and the epoch, so a position (epoch, shard, batch) is all a checkpoint
// needs to restore.

typedef struct {
    uint64_t epoch;      // full passes over the data so far
    uint64_t shard_pos;  // index into this epoch's shard order
    uint64_t batch_pos;  // index into this shard's batch order: the next batch
} LoaderPosition;

typedef struct {
    int B, T;
    int vocab_size;             // token ids must be below this
    int shuffle;
    uint64_t seed;
    size_t num_shards;
    char **paths;               // (num_shards)
    size_t *shard_batches;      // (num_shards) whole batches in each shard
    size_t total_batches;
    size_t *shard_order;        // (num_shards) this epoch's order of the shards
    size_t *batch_order;        // (max batches in a shard) order of the current shard's batches
    LoaderPosition pos;
    FILE *fp;                   // the current shard
    size_t fp_shard;            // which shard fp has open
    uint16_t *buffer;           // (B*T+1)
    int *inputs;                // (B, T)
    int *targets;               // (B, T)
} DataLoader;

static void permutation(size_t *order, size_t n, int shuffle, uint64_t seed) {
    for (size_t i = 0; i < n; i++) { order[i] = i; }
    if (!shuffle) { return; }
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = n; i > 1; i--) {  // Fisher-Yates
        size_t j = rng_below(&rng, i);
        size_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}

// puts the loader at a position: the shard order of its epoch, the batch
// order of its shard, and that shard's file open
static void loader_seek(DataLoader *dl, LoaderPosition pos) {
    if (pos.shard_pos >= dl->num_shards) {
        die("data loader position: shard %llu of %zu does not exist (was the checkpoint made "
            "with other data?)", (unsigned long long)pos.shard_pos, dl->num_shards);
    }
    uint64_t epoch_seed = dl->seed * 0x100000001B3ULL + pos.epoch;
    permutation(dl->shard_order, dl->num_shards, dl->shuffle, epoch_seed);
    size_t shard = dl->shard_order[pos.shard_pos];
    if (pos.batch_pos > dl->shard_batches[shard]) {
        die("data loader position: batch %llu is past the end of shard '%s'",
            (unsigned long long)pos.batch_pos, dl->paths[shard]);
    }
    permutation(dl->batch_order, dl->shard_batches[shard], dl->shuffle, epoch_seed * 31 + shard + 1);
    if (dl->fp == NULL || dl->fp_shard != shard) {
        if (dl->fp != NULL) { fcloseCheck(dl->fp); }
        dl->fp = fopenCheck(dl->paths[shard], "rb");
        dl->fp_shard = shard;
    }
    dl->pos = pos;
}

// opens every shard matching pattern, checks each one's header and size, and
// that each holds at least one batch
static void loader_init(DataLoader *dl, const char *pattern, int B, int T, int vocab_size,
                        int shuffle, uint64_t seed) {
    memset(dl, 0, sizeof(*dl));
    dl->B = B;
    dl->T = T;
    dl->vocab_size = vocab_size;
    dl->shuffle = shuffle;
    dl->seed = seed;
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        die("no token shards match '%s' (run `make data`, or give -i / -j)", pattern);
    }
    dl->num_shards = g.gl_pathc;
    dl->paths = (char **)mallocCheck(dl->num_shards * sizeof(char *));
    dl->shard_batches = (size_t *)mallocCheck(dl->num_shards * sizeof(size_t));
    size_t batch_tokens = (size_t)B * T, max_batches = 0;
    for (size_t i = 0; i < dl->num_shards; i++) {
        const char *path = g.gl_pathv[i];
        dl->paths[i] = strdup(path);
        if (dl->paths[i] == NULL) { die("out of memory"); }
        int header[HEADER_INTS];
        read_header(header, path, TOKENS_MAGIC, "token shard");
        if (header[1] != TOKENS_VERSION) {
            die("token shard '%s' has version %d, expected %d", path, header[1], TOKENS_VERSION);
        }
        if (header[2] < 0) { die("token shard '%s' has a negative token count", path); }
        size_t ntok = (size_t)header[2];
        int64_t want = (int64_t)(HEADER_INTS * sizeof(int) + ntok * sizeof(uint16_t));
        if (file_size(path) != want) {
            die("token shard '%s' is %lld bytes but its header says %zu tokens (%lld bytes): "
                "truncated or corrupt", path, (long long)file_size(path), ntok, (long long)want);
        }
        if (ntok < batch_tokens + 1) {
            die("token shard '%s' has %zu tokens, fewer than one batch needs (B*T+1 = %zu); "
                "use a smaller -b or -t", path, ntok, batch_tokens + 1);
        }
        dl->shard_batches[i] = (ntok - 1) / batch_tokens;
        dl->total_batches += dl->shard_batches[i];
        if (dl->shard_batches[i] > max_batches) { max_batches = dl->shard_batches[i]; }
    }
    globfree(&g);
    dl->shard_order = (size_t *)mallocCheck(dl->num_shards * sizeof(size_t));
    dl->batch_order = (size_t *)mallocCheck(max_batches * sizeof(size_t));
    dl->buffer = (uint16_t *)mallocCheck((batch_tokens + 1) * sizeof(uint16_t));
    dl->inputs = (int *)mallocCheck(batch_tokens * sizeof(int));
    dl->targets = (int *)mallocCheck(batch_tokens * sizeof(int));
    LoaderPosition start = {0, 0, 0};
    loader_seek(dl, start);
}

static void loader_reset(DataLoader *dl) {
    LoaderPosition start = {0, 0, 0};
    loader_seek(dl, start);
}

// reads the next batch into dl->inputs and dl->targets, moving on to the
// next shard, and the next epoch, at the ends
static void loader_next(DataLoader *dl) {
    LoaderPosition pos = dl->pos;
    if (pos.batch_pos >= dl->shard_batches[dl->shard_order[pos.shard_pos]]) {
        pos.batch_pos = 0;
        pos.shard_pos++;
        if (pos.shard_pos == dl->num_shards) {
            pos.shard_pos = 0;
            pos.epoch++;
        }
        loader_seek(dl, pos);
    }
    size_t shard = dl->shard_order[dl->pos.shard_pos];
    size_t batch = dl->batch_order[dl->pos.batch_pos];
    size_t n = (size_t)dl->B * dl->T;
    fseekCheck(dl->fp, (int64_t)(HEADER_INTS * sizeof(int) + batch * n * sizeof(uint16_t)), SEEK_SET);
    freadCheck(dl->buffer, sizeof(uint16_t), n + 1, dl->fp);
    for (size_t i = 0; i <= n; i++) {
        if (dl->buffer[i] >= dl->vocab_size) {
            die("token shard '%s': token id %d at position %zu is outside the model's "
                "vocabulary [0, %d): the data was made with another tokenizer?", dl->paths[shard],
                dl->buffer[i], batch * n + i, dl->vocab_size);
        }
    }
    for (size_t i = 0; i < n; i++) {
        dl->inputs[i] = dl->buffer[i];
        dl->targets[i] = dl->buffer[i + 1];
    }
    dl->pos.batch_pos++;
}

static void loader_free(DataLoader *dl) {
    if (dl->fp != NULL) { fcloseCheck(dl->fp); }
    for (size_t i = 0; i < dl->num_shards; i++) { free(dl->paths[i]); }
    free(dl->paths);
    free(dl->shard_batches);
    free(dl->shard_order);
    free(dl->batch_order);
    free(dl->buffer);
    free(dl->inputs);
    free(dl->targets);
    memset(dl, 0, sizeof(*dl));
}

// ----------------------------------------------------------------------------
// the tokenizer: tokenizer.c (included at the top) loads the file
// (tokenizer_load) and encodes prompts; decoding writes each token's bytes

// writes the bytes of token id to fp (or "<id>" for an id the vocabulary lacks)
static void tokenizer_print(const Tokenizer *tok, int id, FILE *fp) {
    if (tok == NULL || id < 0 || (size_t)id >= tok->vocab_size) {
        fprintf(fp, "<%d>", id);
        return;
    }
    fwriteCheck(token_bytes(tok, (size_t)id), 1, token_len(tok, (size_t)id), fp);
}

// ----------------------------------------------------------------------------
// sampling

// the k-th largest of x[0..n), 1 <= k <= n, by quickselect (Hoare's
// partition around a middle pivot, then only the side that holds it): O(n) on
// average where sorting all V logits for every sampled token was O(V log V).
// Reorders x.
static float kth_largest(float *x, int n, int k) {
    int lo = 0, hi = n - 1, want = k - 1;  // want: the index in descending order
    while (lo < hi) {
        float pivot = x[lo + (hi - lo) / 2];
        int i = lo, j = hi;
        while (i <= j) {  // afterwards x[lo..j] >= pivot >= x[i..hi], x[j+1..i-1] == pivot
            while (x[i] > pivot) { i++; }
            while (x[j] < pivot) { j--; }
            if (i <= j) {
                float t = x[i];
                x[i] = x[j];
                x[j] = t;
                i++;
                j--;
            }
        }
        if (want <= j) {
            hi = j;
        } else if (want >= i) {
            lo = i;
        } else {
            return x[want];
        }
    }
    return x[want];
}

// draws a token from the first V logits: temperature 0 is greedy, otherwise
// softmax(logits / temperature) restricted to the top_k largest (0 = all).
// scratch holds V floats.
static int sample_token(const float *logits, int V, float temperature, int top_k, float *scratch,
                        Rng *rng) {
    int best = 0;
    for (int v = 1; v < V; v++) { if (logits[v] > logits[best]) { best = v; } }
    if (temperature == 0.0f) { return best; }
    int use_top_k = top_k > 0 && top_k < V;
    float cutoff = logits[best];
    if (use_top_k) {
        memcpy(scratch, logits, (size_t)V * sizeof(float));
        cutoff = kth_largest(scratch, V, top_k);  // ties with the k-th largest are kept too
    }
    double sum = 0.0;
    for (int v = 0; v < V; v++) {
        if (!use_top_k || logits[v] >= cutoff) {
            sum += exp((logits[v] - logits[best]) / temperature);
        }
    }
    double coin = rng_uniform(rng) * sum, cdf = 0.0;
    for (int v = 0; v < V; v++) {
        if (!use_top_k || logits[v] >= cutoff) {
            cdf += exp((logits[v] - logits[best]) / temperature);
            if (coin < cdf) { return v; }
        }
    }
    return best;  // rounding left coin at the very top: the most likely token
}

// ----------------------------------------------------------------------------
// generation: continue a sequence token by token (./train --prompt)
//
// With the KV cache, each new token runs one position through the model
// (gpt2_forward_cached). The context is at most maxT tokens, because the
// model has maxT position embeddings. When a new token would make it longer,
// it slides: the newest maxT/2 tokens become the whole context and are run
// again from position 0 (their cached keys and values were computed at other
// positions, so they cannot be reused): one prefill of maxT/2 positions every
// maxT/2 tokens, at most 2 positions per token on average. Without the cache
// (use_cache 0, the reference) every token reruns gpt2_forward over the same
// context: both give the same logits, and the same tokens for a given seed.

#define PREFILL_ROWS 64  // positions per gpt2_forward_cached call while prefilling

typedef struct {
    int max_new;          // tokens to append
    float temperature;    // 0 = greedy
    int top_k;            // sample from the k most likely (0 = all)
    int use_cache;        // 0: rerun the whole context for each token
} GenerateArgs;

// the index where the context of a sequence of n tokens starts, given the
// start so far: the context slides by maxT/2 tokens when it exceeds maxT
static int context_start(int start, int n, int maxT) {
    int keep = maxT / 2 > 0 ? maxT / 2 : 1;
    return n - start > maxT ? n - keep : start;
}

// Appends args->max_new tokens to tokens[0..n) (which has room for them),
// sampled with rng and printed to out (decoded with tok, or as ids) as they
// come. 1 <= n <= maxT. Without the cache, model needs activations for 1 x
// maxT. Returns the number of positions run through the model.
static size_t generate(GPT2 *model, const Tokenizer *tok, int *tokens, int n,
                       const GenerateArgs *args, Rng *rng, FILE *out) {
    const GPT2Config *cfg = &model->config;
    int maxT = cfg->max_seq_len, V = cfg->vocab_size;
    size_t Vp = cfg->padded_vocab_size, computed = 0;
    if (n < 1 || n > maxT) { die("generate: %d tokens of context, expected 1..%d", n, maxT); }
    float *scratch = (float *)mallocCheck((size_t)V * sizeof(float));
    KVCache cache;
    if (args->use_cache) { kv_cache_init(&cache, cfg, PREFILL_ROWS < maxT ? PREFILL_ROWS : maxT); }
    int start = 0;   // the context is tokens[start..n)
    int cached = 0;  // its first `cached` tokens are in the KV cache
    for (int i = 0; i < args->max_new; i++) {
        int new_start = context_start(start, n, maxT);
        if (new_start != start) {
            start = new_start;
            cached = 0;
        }
        int len = n - start;
        const float *logits;
        if (args->use_cache) {
            int rows = 0;
            while (cached < len) {
                rows = len - cached < cache.max_rows ? len - cached : cache.max_rows;
                gpt2_forward_cached(model, &cache, tokens + start + cached, cached, cached + rows);
                cached += rows;
            }
            logits = cache.t.logits + (size_t)(rows - 1) * Vp;
        } else {
            gpt2_forward(model, tokens + start, 1, len);
            logits = model->acts.logits + (size_t)(len - 1) * Vp;
            computed += (size_t)len;
        }
        tokens[n] = sample_token(logits, V, args->temperature, args->top_k, scratch, rng);
        tokenizer_print(tok, tokens[n], out);
        if (tok == NULL) { fputc(' ', out); }
        fflush(out);
        n++;
    }
    if (args->use_cache) {
        computed = cache.positions_computed;
        kv_cache_free(&cache);
    }
    free(scratch);
    return computed;
}

// ----------------------------------------------------------------------------
// the run: flags, the bill, the training loop, checkpoints

typedef struct {
    const char *train_pattern;   // -i
    const char *val_pattern;     // -j
    const char *model;           // -e: a model file, or a preset d6/d12/d24/d36/d48
    const char *tokenizer;       // -k
    const char *output_dir;      // -o
    int B;                       // -b
    int T;                       // -t
    int total_batch;             // -d
    float lr;                    // -l
    int warmup;                  // -u
    float final_lr_frac;         // -q
    float weight_decay;          // -c
    int max_steps;               // -x
    int val_every;               // -v
    int val_batches;             // -m
    int sample_every;            // -s
    int gen_tokens;              // -g
    int ckpt_every;              // -n
    int resume;                  // -y
    float grad_clip;
    float beta1, beta2, eps;
    int seed;
    int vocab;
    int shuffle;
    float temperature;
    int top_k;
    int dry_run;
    int zero;                    // --zero: ZeRO-1 over MPI ranks
    const char *prompt;          // --prompt: continue this text, no training (NULL: train)
    int kv_cache;                // --kv-cache: 0 = generate without the KV cache
    int recompute;               // --recompute: ./train_gpu recomputes GELU and layernorm outputs
    const struct Backend *backend;  // NULL: the CPU (train.cu sets its own)
} RunConfig;

typedef enum { FLAG_INT, FLAG_FLOAT, FLAG_STRING, FLAG_SWITCH } FlagType;

typedef struct {
    const char *name;
    FlagType type;
    void *value;
    double min, max;  // inclusive range of a number
    const char *help;
} Flag;

#define NUM_FLAGS 34
// the one table of flags: parsing, range checks and -h all come from it
static void flag_table(Flag *flags, RunConfig *c) {
    Flag table[NUM_FLAGS] = {
        {"-i", FLAG_STRING, &c->train_pattern, 0, 0, "train token shards (glob pattern)"},
        {"-j", FLAG_STRING, &c->val_pattern, 0, 0, "val token shards (glob pattern)"},
        {"-e", FLAG_STRING, &c->model, 0, 0, "model file, or a preset d6|d12|d24|d36|d48 from scratch"},
        {"-k", FLAG_STRING, &c->tokenizer, 0, 0, "tokenizer file (decodes samples; V for presets)"},
        {"-o", FLAG_STRING, &c->output_dir, 0, 0, "output dir for log and checkpoints (\"\" = none)"},
        {"-b", FLAG_INT, &c->B, 1, 65536, "batch size B (sequences per micro-step)"},
        {"-t", FLAG_INT, &c->T, 1, 1 << 20, "sequence length T"},
        {"-d", FLAG_INT, &c->total_batch, 0, 2147483647.0, "tokens per step, a multiple of B*T (0 = B*T)"},
        {"-l", FLAG_FLOAT, &c->lr, 0, 10, "learning rate"},
        {"-u", FLAG_INT, &c->warmup, 0, 1e9, "warmup steps (linear, from lr/warmup)"},
        {"-q", FLAG_FLOAT, &c->final_lr_frac, 0, 1, "final lr as a fraction of -l (cosine decay)"},
        {"-c", FLAG_FLOAT, &c->weight_decay, 0, 10, "AdamW weight decay (matrices only)"},
        {"-x", FLAG_INT, &c->max_steps, -1, 1e9, "steps to train (-1 = one epoch)"},
        {"-v", FLAG_INT, &c->val_every, 0, 1e9, "val loss every N steps (0 = never)"},
        {"-m", FLAG_INT, &c->val_batches, 1, 1e9, "val batches per evaluation"},
        {"-s", FLAG_INT, &c->sample_every, 0, 1e9, "sample every N steps (0 = only at the end)"},
        {"-g", FLAG_INT, &c->gen_tokens, 0, 1e6, "tokens per sample (0 = no sampling)"},
        {"-n", FLAG_INT, &c->ckpt_every, 0, 1e9, "checkpoint every N steps (0 = only at the end)"},
        {"-y", FLAG_INT, &c->resume, 0, 1, "1 = resume from the latest checkpoint in -o"},
        {"--clip", FLAG_FLOAT, &c->grad_clip, 0, 1e9, "clip the global grad norm to this (0 = off)"},
        {"--beta1", FLAG_FLOAT, &c->beta1, 0, 0.9999999, "AdamW beta1"},
        {"--beta2", FLAG_FLOAT, &c->beta2, 0, 0.9999999, "AdamW beta2"},
        {"--eps", FLAG_FLOAT, &c->eps, 1e-30, 1, "AdamW epsilon"},
        {"--seed", FLAG_INT, &c->seed, 0, 2147483647.0, "random seed (init, shuffling, sampling)"},
        {"--vocab", FLAG_INT, &c->vocab, 1, 65536, "V for a preset when no tokenizer file is found"},
        {"--shuffle", FLAG_INT, &c->shuffle, 0, 1, "1 = shuffle shards and batches each epoch"},
        {"--temperature", FLAG_FLOAT, &c->temperature, 0, 100, "sampling temperature (0 = greedy)"},
        {"--top-k", FLAG_INT, &c->top_k, 0, 1 << 24, "sample from the k most likely (0 = all)"},
        {"--zero", FLAG_INT, &c->zero, 0, 1, "1 = ZeRO-1: shard AdamW state over MPI ranks"},
        {"--dry-run", FLAG_SWITCH, &c->dry_run, 0, 1, "print the configuration and the bill, then exit"},
        {"--prompt", FLAG_STRING, &c->prompt, 0, 0, "generate: continue this text by -g tokens (no training)"},
        {"--kv-cache", FLAG_INT, &c->kv_cache, 0, 1, "generate with the KV cache (0 = rerun the context per token)"},
        {"--recompute", FLAG_INT, &c->recompute, 0, 1, "train_gpu: 1 = recompute GELU and layernorm in the backward (less memory)"},
        {"-h", FLAG_SWITCH, NULL, 0, 1, "this help (also --help)"},
    };
    memcpy(flags, table, sizeof(table));
}

static void run_config_defaults(RunConfig *c) {
    memset(c, 0, sizeof(*c));
    c->train_pattern = "data/tinyshakespeare/gpt2_train_*.bin";
    c->val_pattern = "data/tinyshakespeare/gpt2_val_*.bin";
    c->model = "d6";
    c->tokenizer = "data/gpt2/tokenizer.bin";
    c->output_dir = "";
    c->B = 4;
    c->T = 64;
    c->total_batch = 0;
    c->lr = 3e-4f;
    c->warmup = 0;
    c->final_lr_frac = 1.0f;
    c->weight_decay = 0.0f;
    c->max_steps = -1;
    c->val_every = 20;
    c->val_batches = 20;
    c->sample_every = 0;
    c->gen_tokens = 64;
    c->ckpt_every = 0;
    c->resume = 0;
    c->grad_clip = 1.0f;
    c->beta1 = 0.9f;
    c->beta2 = 0.95f;
    c->eps = 1e-8f;
    c->seed = 1337;
    c->vocab = 50257;
    c->shuffle = 0;
    c->temperature = 1.0f;
    c->top_k = 0;
    c->dry_run = 0;
    c->zero = 0;
    c->prompt = NULL;
    c->kv_cache = 1;
    c->recompute = 0;
    c->backend = NULL;
}

static void print_usage(FILE *fp) {
    RunConfig defaults;
    run_config_defaults(&defaults);
    Flag flags[NUM_FLAGS];
    flag_table(flags, &defaults);
    fprintf(fp, "usage: ./train [flags]   (GPT-2 training on the CPU)\n\n");
    for (int i = 0; i < NUM_FLAGS; i++) {
        const Flag *f = &flags[i];
        char def[64] = "";
        switch (f->type) {
            case FLAG_INT: snprintf(def, sizeof(def), "%d", *(int *)f->value); break;
            case FLAG_FLOAT: snprintf(def, sizeof(def), "%g", *(float *)f->value); break;
            case FLAG_STRING:
                if (*(const char **)f->value == NULL) { snprintf(def, sizeof(def), "none"); break; }
                snprintf(def, sizeof(def), "\"%s\"", *(const char **)f->value);
                break;
            case FLAG_SWITCH: snprintf(def, sizeof(def), "off"); break;
        }
        fprintf(fp, "  %-14s %-52s default %s\n", f->name, f->help, def);
    }
}

// parses argv into c; 0 on success, 1 when -h was asked, and an error
// message and exit(1) on an unknown flag or a bad value
static int parse_args(RunConfig *c, int argc, char **argv) {
    run_config_defaults(c);
    Flag flags[NUM_FLAGS];
    flag_table(flags, c);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) { return 1; }
        const Flag *f = NULL;
        for (int k = 0; k < NUM_FLAGS; k++) {
            if (strcmp(arg, flags[k].name) == 0) { f = &flags[k]; }
        }
        if (f == NULL) {
            print_usage(stderr);
            die("unknown flag '%s' (see the list above)", arg);
        }
        if (f->type == FLAG_SWITCH) {
            *(int *)f->value = 1;
            continue;
        }
        if (i + 1 >= argc) { die("flag %s needs a value", arg); }
        const char *val = argv[++i];
        char *end = NULL;
        errno = 0;
        if (f->type == FLAG_STRING) {
            *(const char **)f->value = val;
        } else if (f->type == FLAG_INT) {
            long x = strtol(val, &end, 10);
            if (end == val || *end != '\0' || errno != 0 || x < f->min || x > f->max) {
                die("flag %s: '%s' is not an integer in [%.0f, %.0f]", arg, val, f->min, f->max);
            }
            *(int *)f->value = (int)x;
        } else {
            float x = strtof(val, &end);
            if (end == val || *end != '\0' || errno != 0 || !isfinite(x) || x < f->min || x > f->max) {
                die("flag %s: '%s' is not a number in [%g, %g]", arg, val, f->min, f->max);
            }
            *(float *)f->value = x;
        }
    }
    return 0;
}

// the bill of a run: what the model needs in memory and compute
typedef struct {
    size_t num_parameters;
    size_t param_bytes, grad_bytes, adam_bytes;  // adam: m and v
    size_t act_bytes, act_grad_bytes;
    size_t other_bytes;                          // token buffers, norm partial sums
    size_t total_bytes;
    double flops_per_token;  // forward + backward
    double flops_per_step;
} Bill;

// FLOPs: every weight that multiplies an activation costs 2 FLOPs per token
// forward and 4 backward (dinp and dweight): 6 per weight per token; that is
// wte (the LM head) and the four projection matrices of each layer, not the
// lookup tables, biases or gains. Attention adds q.k and att.v: 4*T*C per
// layer per token forward, twice that backward, 12*L*C*T in all (over the
// full T x T, the usual convention, though the causal mask skips half).
// With ZeRO-1 over `shards` ranks, each keeps at most ceil(N / shards) moments.
static Bill compute_bill(const GPT2Config *cfg, int B, int T, int grad_accum, int shards) {
    Bill b;
    size_t C = cfg->channels, L = cfg->num_layers;
    b.num_parameters = count_parameters(cfg);
    b.param_bytes = b.grad_bytes = b.num_parameters * sizeof(float);
    b.adam_bytes = 2 * ((b.num_parameters + shards - 1) / shards) * sizeof(float);
    b.act_bytes = b.act_grad_bytes = count_activations(cfg, B, T) * sizeof(float);
    size_t chunks = (b.num_parameters + NORM_CHUNK - 1) / NORM_CHUNK;
    b.other_bytes = chunks * sizeof(double) + 2 * (size_t)B * T * sizeof(int);
    b.total_bytes = b.param_bytes + b.grad_bytes + b.adam_bytes + b.act_bytes + b.act_grad_bytes +
                    b.other_bytes;
    double matmul_weights = (double)cfg->padded_vocab_size * C + (double)L * 12 * C * C;
    b.flops_per_token = 6.0 * matmul_weights + 12.0 * L * C * T;
    b.flops_per_step = b.flops_per_token * B * T * grad_accum;
    return b;
}

static void print_bytes_row(const char *what, size_t bytes) {
    printf("| %-28s | %16zu | %10.2f MiB |\n", what, bytes, (double)bytes / (1 << 20));
}

static void print_bill(const GPT2Config *cfg, int B, int T, int grad_accum, int shards) {
    Bill b = compute_bill(cfg, B, T, grad_accum, shards);
    char title[64];
    snprintf(title, sizeof(title), "the bill (B=%d, T=%d)", B, T);
    printf("+------------------------------+------------------+----------------+\n");
    printf("| %-28s | %16s | %14s |\n", title, "bytes", "");
    printf("+------------------------------+------------------+----------------+\n");
    printf("| %-28s | %16zu | %14s |\n", "parameters (count)", b.num_parameters, "");
    print_bytes_row("parameters", b.param_bytes);
    print_bytes_row("gradients", b.grad_bytes);
    print_bytes_row("AdamW moments (m, v)", b.adam_bytes);
    print_bytes_row("activations", b.act_bytes);
    print_bytes_row("activation gradients", b.act_grad_bytes);
    print_bytes_row("other (tokens, norm sums)", b.other_bytes);
    print_bytes_row("total", b.total_bytes);
    printf("| %-28s | %16.4g | %14s |\n", "FLOPs per token (fwd+bwd)", b.flops_per_token, "");
    printf("| %-28s | %16.4g | %14s |\n", "FLOPs per step", b.flops_per_step, "");
    printf("+------------------------------+------------------+----------------+\n");
}

// ----------------------------------------------------------------------------
// data-parallel ranks: MPI when built with `make MPI=1` (-DUSE_MPI), otherwise
// one rank and every collective below is the identity. Each rank computes
// B / nranks sequences of every batch; the gradients are summed over ranks.
// With ZeRO-1 (--zero 1) rank r keeps the AdamW moments of parameters
// [shard_start(r), shard_start(r + 1)) only, and updates only those.

typedef struct {
    int rank;    // this process, 0-based
    int nranks;  // processes in the run
} Comm;

static Comm g_comm = {0, 1};

static void comm_init(int *argc, char ***argv) {
#ifdef USE_MPI
    int provided;
    MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_comm.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_comm.nranks);
#else
    (void)argc;
    (void)argv;
#endif
}

static void comm_finish(void) {
#ifdef USE_MPI
    MPI_Finalize();
#endif
}

// the first parameter of rank r's shard (r = nranks gives n)
static size_t shard_start(size_t n, int r) {
    return n * (size_t)r / (size_t)g_comm.nranks;
}

#ifdef USE_MPI
static int mpi_count(size_t n) {
    if (n > (size_t)INT_MAX) { die("MPI: %zu floats in one message is more than MPI's int count", n); }
    return (int)n;
}

// the shards' counts, then their displacements (2 x nranks ints, to free),
// for the v-collectives
static int *shard_counts(size_t n) {
    int R = g_comm.nranks;
    int *counts = (int *)mallocCheck(2 * (size_t)R * sizeof(int));
    for (int r = 0; r < R; r++) {
        counts[r] = mpi_count(shard_start(n, r + 1) - shard_start(n, r));
        counts[R + r] = mpi_count(shard_start(n, r));
    }
    return counts;
}
#endif

static double comm_sum(double x) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) { MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD); }
#endif
    return x;
}

static int comm_broadcast_int(int x) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) { MPI_Bcast(&x, 1, MPI_INT, 0, MPI_COMM_WORLD); }
#endif
    return x;
}

static void comm_barrier(void) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) { MPI_Barrier(MPI_COMM_WORLD); }
#endif
}

// x (n floats) = the sum of every rank's x
static void comm_all_reduce(float *x, size_t n) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) {
        MPI_Allreduce(MPI_IN_PLACE, x, mpi_count(n), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    }
#else
    (void)x;
    (void)n;
#endif
}

// ZeRO-1: this rank's shard of x = the sum of that shard over every rank
// (the rest of x is left as scratch)
static void comm_reduce_scatter(float *x, size_t n) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) {
        int *counts = shard_counts(n), *displs = counts + g_comm.nranks;
        // in place, MPI leaves the result at the start of the buffer
        MPI_Reduce_scatter(MPI_IN_PLACE, x, counts, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        memmove(x + displs[g_comm.rank], x, (size_t)counts[g_comm.rank] * sizeof(float));
        free(counts);
    }
#else
    (void)x;
    (void)n;
#endif
}

// ZeRO-1: every rank's shard of x, copied to every rank
static void comm_all_gather(float *x, size_t n) {
#ifdef USE_MPI
    if (g_comm.nranks > 1) {
        int *counts = shard_counts(n), *displs = counts + g_comm.nranks;
        MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, counts, displs, MPI_FLOAT,
                       MPI_COMM_WORLD);
        free(counts);
    }
#else
    (void)x;
    (void)n;
#endif
}

// ZeRO-1: full (n floats, rank 0 only) = every rank's shard (its own `mine`)
static void comm_gather_shards(float *full, const float *mine, size_t n) {
#ifdef USE_MPI
    int *counts = shard_counts(n), *displs = counts + g_comm.nranks;
    MPI_Gatherv(mine, counts[g_comm.rank], MPI_FLOAT, full, counts, displs, MPI_FLOAT, 0,
                MPI_COMM_WORLD);
    free(counts);
#else
    memcpy(full, mine, n * sizeof(float));
#endif
}

// ----------------------------------------------------------------------------
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
    if (run->zero) {
        comm_reduce_scatter(m->grads_memory, m->num_parameters);
    } else {
        comm_all_reduce(m->grads_memory, m->num_parameters);
    }
}

static double cpu_grad_sumsq(Run *run) {
    return gpt2_grad_sumsq(&run->model, run->model.opt_start, run->model.opt_end);
}

static void cpu_update(Run *run, const AdamWArgs *args) {
    gpt2_update(&run->model, args);
    if (run->zero) { comm_all_gather(run->model.params_memory, run->model.num_parameters); }
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

static const Backend cpu_backend = {
    "cpu", cpu_setup, cpu_zero_grad, cpu_micro_step, cpu_reduce_grads, cpu_grad_sumsq,
    cpu_update, cpu_eval_loss, cpu_next_logits, cpu_nothing, cpu_nothing, cpu_nothing,
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

static void path_join(char *out, const char *dir, const char *fmt, int step) {
    char name[256];
    snprintf(name, sizeof(name), fmt, step);
    int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_MAX_LEN) { die("path too long: %s/%s", dir, name); }
}

// the training state beside a model file: everything else a resumed run
// needs. m and v are the full AdamW moments (num_parameters each).
static void state_save(const Run *run, const char *path, const float *m_full, const float *v_full) {
    const GPT2 *m = &run->model;
    int header[HEADER_INTS] = {0};
    header[0] = STATE_MAGIC;
    header[1] = STATE_VERSION;
    config_to_header(header, &m->config);
    header[8] = run->cfg.B;
    header[9] = run->cfg.T;
    header[10] = run->step;
    header[11] = run->cfg.shuffle;
    uint64_t words[6] = {run->rng.state, run->train.pos.epoch, run->train.pos.shard_pos,
                         run->train.pos.batch_pos, (uint64_t)m->num_parameters,
                         (uint64_t)run->cfg.seed};
    AtomicFile out = atomic_open(path);
    fwriteCheck(header, sizeof(int), HEADER_INTS, out.f);
    fwriteCheck(words, sizeof(uint64_t), 6, out.f);
    fwriteCheck(m_full, sizeof(float), m->num_parameters, out.f);
    fwriteCheck(v_full, sizeof(float), m->num_parameters, out.f);
    atomic_commit(&out);
}

// reads a state file; every rank keeps its shard of m and v
static void state_load(Run *run, const char *path) {
    GPT2 *m = &run->model;
    int header[HEADER_INTS], expect[HEADER_INTS] = {0};
    read_header(header, path, STATE_MAGIC, "training state file");
    if (header[1] != STATE_VERSION) {
        die("state file '%s' has version %d, expected %d", path, header[1], STATE_VERSION);
    }
    config_to_header(expect, &m->config);
    if (memcmp(header + 2, expect + 2, 6 * sizeof(int)) != 0) {
        die("state file '%s' belongs to another model shape than its model file", path);
    }
    if (header[8] != run->cfg.B || header[9] != run->cfg.T || header[11] != run->cfg.shuffle) {
        die("state file '%s' was written with -b %d -t %d --shuffle %d; resume with the same "
            "(given: -b %d -t %d --shuffle %d)", path, header[8], header[9], header[11],
            run->cfg.B, run->cfg.T, run->cfg.shuffle);
    }
    size_t n = m->num_parameters;
    int64_t want = (int64_t)(HEADER_INTS * sizeof(int) + 6 * sizeof(uint64_t) +
                             2 * n * sizeof(float));
    if (file_size(path) != want) { die("state file '%s' is truncated or corrupt", path); }
    uint64_t words[6];
    FILE *fp = fopenCheck(path, "rb");
    fseekCheck(fp, HEADER_INTS * sizeof(int), SEEK_SET);
    freadCheck(words, sizeof(uint64_t), 6, fp);
    if (words[4] != n) { die("state file '%s': parameter count differs", path); }
    if (words[5] != (uint64_t)run->cfg.seed && run->cfg.shuffle) {
        die("state file '%s' was written with --seed %llu; shuffled data needs the same seed",
            path, (unsigned long long)words[5]);
    }
    size_t lo = m->opt_start, count = m->opt_end - m->opt_start;
    int64_t data = (int64_t)(HEADER_INTS * sizeof(int) + 6 * sizeof(uint64_t));
    fseekCheck(fp, data + (int64_t)(lo * sizeof(float)), SEEK_SET);
    freadCheck(m->m_memory, sizeof(float), count, fp);
    fseekCheck(fp, data + (int64_t)((n + lo) * sizeof(float)), SEEK_SET);
    freadCheck(m->v_memory, sizeof(float), count, fp);
    fcloseCheck(fp);
    run->step = header[10];
    run->rng.state = words[0];
    LoaderPosition pos = {words[1], words[2], words[3]};
    loader_seek(&run->train, pos);
}

// the step of the newest state_*.bin in dir, or -1 when there is none
static int latest_checkpoint(const char *dir) {
    char pattern[PATH_MAX_LEN];
    int n = snprintf(pattern, sizeof(pattern), "%s/state_*.bin", dir);
    if (n < 0 || n >= PATH_MAX_LEN) { die("path too long: %s", dir); }
    glob_t g;
    int best = -1;
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *base = strrchr(g.gl_pathv[i], '/');
            int step = 0;
            if (sscanf(base != NULL ? base + 1 : g.gl_pathv[i], "state_%d.bin", &step) == 1 &&
                step > best) {
                best = step;
            }
        }
        globfree(&g);
    }
    return best;
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
    if (g_comm.rank == 0) {
        char path[PATH_MAX_LEN];
        path_join(path, run->cfg.output_dir, "model_%08d.bin", run->step);
        gpt2_save(m, path);
        path_join(path, run->cfg.output_dir, "state_%08d.bin", run->step);
        state_save(run, path, m_full, v_full);
        printf("checkpoint: %s/{model,state}_%08d.bin\n", run->cfg.output_dir, run->step);
        if (run->zero) {
            free(m_full);
            free(v_full);
        }
    }
    comm_barrier();  // no rank goes on (or resumes) before the files are there
}

// the model's shape for -e: read from a model file's header, or a preset with
// V from the tokenizer file (when there is one) or --vocab
static void resolve_model_config(GPT2Config *cfg, const RunConfig *c, const Tokenizer *tok) {
    int V = tok != NULL ? (int)tok->vocab_size : c->vocab;
    if (config_from_preset(cfg, c->model, V)) { return; }
    if (file_size(c->model) < 0) {
        die("-e '%s' is neither a model file nor a preset (d6, d12, d24, d36, d48)", c->model);
    }
    read_model_header(cfg, c->model);
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
    // rank 0 picks the checkpoint: every rank then reads the same files
    int resume_step = comm_broadcast_int(c->resume ? latest_checkpoint(c->output_dir) : -1);
    if (c->resume && resume_step < 0 && g_comm.rank == 0) {
        printf("resume: no checkpoint in '%s' yet, starting fresh\n", c->output_dir);
    }
    if (resume_step >= 0) {
        char path[PATH_MAX_LEN];
        path_join(path, c->output_dir, "model_%08d.bin", resume_step);
        gpt2_load(&run->model, path);
        if (g_comm.rank == 0) { printf("resume: from %s\n", path); }
    } else {
        GPT2Config mc;
        resolve_model_config(&mc, c, run->use_tokenizer ? &run->tokenizer : NULL);
        if (config_from_preset(&mc, c->model, mc.vocab_size)) {
            // the same seed on every rank: the same initial parameters
            gpt2_init(&run->model, &mc);
            gpt2_init_random(&run->model, &run->rng);
        } else {
            gpt2_load(&run->model, c->model);
        }
    }
    GPT2Config *mc = &run->model.config;
    if (run->use_tokenizer && run->tokenizer.vocab_size != (size_t)mc->vocab_size && g_comm.rank == 0) {
        fprintf(stderr, "warning: tokenizer has %zu tokens, the model %d\n",
                run->tokenizer.vocab_size, mc->vocab_size);
    }
    if (run->zero) {
        size_t n = run->model.num_parameters;
        gpt2_shard_optimizer(&run->model, shard_start(n, g_comm.rank), shard_start(n, g_comm.rank + 1));
    }
    size_t BT = (size_t)c->B * c->T;
    if (c->T > mc->max_seq_len) {
        die("-t %d is longer than the model's maxT=%d", c->T, mc->max_seq_len);
    }
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
        path_join(path, c->output_dir, "state_%08d.bin", resume_step);
        state_load(run, path);
        run->be->from_host(run);
    }
    if (c->output_dir[0] != '\0' && g_comm.rank == 0) {
        make_dirs(c->output_dir);
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
} StepResult;

// one optimizer step: grad_accum micro-steps of forward, loss and backward
// (this rank's slice of each batch), the gradients summed over ranks, then
// clipping and AdamW
static StepResult run_step(Run *run) {
    StepResult r;
    double t0 = now_seconds();
    const RunConfig *c = &run->cfg;
    const Backend *be = run->be;
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
    if (!isfinite(r.loss) || !isfinite(r.norm)) {
        die("step %d: loss %f, grad norm %f: training diverged (try a lower -l, or --clip)",
            run->step + 1, r.loss, r.norm);
    }
    r.lr = learning_rate(c, run->step, run->max_steps);
    AdamWArgs args = {r.lr, c->beta1, c->beta2, c->eps, c->weight_decay,
                      clip_scale(r.norm, c->grad_clip), run->step + 1};
    be->update(run, &args);
    run->step++;
    r.ms = 1000.0 * (now_seconds() - t0);
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

// with more than one rank: checks that every rank holds the same parameters
// (a hash of their bits) and says so; a mismatch is an error
static void check_ranks_agree(Run *run) {
    if (g_comm.nranks == 1) { return; }
    run->be->to_host(run);
    const unsigned char *bytes = (const unsigned char *)run->model.params_memory;
    uint64_t hash = 1469598103934665603ull;  // FNV-1a
    for (size_t i = 0; i < run->model.num_parameters * sizeof(float); i++) {
        hash = (hash ^ bytes[i]) * 1099511628211ull;
    }
    uint64_t lo = hash, hi = hash;
#ifdef USE_MPI
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
#endif
    if (lo != hi) {
        die("rank %d: the ranks' parameters differ (hashes %016llx to %016llx)", g_comm.rank,
            (unsigned long long)lo, (unsigned long long)hi);
    }
    if (g_comm.rank == 0) {
        printf("ranks: all %d hold the same parameters (hash %016llx)\n", g_comm.nranks,
               (unsigned long long)hash);
    }
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

// the bill without allocating anything: shape from the model header or the preset
static int dry_run(const RunConfig *c) {
    Tokenizer tok;
    int have_tok = file_size(c->tokenizer) >= 0;
    if (have_tok) { tokenizer_load(&tok, c->tokenizer); }
    GPT2Config mc;
    resolve_model_config(&mc, c, have_tok ? &tok : NULL);
    check_config(&mc, c->model);
    if (c->T > mc.max_seq_len) { die("-t %d is longer than the model's maxT=%d", c->T, mc.max_seq_len); }
    size_t BT = (size_t)c->B * c->T, total = c->total_batch == 0 ? BT : (size_t)c->total_batch;
    if (total % BT != 0) { die("-d %d is not a multiple of B*T = %zu", c->total_batch, BT); }
    printf("model %s: L=%d NH=%d C=%d V=%d Vp=%d maxT=%d\n", c->model, mc.num_layers,
           mc.num_heads, mc.channels, mc.vocab_size, mc.padded_vocab_size, mc.max_seq_len);
    print_bill(&mc, c->B, c->T, (int)(total / BT), 1);
    if (have_tok) { tokenizer_free(&tok); }
    return 0;
}

// --prompt: encodes the prompt with the tokenizer (a literal <|endoftext|> in
// it is the end-of-text token), prints it and then -g tokens of the model
// file's continuation as they come (--temperature, --top-k, --seed), and how
// long that took. On the CPU, with the KV cache unless --kv-cache 0.
static int generate_main(const RunConfig *c) {
    if (c->prompt[0] == '\0') {
        die("--prompt is empty: give the text to continue (\"<|endoftext|>\" starts a new document)");
    }
    GPT2Config preset;
    if (config_from_preset(&preset, c->model, 1)) {
        die("--prompt needs a trained model file for -e, not the preset '%s'", c->model);
    }
    if (file_size(c->model) < 0) { die("-e '%s': no such model file", c->model); }
    if (file_size(c->tokenizer) < 0) {
        die("--prompt needs a tokenizer file to encode the prompt: '%s' not found (give it with -k)",
            c->tokenizer);
    }
    Tokenizer tok;
    tokenizer_load(&tok, c->tokenizer);
    tokenizer_build_encoder(&tok);
    GPT2 model;
    gpt2_load(&model, c->model);
    const GPT2Config *mc = &model.config;
    if (tok.vocab_size > (size_t)mc->vocab_size) {
        die("the tokenizer '%s' has %zu tokens, the model '%s' only V=%d: they do not belong together",
            c->tokenizer, tok.vocab_size, c->model, mc->vocab_size);
    }
    Encoder enc;
    encoder_init(&enc, &tok);
    IdVec ids = {NULL, 0, 0};
    encode_split(&enc, (const uint8_t *)c->prompt, strlen(c->prompt), EOT_STRING, SEP_AS_EOT, &ids);
    encoder_free(&enc);
    if (ids.n > (size_t)mc->max_seq_len) {
        die("the prompt is %zu tokens, longer than the model's context of maxT=%d tokens: shorten it",
            ids.n, mc->max_seq_len);
    }
    int n = (int)ids.n;
    int *tokens = (int *)mallocCheck(((size_t)n + (size_t)c->gen_tokens) * sizeof(int));
    for (int i = 0; i < n; i++) { tokens[i] = (int)ids.ids[i]; }
    free(ids.ids);
    if (!c->kv_cache) { gpt2_alloc_activations(&model, 1, mc->max_seq_len); }
    Rng rng;
    rng_seed(&rng, (uint64_t)c->seed);
    GenerateArgs args = {c->gen_tokens, c->temperature, c->top_k, c->kv_cache};
    printf("generate: %s (L=%d C=%d maxT=%d), prompt of %d tokens + %d, temperature %g, top-k %d, "
           "seed %d\n---\n", c->model, mc->num_layers, mc->channels, mc->max_seq_len, n,
           c->gen_tokens, c->temperature, c->top_k, c->seed);
    for (int i = 0; i < n; i++) { tokenizer_print(&tok, tokens[i], stdout); }
    fflush(stdout);
    double t0 = now_seconds();
    size_t computed = generate(&model, &tok, tokens, n, &args, &rng, stdout);
    double dt = now_seconds() - t0;
    printf("\n---\n%d tokens in %.2f s (%.1f tokens/s), %zu positions computed (%s)\n",
           c->gen_tokens, dt, dt > 0 ? c->gen_tokens / dt : 0.0, computed,
           c->kv_cache ? "KV cache" : "--kv-cache 0: the whole context per token");
    free(tokens);
    gpt2_free(&model);
    tokenizer_free(&tok);
    return 0;
}

// the command line program on a backend (train.c's main: the CPU; train.cu's:
// CUDA). Rank 0 prints, logs, samples and writes checkpoints.
static int train_main(int argc, char **argv, const Backend *backend) {
    comm_init(&argc, &argv);
    RunConfig c;
    if (parse_args(&c, argc, argv) != 0) {
        if (g_comm.rank == 0) { print_usage(stdout); }
        comm_finish();
        return 0;
    }
    c.backend = backend;
    if (c.dry_run) {
        if (g_comm.rank == 0) { dry_run(&c); }
        comm_finish();
        return 0;
    }
    if (c.prompt != NULL) {
        if (g_comm.rank == 0) { generate_main(&c); }
        comm_finish();
        return 0;
    }
    Run run;
    run_init(&run, &c);
    if (g_comm.rank == 0) {
        print_run_config(&run, &run.model.config);
        print_bill(&run.model.config, run.B_local, c.T, run.grad_accum,
                   run.zero ? g_comm.nranks : 1);
    }
    size_t tokens_per_step = (size_t)c.B * c.T * run.grad_accum;
    double step_ms_sum = 0.0;  // this session's steps, for the ETA
    int first_step = run.step;
    while (run.step < run.max_steps) {
        if (c.val_every > 0 && run.step % c.val_every == 0) { run_validate(&run); }
        if (c.sample_every > 0 && run.step > 0 && run.step % c.sample_every == 0) { run_sample(&run); }
        StepResult r = run_step(&run);
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
            double flops = compute_bill(&run.model.config, c.B, c.T, run.grad_accum, 1).flops_per_step;
            snprintf(mfu, sizeof(mfu), " | mfu %.1f%%",
                     100.0 * flops / (r.ms / 1000.0) / (run.peak_flops * g_comm.nranks));
        }
        if (g_comm.rank == 0) {
            printf("step %d/%d | loss %.6f | lr %.2e | norm %.4f | ms %.1f | tok/s %.0f%s | eta %s\n",
                   run.step, run.max_steps, r.loss, r.lr, r.norm, r.ms, tok_s, mfu, eta);
            fflush(stdout);
        }
        if (run.log != NULL) {
            fprintf(run.log, "s:%d trl:%.6f lr:%.6e norm:%.6f ms:%.3f tok/s:%.1f\n", run.step,
                    r.loss, r.lr, r.norm, r.ms, tok_s);
            fflush(run.log);
        }
        if (c.ckpt_every > 0 && run.step % c.ckpt_every == 0 && run.step < run.max_steps) {
            run_checkpoint(&run);
        }
    }
    // the end: val loss, checkpoint, then a sample (after the checkpoint, so
    // the saved RNG is the one a resumed run would sample with at this step)
    if (c.val_every > 0) { run_validate(&run); }
    check_ranks_agree(&run);
    run_checkpoint(&run);
    run_sample(&run);
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
