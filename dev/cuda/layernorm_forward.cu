/*
dev/cuda/layernorm_forward.cu: the residual add fused into the layernorm after it
    residual = inp1 + inp2
    out = (residual - mean) * rstd * weight + bias,  mean and rstd saved per row
CPU twin: residual_forward, then layernorm_forward, from train.c. Memory bound:
fusing saves writing the residual and reading it back; the yardstick is the
measured copy bandwidth.

Versions:
  1. one thread per row (b,t): the loops of the CPU twin; neighbouring threads
     read addresses C floats apart (uncoalesced), and only B*T threads run
  2. one warp per row: lanes stride the channels (coalesced), shuffles reduce
     the sums; the residual is written, then read back twice (from L1/L2)
  3. one warp per row, the row kept in registers as float4 (C % 4 == 0,
     C <= 2048): the inputs are read once, the residual written once, and the
     two-pass variance costs no memory traffic

    make -C dev/cuda layernorm_forward && ./dev/cuda/layernorm_forward [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"

#define LN_MAX_VEC 16  // float4 per lane in version 3: C <= 32 * 4 * 16 = 2048

// ----------------------------------------------------------------------------
// kernels. All: residual, out (N, C); mean, rstd (N); inp1, inp2 (N, C); weight, bias (C)

__global__ void layernorm_forward_kernel1(float *residual, float *out, float *mean, float *rstd,
                                          const float *inp1, const float *inp2, const float *weight,
                                          const float *bias, int N, int C) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N) { return; }
    const float *a = inp1 + (size_t)i * C, *b = inp2 + (size_t)i * C;
    float *r = residual + (size_t)i * C;
    float m = 0.0f;
    for (int c = 0; c < C; c++) { r[c] = a[c] + b[c]; m += r[c]; }
    m /= C;
    float v = 0.0f;
    for (int c = 0; c < C; c++) { float d = r[c] - m; v += d * d; }
    float s = rsqrtf(v / C + LAYERNORM_EPS);
    float *o = out + (size_t)i * C;
    for (int c = 0; c < C; c++) { o[c] = (r[c] - m) * s * weight[c] + bias[c]; }
    mean[i] = m;
    rstd[i] = s;
}

__global__ void layernorm_forward_kernel2(float *residual, float *out, float *mean, float *rstd,
                                          const float *inp1, const float *inp2, const float *weight,
                                          const float *bias, int N, int C) {
    int i = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE;
    int lane = threadIdx.x % WARP_SIZE;
    if (i >= N) { return; }  // the whole warp leaves together
    const float *a = inp1 + (size_t)i * C, *b = inp2 + (size_t)i * C;
    float *r = residual + (size_t)i * C;
    float m = 0.0f;
    for (int c = lane; c < C; c += WARP_SIZE) { float x = a[c] + b[c]; r[c] = x; m += x; }
    m = warp_sum(m) / C;
    float v = 0.0f;  // each lane rereads only what it wrote itself: no barrier needed
    for (int c = lane; c < C; c += WARP_SIZE) { float d = r[c] - m; v += d * d; }
    float s = rsqrtf(warp_sum(v) / C + LAYERNORM_EPS);
    float *o = out + (size_t)i * C;
    for (int c = lane; c < C; c += WARP_SIZE) { o[c] = (r[c] - m) * s * weight[c] + bias[c]; }
    if (lane == 0) { mean[i] = m; rstd[i] = s; }
}

__global__ void layernorm_forward_kernel3(float *residual, float *out, float *mean, float *rstd,
                                          const float *inp1, const float *inp2, const float *weight,
                                          const float *bias, int N, int C) {
    int i = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE;
    int lane = threadIdx.x % WARP_SIZE;
    if (i >= N) { return; }
    const int C4 = C / 4;
    const float4 *a = (const float4 *)(inp1 + (size_t)i * C), *b = (const float4 *)(inp2 + (size_t)i * C);
    float4 *r = (float4 *)(residual + (size_t)i * C);
    float4 x[LN_MAX_VEC];  // fully unrolled loops with constant indices: registers, not local memory
    float m = 0.0f;
    #pragma unroll
    for (int j = 0; j < LN_MAX_VEC; j++) {
        int c4 = lane + j * WARP_SIZE;
        if (c4 < C4) {
            float4 p = a[c4], q = b[c4];
            x[j] = make_float4(p.x + q.x, p.y + q.y, p.z + q.z, p.w + q.w);
            r[c4] = x[j];
            m += (x[j].x + x[j].y) + (x[j].z + x[j].w);
        }
    }
    m = warp_sum(m) / C;
    float v = 0.0f;
    #pragma unroll
    for (int j = 0; j < LN_MAX_VEC; j++) {
        if (lane + j * WARP_SIZE < C4) {
            float dx = x[j].x - m, dy = x[j].y - m, dz = x[j].z - m, dw = x[j].w - m;
            v += dx * dx + dy * dy + dz * dz + dw * dw;
        }
    }
    float s = rsqrtf(warp_sum(v) / C + LAYERNORM_EPS);
    const float4 *w4 = (const float4 *)weight, *b4 = (const float4 *)bias;
    float4 *o = (float4 *)(out + (size_t)i * C);
    #pragma unroll
    for (int j = 0; j < LN_MAX_VEC; j++) {
        int c4 = lane + j * WARP_SIZE;
        if (c4 < C4) {
            float4 w = w4[c4], bb = b4[c4];
            o[c4] = make_float4((x[j].x - m) * s * w.x + bb.x, (x[j].y - m) * s * w.y + bb.y,
                                (x[j].z - m) * s * w.z + bb.z, (x[j].w - m) * s * w.w + bb.w);
        }
    }
    if (lane == 0) { mean[i] = m; rstd[i] = s; }
}

// ----------------------------------------------------------------------------
// launcher

static void residual_layernorm_forward(int version, int block_size, float *residual, float *out,
                                       float *mean, float *rstd, const float *inp1, const float *inp2,
                                       const float *weight, const float *bias, int N, int C) {
    const unsigned int rows_per_block = (unsigned int)block_size / WARP_SIZE;
    switch (version) {
        case 1:
            LAUNCH(ceil_div(N, block_size), block_size, 0, layernorm_forward_kernel1)(
                residual, out, mean, rstd, inp1, inp2, weight, bias, N, C);
            break;
        case 2:
            LAUNCH(ceil_div(N, rows_per_block), block_size, 0, layernorm_forward_kernel2)(
                residual, out, mean, rstd, inp1, inp2, weight, bias, N, C);
            break;
        case 3:
            if (C % 4 != 0 || C > 4 * WARP_SIZE * LN_MAX_VEC) {
                die("layernorm_forward v3 needs C %% 4 == 0 and C <= %d, got C=%d",
                    4 * WARP_SIZE * LN_MAX_VEC, C);
            }
            LAUNCH(ceil_div(N, rows_per_block), block_size, 0, layernorm_forward_kernel3)(
                residual, out, mean, rstd, inp1, inp2, weight, bias, N, C);
            break;
        default: die("layernorm_forward: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "layernorm_forward");
    const int B = LAB_SHAPE(8, 2), T = LAB_SHAPE(1024, 8), C = LAB_SHAPE(768, 200), N = B * T;
    const size_t NC = (size_t)N * C;
    float *inp1 = make_random(NC, 1.0f, 1), *inp2 = make_random(NC, 1.0f, 2);
    for (size_t i = 0; i < NC; i++) { inp1[i] += 0.5f; }  // a mean away from 0, as real rows have
    float *weight = make_random(C, 1.0f, 3), *bias = make_random(C, 1.0f, 4);
    float *res_ref = (float *)mallocCheck(NC * 4), *out_ref = (float *)mallocCheck(NC * 4);
    float *mean_ref = (float *)mallocCheck((size_t)N * 4), *rstd_ref = (float *)mallocCheck((size_t)N * 4);
    residual_forward(res_ref, inp1, inp2, NC);  // the CPU twin: two of train.c's layers
    layernorm_forward(out_ref, mean_ref, rstd_ref, res_ref, weight, bias, B, T, C);

    float *d_inp1 = to_device(inp1, NC), *d_inp2 = to_device(inp2, NC);
    float *d_w = to_device(weight, C), *d_b = to_device(bias, C);
    float *d_res = device_alloc<float>(NC), *d_out = device_alloc<float>(NC);
    float *d_mean = device_alloc<float>(N), *d_rstd = device_alloc<float>(N);
    static const char *names[] = {"", "thread per row", "warp per row", "warp, row in registers"};
    const int block_sizes[] = {32, 64, 128, 256, 512, 1024};
    // bytes: inp1 and inp2 read, residual and out written, mean and rstd written
    const double bytes = 4.0 * NC * 4 + 2.0 * N * 4;
    for (int v = 1; v <= 3; v++) {
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, v, bs)) { continue; }
            cudaCheck(cudaMemset(d_out, 0, NC * 4));
            cudaCheck(cudaMemset(d_res, 0, NC * 4));
            residual_layernorm_forward(v, bs, d_res, d_out, d_mean, d_rstd, d_inp1, d_inp2, d_w, d_b, N, C);
            char what[64];
            // sums of C terms in another order, rsqrtf (2 ulp): float rounding only
            snprintf(what, sizeof(what), "v%d bs %d residual", v, bs);
            validate(what, d_res, res_ref, NC, 0.0, 0.0);  // one add: exact
            snprintf(what, sizeof(what), "v%d bs %d out", v, bs);
            validate(what, d_out, out_ref, NC, 1e-5, 1e-4);
            snprintf(what, sizeof(what), "v%d bs %d mean", v, bs);
            validate(what, d_mean, mean_ref, N, 1e-6, 1e-5);
            snprintf(what, sizeof(what), "v%d bs %d rstd", v, bs);
            validate(what, d_rstd, rstd_ref, N, 1e-6, 1e-5);
            float ms = lab_time(&lab, [&] {
                residual_layernorm_forward(v, bs, d_res, d_out, d_mean, d_rstd, d_inp1, d_inp2, d_w, d_b, N, C);
            });
            lab_report(&lab, "fp32", v, names[v], bs, ms, bytes, PEAK_BANDWIDTH, 0);
        }
    }
    lab_summary(&lab);
    cudaCheck(cudaFree(d_inp1)); cudaCheck(cudaFree(d_inp2)); cudaCheck(cudaFree(d_w)); cudaCheck(cudaFree(d_b));
    cudaCheck(cudaFree(d_res)); cudaCheck(cudaFree(d_out)); cudaCheck(cudaFree(d_mean)); cudaCheck(cudaFree(d_rstd));
    free(inp1); free(inp2); free(weight); free(bias); free(res_ref); free(out_ref); free(mean_ref); free(rstd_ref);
    lab_free(&lab);
    return 0;
}
