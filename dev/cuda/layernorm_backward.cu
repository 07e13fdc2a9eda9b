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

    make -C dev/cuda layernorm_backward && ./dev/cuda/layernorm_backward [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"

#define LNB_COL_ROWS 8     // row lanes of a column-reduction block (32 x 8 threads)
#define LNB_SLICES 64      // row slices of version 3: partials per channel
#define LNB_MAX_BLOCKS_PER_SM 2  // version 2's grid: enough blocks to fill the GPU

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

// ----------------------------------------------------------------------------
// launcher: the CPU twin's arguments, then N = B*T, and version 3's scratch of
// LNB_SLICES * 2 * C floats

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
    layernorm_backward(dinp_ref, dw_ref, db_ref, dout, inp, weight, mean, rstd, B, T, C);  // the CPU twin

    float *d_inp = to_device(inp, NC), *d_dout = to_device(dout, NC), *d_w = to_device(weight, C);
    float *d_mean = to_device(mean, N), *d_rstd = to_device(rstd, N);
    float *d_dinp = to_device(dinp0, NC), *d_dw = to_device(dw0, C), *d_db = to_device(db0, C);
    float *d_scratch = device_alloc<float>((size_t)LNB_SLICES * 2 * C);
    static const char *names[] = {"", "thread per row", "warp, smem atomics", "warp + column sums"};
    const int block_sizes[] = {32, 64, 128, 256, 512, 1024};
    // bytes: dout and inp read, dinp read and written (it is added into)
    const double bytes = 4.0 * NC * 4 + 2.0 * N * 4;
    for (int v = 1; v <= 3; v++) {
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, v, bs)) { continue; }
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
