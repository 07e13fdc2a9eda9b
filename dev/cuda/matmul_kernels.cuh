// dev/cuda/matmul_kernels.cuh: the matmul versions that matmul_forward.cu and
// matmul_backward.cu both time (one copy, included by both).
//
// Like train.c's matmul_accumulate, every product of a linear layer is one
// operation on strided operands, so a transpose is only a different stride:
//     C (M, N) = [C +] A (M, K) @ B (K, N) [+ bias (N)]
//     A[m,k] = a[m * a_rs + k * a_cs],  B[k,n] = b[k * b_rs + n * b_cs],
//     C[m,n] = c[m * N + n]  (row-major, written in fp32)
// One stride of each operand is 1 (the layouts a linear layer uses).
// forward:  out = inp @ weight^T + bias  A = inp (rs C, cs 1), B[c,o] = weight[o,c] (rs 1, cs C)
// dinp   += dout @ weight               A = dout (rs OC, cs 1), B = weight (rs C, cs 1)
// dweight += dout^T @ inp               A[o,i] = dout[i,o] (rs 1, cs OC), B = inp (rs C, cs 1)
//
// Versions:
//   1. naive: one thread per element of C, a dot product over K from global
//      memory (threadIdx.x runs along n, so the B loads and the C stores of a
//      warp are coalesced when b_cs = 1)
//   2. shared-memory tiles: a TILE x TILE block of C; each step stages a tile
//      of A and of B in shared memory, so every element loaded from global
//      memory is used TILE times (TILE = 16 at 256 threads, 32 at 1024)
//   3. register tiles: a 128 x 128 block of C per 256 threads, each thread
//      owning 8 x 8 elements in registers; each k step reads 8 values of A
//      and 8 of B from shared memory (four float4) for 64 FMAs. The tile loads pick the
//      thread order that makes consecutive threads read consecutive addresses
//      for either stride, so transposed operands stay coalesced.
//   4. tensor cores: bf16 operands, fp32 accumulation, through WMMA 16x16x16
//      fragments; 128 x 128 block of C per 8 warps, each warp 64 x 32 (4 x 2
//      fragments), K staged in steps of 32 through shared memory
//   5. cuBLASLt, fp32 (the yardstick of 1-3), bias fused as an epilogue
//   6. cuBLASLt, bf16 operands and fp32 output (the yardstick of 4)
#ifndef DEV_CUDA_MATMUL_KERNELS_CUH
#define DEV_CUDA_MATMUL_KERNELS_CUH

#include <mma.h>
#include <cublasLt.h>

typedef struct {
    float *c;
    const void *a, *b;   // float (versions 1-3, 5) or __nv_bfloat16 (4, 6)
    const float *bias;   // (N) or NULL
    size_t a_rs, a_cs, b_rs, b_cs;
    int M, N, K;
    int accumulate;      // 1: C += A @ B, 0: C = A @ B
} Gemm;

#define MM_NUM_VERSIONS 6
static const char *mm_names[] = {"", "naive", "smem tiles", "register tiles", "wmma bf16",
                                 "cuBLASLt fp32", "cuBLASLt bf16"};
static inline int mm_is_bf16(int version) { return version == 4 || version == 6; }
static inline int mm_is_yardstick(int version) { return version >= 5; }

__device__ __forceinline__ void gemm_store(const Gemm &g, int m, int n, float acc) {
    if (m < g.M && n < g.N) {
        float v = acc + (g.bias != NULL ? g.bias[n] : 0.0f);
        float *p = g.c + (size_t)m * g.N + n;
        *p = g.accumulate ? *p + v : v;
    }
}

// ---- version 1 ----------------------------------------------------------------
__global__ void matmul_kernel1(Gemm g) {
    const int n = blockIdx.x * blockDim.x + threadIdx.x;
    const int m = blockIdx.y * blockDim.y + threadIdx.y;
    if (m >= g.M || n >= g.N) { return; }
    const float *a = (const float *)g.a + (size_t)m * g.a_rs;
    const float *b = (const float *)g.b + (size_t)n * g.b_cs;
    float acc = 0.0f;
    for (int k = 0; k < g.K; k++) { acc += a[(size_t)k * g.a_cs] * b[(size_t)k * g.b_rs]; }
    gemm_store(g, m, n, acc);
}

// ---- version 2 ----------------------------------------------------------------
template <int TILE>
__global__ void matmul_kernel2(Gemm g) {
    __shared__ float As[TILE][TILE + 1], Bs[TILE][TILE + 1];  // +1: no bank conflicts down a column
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int m = blockIdx.y * TILE + ty, n = blockIdx.x * TILE + tx;
    const float *a = (const float *)g.a, *b = (const float *)g.b;
    float acc = 0.0f;
    for (int k0 = 0; k0 < g.K; k0 += TILE) {
        // As[ty][tx] = A[m, k0+tx], Bs[ty][tx] = B[k0+ty, n]; zeros past the edges
        As[ty][tx] = m < g.M && k0 + tx < g.K ? a[(size_t)m * g.a_rs + (size_t)(k0 + tx) * g.a_cs] : 0.0f;
        Bs[ty][tx] = k0 + ty < g.K && n < g.N ? b[(size_t)(k0 + ty) * g.b_rs + (size_t)n * g.b_cs] : 0.0f;
        __syncthreads();
        #pragma unroll
        for (int kk = 0; kk < TILE; kk++) { acc += As[ty][kk] * Bs[kk][tx]; }
        __syncthreads();  // before the next step overwrites the tiles
    }
    gemm_store(g, m, n, acc);
}

// ---- version 3 ----------------------------------------------------------------
#define MM3_BM 128
#define MM3_BN 128
#define MM3_BK 16
#define MM3_PAD 4        // rows of the k-major tiles are 132 floats: stores along k hit 8 banks, not 1
#define MM3_THREADS 256  // 16 x 16 threads, each 8 x 8 outputs

// Stages the (MM3_BK, ROWS) tile of an operand X, X[r, k] = x[r * rs + k * cs]
// for r in [r0, r0 + ROWS), k in [k0, k0 + BK), into s[k][r] (zeros past R, K).
// When k is the unit stride, consecutive threads take consecutive k; otherwise
// consecutive r: either way a warp's loads are contiguous runs.
template <int ROWS>
__device__ __forceinline__ void mm3_stage(float (*s)[ROWS + MM3_PAD], const float *x, size_t rs, size_t cs,
                                          int r0, int R, int k0, int K) {
    const int tid = threadIdx.x;
    #pragma unroll 1  // unrolled, all 16 addresses stay live across the k loop: 226 registers
    for (int j = 0; j < ROWS * MM3_BK / MM3_THREADS; j++) {
        const int e = tid + j * MM3_THREADS;
        const int r = cs == 1 ? e / MM3_BK : e % ROWS;
        const int k = cs == 1 ? e % MM3_BK : e / ROWS;
        const int gr = r0 + r, gk = k0 + k;
        s[k][r] = gr < R && gk < K ? x[(size_t)gr * rs + (size_t)gk * cs] : 0.0f;
    }
}

// Thread (tm, tn) owns rows tm*4 + {0..3} and 64 + tm*4 + {0..3}, and the same
// pattern of columns: its reads of a k row of the tiles are two float4 each,
// and the 16 threads along n read 256 contiguous bytes (no bank conflicts).
__device__ __forceinline__ int mm3_offset(int t, int i) { return (i < 4 ? 0 : 64) + t * 4 + (i & 3); }

__global__ void __launch_bounds__(MM3_THREADS) matmul_kernel3(Gemm g) {
    __shared__ __align__(16) float As[MM3_BK][MM3_BM + MM3_PAD];
    __shared__ __align__(16) float Bs[MM3_BK][MM3_BN + MM3_PAD];
    const int m0 = blockIdx.y * MM3_BM, n0 = blockIdx.x * MM3_BN;
    const int tm = threadIdx.x / 16, tn = threadIdx.x % 16;
    float acc[8][8];
    #pragma unroll
    for (int i = 0; i < 8; i++) {
        #pragma unroll
        for (int j = 0; j < 8; j++) { acc[i][j] = 0.0f; }
    }
    for (int k0 = 0; k0 < g.K; k0 += MM3_BK) {
        // A as rows m (stride a_rs) by k; B as rows n (stride b_cs) by k
        mm3_stage<MM3_BM>(As, (const float *)g.a, g.a_rs, g.a_cs, m0, g.M, k0, g.K);
        mm3_stage<MM3_BN>(Bs, (const float *)g.b, g.b_cs, g.b_rs, n0, g.N, k0, g.K);
        __syncthreads();
        #pragma unroll
        for (int k = 0; k < MM3_BK; k++) {
            // rows are 528 bytes and offsets multiples of 4 floats: 16-byte aligned
            float4 a0 = *(const float4 *)&As[k][tm * 4], a1 = *(const float4 *)&As[k][64 + tm * 4];
            float4 b0 = *(const float4 *)&Bs[k][tn * 4], b1 = *(const float4 *)&Bs[k][64 + tn * 4];
            const float ar[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
            const float br[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
            #pragma unroll
            for (int i = 0; i < 8; i++) {
                #pragma unroll
                for (int j = 0; j < 8; j++) { acc[i][j] += ar[i] * br[j]; }
            }
        }
        __syncthreads();  // before the next step overwrites the tiles
    }
    #pragma unroll
    for (int i = 0; i < 8; i++) {
        #pragma unroll
        for (int j = 0; j < 8; j++) { gemm_store(g, m0 + mm3_offset(tm, i), n0 + mm3_offset(tn, j), acc[i][j]); }
    }
}

// ---- version 4 ----------------------------------------------------------------
#define MM4_BM 128
#define MM4_BN 128
#define MM4_BK 32
#define MM4_PAD 8        // keeps rows 16-byte aligned, and shifts banks between rows
#define MM4_THREADS 256  // 8 warps: 2 along m (64 rows each) x 4 along n (32 columns each)
#define MM4_WM 64
#define MM4_WN 32

__global__ void __launch_bounds__(MM4_THREADS) matmul_kernel4(Gemm g) {
    using namespace nvcuda;
    // WMMA pointers must be 32-byte aligned: every fragment offset below is a
    // multiple of 16 elements along a row and of 16 rows
    __shared__ __align__(32) __nv_bfloat16 As[MM4_BM][MM4_BK + MM4_PAD];
    __shared__ __align__(32) __nv_bfloat16 Bs[MM4_BK][MM4_BN + MM4_PAD];
    __shared__ __align__(32) float stage[MM4_THREADS / WARP_SIZE][16 * 16];
    const __nv_bfloat16 *a = (const __nv_bfloat16 *)g.a, *b = (const __nv_bfloat16 *)g.b;
    const int tid = threadIdx.x, warp = tid / WARP_SIZE, lane = tid % WARP_SIZE;
    const int wm = warp / (MM4_BN / MM4_WN), wn = warp % (MM4_BN / MM4_WN);
    const int m0 = blockIdx.y * MM4_BM, n0 = blockIdx.x * MM4_BN;
    wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[MM4_WM / 16][MM4_WN / 16];
    #pragma unroll
    for (int i = 0; i < MM4_WM / 16; i++) {
        #pragma unroll
        for (int j = 0; j < MM4_WN / 16; j++) { wmma::fill_fragment(acc[i][j], 0.0f); }
    }
    const __nv_bfloat16 zero = __float2bfloat16(0.0f);
    for (int k0 = 0; k0 < g.K; k0 += MM4_BK) {
        // stage As[m][k] and Bs[k][n], thread order along the unit stride (see mm3_stage)
        // (not unrolled: unrolled, the compiler keeps all 32 addresses live across
        // the k loop, 255 registers and one block per SM)
        #pragma unroll 1
        for (int j = 0; j < MM4_BM * MM4_BK / MM4_THREADS; j++) {
            const int e = tid + j * MM4_THREADS;
            const int m = g.a_cs == 1 ? e / MM4_BK : e % MM4_BM;
            const int k = g.a_cs == 1 ? e % MM4_BK : e / MM4_BM;
            As[m][k] = m0 + m < g.M && k0 + k < g.K ? a[(size_t)(m0 + m) * g.a_rs + (size_t)(k0 + k) * g.a_cs] : zero;
        }
        #pragma unroll 1
        for (int j = 0; j < MM4_BK * MM4_BN / MM4_THREADS; j++) {
            const int e = tid + j * MM4_THREADS;
            const int n = g.b_cs == 1 ? e % MM4_BN : e / MM4_BK;
            const int k = g.b_cs == 1 ? e / MM4_BN : e % MM4_BK;
            Bs[k][n] = k0 + k < g.K && n0 + n < g.N ? b[(size_t)(k0 + k) * g.b_rs + (size_t)(n0 + n) * g.b_cs] : zero;
        }
        __syncthreads();
        #pragma unroll
        for (int kk = 0; kk < MM4_BK; kk += 16) {
            wmma::fragment<wmma::matrix_a, 16, 16, 16, __nv_bfloat16, wmma::row_major> fa[MM4_WM / 16];
            wmma::fragment<wmma::matrix_b, 16, 16, 16, __nv_bfloat16, wmma::row_major> fb[MM4_WN / 16];
            #pragma unroll
            for (int i = 0; i < MM4_WM / 16; i++) {
                wmma::load_matrix_sync(fa[i], &As[wm * MM4_WM + i * 16][kk], MM4_BK + MM4_PAD);
            }
            #pragma unroll
            for (int j = 0; j < MM4_WN / 16; j++) {
                wmma::load_matrix_sync(fb[j], &Bs[kk][wn * MM4_WN + j * 16], MM4_BN + MM4_PAD);
            }
            #pragma unroll
            for (int i = 0; i < MM4_WM / 16; i++) {
                #pragma unroll
                for (int j = 0; j < MM4_WN / 16; j++) { wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]); }
            }
        }
        __syncthreads();
    }
    // a fragment's element layout is opaque: store each one to this warp's
    // 16 x 16 staging tile, then lanes apply bias / accumulate element by element
    #pragma unroll
    for (int i = 0; i < MM4_WM / 16; i++) {
        #pragma unroll
        for (int j = 0; j < MM4_WN / 16; j++) {
            wmma::store_matrix_sync(stage[warp], acc[i][j], 16, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 16 * 16; e += WARP_SIZE) {
                gemm_store(g, m0 + wm * MM4_WM + i * 16 + e / 16, n0 + wn * MM4_WN + j * 16 + e % 16, stage[warp][e]);
            }
            __syncwarp();  // all lanes done reading before the next store
        }
    }
}

// ---- versions 5 and 6: cuBLASLt ------------------------------------------------
// cuBLASLt is column-major. Our row-major C (M, N) is a column-major (N, M)
// matrix, and C^T = B^T @ A^T, so cuBLASLt's "A" is our B and its "B" is our A:
//   Lt A (N x K): element (n, k) = B[k, n] = b[k*b_rs + n*b_cs]
//       b_cs == 1: column-major N x K with ld b_rs, no transpose
//       b_rs == 1: column-major K x N with ld b_cs, transposed
//   Lt B (K x M): element (k, m) = A[m, k] = a[m*a_rs + k*a_cs]
//       a_cs == 1: column-major K x M with ld a_rs, no transpose
//       a_rs == 1: column-major M x K with ld a_cs, transposed
//   D (N x M), ld N; the bias epilogue adds bias[n] to row n of D.
// The plan (descriptors and the chosen algorithm) is made once, outside the timing.

#ifdef LAB_EMU
#define MM_MAX_VERSION 4  // the CPU emulation has no cuBLASLt
#else
#define MM_MAX_VERSION MM_NUM_VERSIONS
#define LT_WORKSPACE_BYTES ((size_t)32 << 20)

typedef struct {
    cublasLtHandle_t handle;
    cublasLtMatmulDesc_t op;
    cublasLtMatrixLayout_t la, lb, lc;
    cublasLtMatmulAlgo_t algo;
    void *workspace;
    Gemm g;
} LtPlan;

static void lt_plan_make(LtPlan *p, cublasLtHandle_t handle, const Gemm *g, int bf16) {
    if ((g->a_cs != 1 && g->a_rs != 1) || (g->b_cs != 1 && g->b_rs != 1)) {
        die("cuBLASLt plan: one stride of each operand must be 1");
    }
    p->handle = handle;
    p->g = *g;
    cudaDataType_t in_type = bf16 ? CUDA_R_16BF : CUDA_R_32F;
    cublasCheck(cublasLtMatmulDescCreate(&p->op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
    cublasOperation_t ta = g->b_cs == 1 ? CUBLAS_OP_N : CUBLAS_OP_T;
    cublasOperation_t tb = g->a_cs == 1 ? CUBLAS_OP_N : CUBLAS_OP_T;
    cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
    cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
    if (g->bias != NULL) {
        cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
        cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
        cublasCheck(cublasLtMatmulDescSetAttribute(p->op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &g->bias,
                                                   sizeof(g->bias)));
    }
    if (g->b_cs == 1) {
        cublasCheck(cublasLtMatrixLayoutCreate(&p->la, in_type, g->N, g->K, (int64_t)g->b_rs));
    } else {
        cublasCheck(cublasLtMatrixLayoutCreate(&p->la, in_type, g->K, g->N, (int64_t)g->b_cs));
    }
    if (g->a_cs == 1) {
        cublasCheck(cublasLtMatrixLayoutCreate(&p->lb, in_type, g->K, g->M, (int64_t)g->a_rs));
    } else {
        cublasCheck(cublasLtMatrixLayoutCreate(&p->lb, in_type, g->M, g->K, (int64_t)g->a_cs));
    }
    cublasCheck(cublasLtMatrixLayoutCreate(&p->lc, CUDA_R_32F, g->N, g->M, g->N));
    cudaCheck(cudaMalloc(&p->workspace, LT_WORKSPACE_BYTES));
    cublasLtMatmulPreference_t pref;
    cublasCheck(cublasLtMatmulPreferenceCreate(&pref));
    size_t ws = LT_WORKSPACE_BYTES;
    cublasCheck(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)));
    cublasLtMatmulHeuristicResult_t result;
    int found = 0;
    cublasCheck(cublasLtMatmulAlgoGetHeuristic(handle, p->op, p->la, p->lb, p->lc, p->lc, pref, 1, &result, &found));
    if (found == 0) { die("cuBLASLt found no algorithm for M=%d N=%d K=%d (%s)", g->M, g->N, g->K, bf16 ? "bf16" : "fp32"); }
    p->algo = result.algo;
    cublasCheck(cublasLtMatmulPreferenceDestroy(pref));
}

static void lt_plan_run(const LtPlan *p) {
    const float one = 1.0f, zero = 0.0f;
    const float *beta = p->g.accumulate ? &one : &zero;
    cublasCheck(cublasLtMatmul(p->handle, p->op, &one, p->g.b, p->la, p->g.a, p->lb, beta, p->g.c, p->lc,
                               p->g.c, p->lc, &p->algo, p->workspace, LT_WORKSPACE_BYTES, 0));
}

static void lt_plan_free(LtPlan *p) {
    cublasCheck(cublasLtMatrixLayoutDestroy(p->la));
    cublasCheck(cublasLtMatrixLayoutDestroy(p->lb));
    cublasCheck(cublasLtMatrixLayoutDestroy(p->lc));
    cublasCheck(cublasLtMatmulDescDestroy(p->op));
    cudaCheck(cudaFree(p->workspace));
}
#endif  // LAB_EMU

// ---- dispatch -------------------------------------------------------------------

// the block sizes a version supports (0-terminated)
static const int *mm_block_sizes(int version) {
    static const int all[] = {64, 128, 256, 512, 1024, 0};
    static const int tiles[] = {256, 1024, 0};      // TILE 16 and 32
    static const int fixed[] = {MM3_THREADS, 0};    // versions 3 and 4: 256 threads
    static const int none[] = {0, 0};               // cuBLAS: its own choice (reported as 0)
    switch (version) {
        case 1: return all;
        case 2: return tiles;
        case 3: case 4: return fixed;
        default: return none;
    }
}

// runs version 1-4 of one product (5 and 6 go through an LtPlan)
static void gemm_launch(int version, int block_size, const Gemm &g) {
    switch (version) {
        case 1: {
            dim3 block(WARP_SIZE, block_size / WARP_SIZE);
            dim3 grid(ceil_div(g.N, block.x), ceil_div(g.M, block.y));
            LAUNCH(grid, block, 0, matmul_kernel1)(g);
            break;
        }
        case 2: {
            if (block_size == 256) {
                LAUNCH(dim3(ceil_div(g.N, 16), ceil_div(g.M, 16)), dim3(16, 16), 0, matmul_kernel2<16>)(g);
            } else {
                LAUNCH(dim3(ceil_div(g.N, 32), ceil_div(g.M, 32)), dim3(32, 32), 0, matmul_kernel2<32>)(g);
            }
            break;
        }
        case 3:
            LAUNCH(dim3(ceil_div(g.N, MM3_BN), ceil_div(g.M, MM3_BM)), MM3_THREADS, 0, matmul_kernel3)(g);
            break;
        case 4:
            LAUNCH(dim3(ceil_div(g.N, MM4_BN), ceil_div(g.M, MM4_BM)), MM4_THREADS, 0, matmul_kernel4)(g);
            break;
        default: die("gemm_launch: version %d is not a kernel of ours", version);
    }
    cudaCheck(cudaGetLastError());
}

// Tolerance of a product with K-term dot products against the fp32 CPU twin:
// fp32 rounding grows like eps * sqrt(K) * |typical element|: allow 2e-6 * sqrt(K)
// * rms(ref) (about 30 times that). bf16 operands carry a relative error of up to
// 2^-9 each, so each product term is off by ~0.4%, with random signs: the sum is
// off by ~0.4% of rms(ref) at most typically; allow 3% of rms(ref) and 1% relative.
static void mm_tolerance(int version, int K, const float *ref, size_t n, double *atol, double *rtol) {
    double r = rms(ref, n);
    if (mm_is_bf16(version)) { *atol = 3e-2 * r; *rtol = 1e-2; }
    else { *atol = 2e-6 * sqrt((double)K) * r; *rtol = 1e-5; }
}

// ---- dbias: column sums, deterministic -------------------------------------------
#define DB_ROWS 8     // row lanes of a block (32 x 8 threads)
#define DB_SLICES 64  // row slices: partial sums per column

// partial (slices, N): the column sums of dout (M, N) over the slice's rows
__global__ void matmul_dbias_colsum_kernel(float *partial, const float *dout, int M, int N) {
    __shared__ float s[DB_ROWS][WARP_SIZE];
    const int tx = threadIdx.x, ty = threadIdx.y, n = blockIdx.x * WARP_SIZE + tx;
    float acc = 0.0f;
    if (n < N) {
        for (int m = blockIdx.y * DB_ROWS + ty; m < M; m += gridDim.y * DB_ROWS) { acc += dout[(size_t)m * N + n]; }
    }
    s[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && n < N) {
        for (int r = 1; r < DB_ROWS; r++) { acc += s[r][tx]; }
        partial[(size_t)blockIdx.y * N + n] = acc;
    }
}

// dbias[n] += the slices' partials, in slice order
__global__ void matmul_dbias_final_kernel(float *dbias, const float *partial, int slices, int N) {
    int n = blockIdx.x * blockDim.x + threadIdx.x;
    if (n >= N) { return; }
    float acc = 0.0f;
    for (int s = 0; s < slices; s++) { acc += partial[(size_t)s * N + n]; }
    dbias[n] += acc;
}

// dbias (N) += sum over rows of dout (M, N); scratch holds DB_SLICES * N floats
static void matmul_dbias(float *dbias, const float *dout, int M, int N, float *scratch) {
    LAUNCH(dim3(ceil_div(N, WARP_SIZE), DB_SLICES), dim3(WARP_SIZE, DB_ROWS), 0, matmul_dbias_colsum_kernel)(
        scratch, dout, M, N);
    cudaCheck(cudaGetLastError());
    LAUNCH(ceil_div(N, 256), 256, 0, matmul_dbias_final_kernel)(dbias, scratch, DB_SLICES, N);
    cudaCheck(cudaGetLastError());
}

#endif  // DEV_CUDA_MATMUL_KERNELS_CUH
