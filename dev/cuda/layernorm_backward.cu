/*
dev/cuda/layernorm_backward.cu: the backward of layernorm_forward. With n = (x - mean) * rstd
and g = weight * dout, per row:
    dinp += rstd * (g - mean_c(g) - n * mean_c(g * n))
and over all rows:  dweight += sum n * dout,  dbias += sum dout
CPU twin: layernorm_backward in train.c (all three outputs are added into).
Memory bound; the yardstick is the measured copy bandwidth.

Versions:
  1. one thread per row for dinp, then one thread per channel for dweight and
     dbias (each walks all N rows): the CPU loops; only N and C threads run
  2. one warp per row (coalesced, shuffle reductions), the same warp adds its
     row's dweight and dbias terms into shared memory with atomics; at the end
     each block adds its sums into global memory with one atomic per channel.
     A single kernel, but float atomics make the sums' order vary from run to
     run (not deterministic)
  3. deterministic: one warp per row for dinp; dweight and dbias by a column
     reduction: blocks of 32 channels x 8 rows walk a fixed slice of the rows,
     combine their 8 row lanes in a fixed order and write one partial per slice;
     a last small kernel adds the partials in order. The same bits every run.
  4. deterministic and one pass (train.cu's layernorm_backward_kernel): one
     warp per row with the row (x and dout) in registers as 128-bit packs
     (Packed128, f128 here), and dweight's and dbias's terms added into the
     warp's own column sums in shared memory (a lane touches only its own
     channels: no atomics). Each block owns LNB4_ROWS rows and writes one
     partial row, the warps' sums in warp order; the final kernel of version
     3 adds the partials in block order. dout and inp are read once, where
     version 3 reads them twice (its column kernel reads both again)

    make -C dev/cuda layernorm_backward && ./dev/cuda/layernorm_backward [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"

#define LNB_COL_ROWS 8     // row lanes of a column-reduction block (32 x 8 threads)
#define LNB_SLICES 64      // row slices of version 3: partials per channel
#define LNB_MAX_BLOCKS_PER_SM 2  // version 2's grid: enough blocks to fill the GPU
#define LNB4_ROWS 64       // version 4: rows per block (one partial row per block)
#define LNB4_PACKS 8       // version 4: f128 packs per lane, C <= 32 * 4 * 8 = 1024
#define LNB4_SMEM 49152    // version 4: its per-warp sums must fit the default 48 KiB

// ----------------------------------------------------------------------------
// kernels. dinp, dout, inp (N, C); dweight, dbias, weight (C); mean, rstd (N)

__global__ void layernorm_backward_dinp_kernel1(float *dinp, const float *dout, const float *inp,
                                                const float *weight, const float *mean,
                                                const float *rstd, int N, int C) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) { return; }
    const float *x = inp + (size_t)i * C, *d = dout + (size_t)i * C;
    float m = mean[i], s = rstd[i], g_mean = 0.0f, gn_mean = 0.0f;
    for (int c = 0; c < C; c++) {
        float g = weight[c] * d[c];
        g_mean += g;
        gn_mean += g * (x[c] - m) * s;
    }
    g_mean /= C;
    gn_mean /= C;
    float *dx = dinp + (size_t)i * C;
    for (int c = 0; c < C; c++) { dx[c] += s * (weight[c] * d[c] - g_mean - (x[c] - m) * s * gn_mean); }
}

__global__ void layernorm_backward_params_kernel1(float *dweight, float *dbias, const float *dout,
                                                  const float *inp, const float *mean,
                                                  const float *rstd, int N, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) { return; }
    float dw = 0.0f, db = 0.0f;
    for (int i = 0; i < N; i++) {
        float d = dout[(size_t)i * C + c];
        db += d;
        dw += (inp[(size_t)i * C + c] - mean[i]) * rstd[i] * d;
    }
    dweight[c] += dw;
    dbias[c] += db;
}

// one warp's row: dinp += ...; when s_dw is not NULL, also adds the row's
// dweight and dbias terms into shared memory
__device__ void layernorm_backward_row(float *dinp, float *s_dw, float *s_db, const float *dout,
                                       const float *inp, const float *weight, const float *mean,
                                       const float *rstd, int i, int C) {
    const int lane = threadIdx.x % WARP_SIZE;
    const float *x = inp + (size_t)i * C, *d = dout + (size_t)i * C;
    const float m = mean[i], s = rstd[i];
    float g_mean = 0.0f, gn_mean = 0.0f;
    for (int c = lane; c < C; c += WARP_SIZE) {
        float g = weight[c] * d[c];
        g_mean += g;
        gn_mean += g * (x[c] - m) * s;
    }
    g_mean = warp_sum(g_mean) / C;
    gn_mean = warp_sum(gn_mean) / C;
    float *dx = dinp + (size_t)i * C;
    for (int c = lane; c < C; c += WARP_SIZE) {
        float n = (x[c] - m) * s;
        dx[c] += s * (weight[c] * d[c] - g_mean - n * gn_mean);
        if (s_dw != NULL) {
            atomicAdd(&s_dw[c], n * d[c]);
            atomicAdd(&s_db[c], d[c]);
        }
    }
}

// version 2: dynamic shared memory of 2*C floats; rows in a grid-stride loop
__global__ void layernorm_backward_kernel2(float *dinp, float *dweight, float *dbias, const float *dout,
                                           const float *inp, const float *weight, const float *mean,
                                           const float *rstd, int N, int C) {
    DYNAMIC_SMEM(smem_bytes);
    float *smem = (float *)smem_bytes;
    float *s_dw = smem, *s_db = smem + C;
    for (int c = threadIdx.x; c < 2 * C; c += blockDim.x) { smem[c] = 0.0f; }
    __syncthreads();
    const int warps = blockDim.x / WARP_SIZE;
    for (int i = blockIdx.x * warps + threadIdx.x / WARP_SIZE; i < N; i += gridDim.x * warps) {
        layernorm_backward_row(dinp, s_dw, s_db, dout, inp, weight, mean, rstd, i, C);
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        atomicAdd(&dweight[c], s_dw[c]);
        atomicAdd(&dbias[c], s_db[c]);
    }
}

// version 3, part 1: one warp per row, dinp only
__global__ void layernorm_backward_dinp_kernel3(float *dinp, const float *dout, const float *inp,
                                                const float *weight, const float *mean,
                                                const float *rstd, int N, int C) {
    int i = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE;
    if (i >= N) { return; }
    layernorm_backward_row(dinp, NULL, NULL, dout, inp, weight, mean, rstd, i, C);
}

// version 3, part 2: block (32, LNB_COL_ROWS), grid (ceil(C/32), slices).
// partial (slices, 2, C): the slice's sums of n * dout and of dout
__global__ void layernorm_backward_colsum_kernel(float *partial, const float *dout, const float *inp,
                                                 const float *mean, const float *rstd, int N, int C) {
    __shared__ float s_dw[LNB_COL_ROWS][WARP_SIZE], s_db[LNB_COL_ROWS][WARP_SIZE];
    const int tx = threadIdx.x, ty = threadIdx.y;
    const int c = blockIdx.x * WARP_SIZE + tx;
    float dw = 0.0f, db = 0.0f;
    if (c < C) {  // a warp reads 32 consecutive channels of one row: coalesced
        for (int i = blockIdx.y * LNB_COL_ROWS + ty; i < N; i += gridDim.y * LNB_COL_ROWS) {
            float d = dout[(size_t)i * C + c];
            db += d;
            dw += (inp[(size_t)i * C + c] - mean[i]) * rstd[i] * d;
        }
    }
    s_dw[ty][tx] = dw;
    s_db[ty][tx] = db;
    __syncthreads();
    if (ty == 0 && c < C) {
        for (int r = 1; r < LNB_COL_ROWS; r++) { dw += s_dw[r][tx]; db += s_db[r][tx]; }
        partial[((size_t)blockIdx.y * 2) * C + c] = dw;
        partial[((size_t)blockIdx.y * 2 + 1) * C + c] = db;
    }
}

// version 3, part 3: dweight, dbias += the partials, added in slice order
__global__ void layernorm_backward_final_kernel(float *dweight, float *dbias, const float *partial,
                                                int slices, int C) {
    int c = blockIdx.x * blockDim.x + threadIdx.x;
    if (c >= C) { return; }
    float dw = 0.0f, db = 0.0f;
    for (int s = 0; s < slices; s++) {
        dw += partial[((size_t)s * 2) * C + c];
        db += partial[((size_t)s * 2 + 1) * C + c];
    }
    dweight[c] += dw;
    dbias[c] += db;
}

// version 4: block of W warps, LNB4_ROWS rows; dynamic shared memory W * 2 * C
// floats (each warp's sums of n * dout and of dout); partial (blocks, 2, C)
__global__ void layernorm_backward_kernel4(float *dinp, float *partial, const float *dout, const float *inp,
                                           const float *weight, const float *mean, const float *rstd,
                                           int N, int C) {
    DYNAMIC_SMEM(smem_bytes);
    float *smem = (float *)smem_bytes;
    const int warps = blockDim.x / WARP_SIZE, warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    float *s_dw = smem + (size_t)warp * 2 * C, *s_db = s_dw + C;
    #pragma unroll
    for (int k = 0; k < LNB4_PACKS; k++) {  // zero this lane's own channels: no barrier needed
        int c = (k * WARP_SIZE + lane) * F128;
        for (int e = 0; c < C && e < F128; e++) { s_dw[c + e] = 0.0f; s_db[c + e] = 0.0f; }
    }
    const int r1 = ((int)blockIdx.x + 1) * LNB4_ROWS < N ? ((int)blockIdx.x + 1) * LNB4_ROWS : N;
    for (int i = blockIdx.x * LNB4_ROWS + warp; i < r1; i += warps) {
        f128 x[LNB4_PACKS], d[LNB4_PACKS];
        const float m = mean[i], s = rstd[i];
        float g_mean = 0.0f, gn_mean = 0.0f;
        #pragma unroll
        for (int k = 0; k < LNB4_PACKS; k++) {
            int c = (k * WARP_SIZE + lane) * F128;
            if (c < C) {
                x[k] = load128cs(inp + (size_t)i * C + c);
                d[k] = load128cs(dout + (size_t)i * C + c);
                f128 w = load128(weight + c);
                for (int e = 0; e < F128; e++) {
                    float g = w[e] * d[k][e];
                    g_mean += g;
                    gn_mean += g * (x[k][e] - m) * s;
                }
            }
        }
        g_mean = warp_sum(g_mean) / C;
        gn_mean = warp_sum(gn_mean) / C;
        #pragma unroll
        for (int k = 0; k < LNB4_PACKS; k++) {
            int c = (k * WARP_SIZE + lane) * F128;
            if (c < C) {
                f128 w = load128(weight + c), dx = load128(dinp + (size_t)i * C + c);
                for (int e = 0; e < F128; e++) {
                    float n = (x[k][e] - m) * s;
                    dx[e] += s * (w[e] * d[k][e] - g_mean - n * gn_mean);
                    s_dw[c + e] += n * d[k][e];
                    s_db[c + e] += d[k][e];
                }
                store128(dinp + (size_t)i * C + c, dx);
            }
        }
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
        float dw = 0.0f, db = 0.0f;
        for (int w = 0; w < warps; w++) { dw += smem[(size_t)w * 2 * C + c]; db += smem[(size_t)w * 2 * C + C + c]; }
        partial[((size_t)blockIdx.x * 2) * C + c] = dw;
        partial[((size_t)blockIdx.x * 2 + 1) * C + c] = db;
    }
}

// version 4's shared memory for blocks of block_size threads (0: too much)
static size_t layernorm_backward_smem4(int block_size, int C) {
    size_t smem = (size_t)(block_size / WARP_SIZE) * 2 * C * sizeof(float);
    return smem <= LNB4_SMEM ? smem : 0;
}

// ----------------------------------------------------------------------------
// launcher: the CPU twin's arguments, then N = B*T, and the scratch of
// versions 3 and 4: max(LNB_SLICES, ceil(N / LNB4_ROWS)) * 2 * C floats

static void layernorm_backward(int version, int block_size, float *dinp, float *dweight, float *dbias,
                               const float *dout, const float *inp, const float *weight, const float *mean,
                               const float *rstd, int N, int C, float *scratch, int num_sms) {
    const unsigned int rows_per_block = (unsigned int)block_size / WARP_SIZE;
    switch (version) {
        case 1:
            LAUNCH(ceil_div(N, block_size), block_size, 0, layernorm_backward_dinp_kernel1)(
                dinp, dout, inp, weight, mean, rstd, N, C);
            cudaCheck(cudaGetLastError());
            LAUNCH(ceil_div(C, block_size), block_size, 0, layernorm_backward_params_kernel1)(
                dweight, dbias, dout, inp, mean, rstd, N, C);
            break;
        case 2: {
            size_t smem = 2 * (size_t)C * sizeof(float);
            if (smem > 48 * 1024) { die("layernorm_backward v2: C=%d needs more than 48 KiB of shared memory", C); }
            unsigned int grid = std::min(ceil_div(N, rows_per_block), (unsigned int)(num_sms * LNB_MAX_BLOCKS_PER_SM));
            LAUNCH(grid, block_size, smem, layernorm_backward_kernel2)(dinp, dweight, dbias, dout, inp, weight,
                                                                  mean, rstd, N, C);
            break;
        }
        case 3: {
            LAUNCH(ceil_div(N, rows_per_block), block_size, 0, layernorm_backward_dinp_kernel3)(
                dinp, dout, inp, weight, mean, rstd, N, C);
            cudaCheck(cudaGetLastError());
            dim3 grid(ceil_div(C, WARP_SIZE), LNB_SLICES), block(WARP_SIZE, LNB_COL_ROWS);
            LAUNCH(grid, block, 0, layernorm_backward_colsum_kernel)(scratch, dout, inp, mean, rstd, N, C);
            cudaCheck(cudaGetLastError());
            LAUNCH(ceil_div(C, 256), 256, 0, layernorm_backward_final_kernel)(dweight, dbias, scratch, LNB_SLICES, C);
            break;
        }
        case 4: {
            if (C % F128 != 0 || C > WARP_SIZE * F128 * LNB4_PACKS) {
                die("layernorm_backward v4 needs C %% 4 == 0 and C <= %d, got C=%d", WARP_SIZE * F128 * LNB4_PACKS, C);
            }
            size_t smem = layernorm_backward_smem4(block_size, C);
            if (smem == 0) { die("layernorm_backward v4: %d threads need more than %d bytes of shared memory", block_size, LNB4_SMEM); }
            int blocks = ceil_div(N, LNB4_ROWS);
            LAUNCH(blocks, block_size, smem, layernorm_backward_kernel4)(dinp, scratch, dout, inp, weight, mean, rstd,
                                                                         N, C);
            cudaCheck(cudaGetLastError());
            LAUNCH(ceil_div(C, 256), 256, 0, layernorm_backward_final_kernel)(dweight, dbias, scratch, blocks, C);
            break;
        }
        default: die("layernorm_backward: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "layernorm_backward");
    const int B = LAB_SHAPE(8, 2), T = LAB_SHAPE(1024, 8), C = LAB_SHAPE(768, 200), N = B * T;
    const size_t NC = (size_t)N * C;
    float *inp = make_random(NC, 1.0f, 1), *dout = make_random(NC, 1.0f, 2);
    float *weight = make_random(C, 1.0f, 3), *bias = make_random(C, 1.0f, 4);
    float *dinp0 = make_random(NC, 1.0f, 5), *dw0 = make_random(C, 1.0f, 6), *db0 = make_random(C, 1.0f, 7);
    // the saved statistics, from train.c's forward
    float *out = (float *)mallocCheck(NC * 4);
    float *mean = (float *)mallocCheck((size_t)N * 4), *rstd = (float *)mallocCheck((size_t)N * 4);
    layernorm_forward(out, mean, rstd, inp, weight, bias, B, T, C);
    float *dinp_ref = (float *)mallocCheck(NC * 4), *dw_ref = (float *)mallocCheck(C * 4);
    float *db_ref = (float *)mallocCheck(C * 4);
    memcpy(dinp_ref, dinp0, NC * 4);
    memcpy(dw_ref, dw0, C * 4);
    memcpy(db_ref, db0, C * 4);
    layernorm_backward(dinp_ref, dw_ref, db_ref, dout, inp, weight, mean, rstd, B, T, C, 0);  // the CPU twin

    float *d_inp = to_device(inp, NC), *d_dout = to_device(dout, NC), *d_w = to_device(weight, C);
    float *d_mean = to_device(mean, N), *d_rstd = to_device(rstd, N);
    float *d_dinp = to_device(dinp0, NC), *d_dw = to_device(dw0, C), *d_db = to_device(db0, C);
    float *d_scratch = device_alloc<float>((size_t)std::max((unsigned int)LNB_SLICES, ceil_div(N, LNB4_ROWS)) * 2 * C);
    static const char *names[] = {"", "thread per row", "warp, smem atomics", "warp + column sums",
                                  "one pass, x128, partials"};
    const int block_sizes[] = {32, 64, 128, 256, 512, 1024};
    // bytes: dout and inp read, dinp read and written (it is added into)
    const double bytes = 4.0 * NC * 4 + 2.0 * N * 4;
    for (int v = 1; v <= 4; v++) {
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, v, bs)) { continue; }
            if (v == 4 && layernorm_backward_smem4(bs, C) == 0) { continue; }  // its sums do not fit
            reset_device(d_dinp, dinp0, NC);
            reset_device(d_dw, dw0, C);
            reset_device(d_db, db0, C);
            layernorm_backward(v, bs, d_dinp, d_dw, d_db, d_dout, d_inp, d_w, d_mean, d_rstd, N, C, d_scratch,
                               lab.prop.multiProcessorCount);
            char what[64];
            snprintf(what, sizeof(what), "v%d bs %d dinp", v, bs);
            validate(what, d_dinp, dinp_ref, NC, 1e-5, 1e-4);
            // dweight, dbias: sums over N = 8192 rows of O(1) terms, in float, in
            // another order than the CPU's: typically ~1e-4 apart, allow 5e-3
            snprintf(what, sizeof(what), "v%d bs %d dweight", v, bs);
            validate(what, d_dw, dw_ref, C, 5e-3, 1e-4);
            snprintf(what, sizeof(what), "v%d bs %d dbias", v, bs);
            validate(what, d_db, db_ref, C, 5e-3, 1e-4);
            float ms = lab_time(&lab, [&] {
                layernorm_backward(v, bs, d_dinp, d_dw, d_db, d_dout, d_inp, d_w, d_mean, d_rstd, N, C, d_scratch,
                                   lab.prop.multiProcessorCount);
            });
            lab_report(&lab, "fp32", v, names[v], bs, ms, bytes, PEAK_BANDWIDTH, 0);
        }
    }
    lab_summary(&lab);
    cudaCheck(cudaFree(d_inp)); cudaCheck(cudaFree(d_dout)); cudaCheck(cudaFree(d_w)); cudaCheck(cudaFree(d_mean));
    cudaCheck(cudaFree(d_rstd)); cudaCheck(cudaFree(d_dinp)); cudaCheck(cudaFree(d_dw)); cudaCheck(cudaFree(d_db));
    cudaCheck(cudaFree(d_scratch));
    free(inp); free(dout); free(weight); free(bias); free(dinp0); free(dw0); free(db0); free(out);
    free(mean); free(rstd); free(dinp_ref); free(dw_ref); free(db_ref);
    lab_free(&lab);
    return 0;
}
