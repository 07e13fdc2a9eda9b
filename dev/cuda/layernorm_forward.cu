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
  4. version 3 as the bf16 trainer runs it (train.cu's
     residual_layernorm_forward_kernel): bf16 inputs and outputs, 8 bf16 per
     128-bit access (Packed128 from cuda_common.h), the inputs loaded
     cache-streaming; statistics in fp32. Half the bytes of version 3;
     checked against the CPU twin on the same bf16-rounded inputs (and
     residual), with the output's bf16 rounding allowed

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

// version 4: bf16, one warp per row, LN4_PACKS packs of 8 bf16 per lane
#define LN4_PACKS 8  // C <= 32 * 8 * 8 = 2048 (bf16)
typedef Packed128<__nv_bfloat16> bf128;
__global__ void layernorm_forward_kernel4(__nv_bfloat16 *residual, __nv_bfloat16 *out, float *mean, float *rstd,
                                          const __nv_bfloat16 *inp1, const __nv_bfloat16 *inp2,
                                          const __nv_bfloat16 *weight, const __nv_bfloat16 *bias, int N, int C) {
    const int P = bf128::size;  // bf16 per pack: 8 (4 with EMU_BF16=0's float bf16)
    int i = blockIdx.x * (blockDim.x / WARP_SIZE) + threadIdx.x / WARP_SIZE;
    int lane = threadIdx.x % WARP_SIZE;
    if (i >= N) { return; }
    bf128 x[LN4_PACKS];
    float m = 0.0f;
    #pragma unroll
    for (int k = 0; k < LN4_PACKS; k++) {
        int c = (k * WARP_SIZE + lane) * P;
        if (c < C) {
            bf128 a = load128cs(inp1 + (size_t)i * C + c), b = load128cs(inp2 + (size_t)i * C + c);
            for (int e = 0; e < P; e++) {
                x[k][e] = (__nv_bfloat16)((float)a[e] + (float)b[e]);  // rounded: what is stored
                m += (float)x[k][e];
            }
            store128(residual + (size_t)i * C + c, x[k]);
        }
    }
    m = warp_sum(m) / C;
    float v = 0.0f;
    #pragma unroll
    for (int k = 0; k < LN4_PACKS; k++) {
        if ((k * WARP_SIZE + lane) * P < C) {
            for (int e = 0; e < P; e++) { float d = (float)x[k][e] - m; v += d * d; }
        }
    }
    float s = rsqrtf(warp_sum(v) / C + LAYERNORM_EPS);
    #pragma unroll
    for (int k = 0; k < LN4_PACKS; k++) {
        int c = (k * WARP_SIZE + lane) * P;
        if (c < C) {
            bf128 w = load128(weight + c), b = load128(bias + c), o;
            for (int e = 0; e < P; e++) {
                o[e] = (__nv_bfloat16)(((float)x[k][e] - m) * s * (float)w[e] + (float)b[e]);
            }
            store128(out + (size_t)i * C + c, o);
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
    // version 4, bf16: the reference from the inputs rounded to bf16, the
    // residual rounded as the kernel stores it
    {
        const int P = bf128::size;
        if (C % P != 0 || C > WARP_SIZE * P * LN4_PACKS) {
            die("layernorm_forward v4 needs C %% %d == 0 and C <= %d, got C=%d", P, WARP_SIZE * P * LN4_PACKS, C);
        }
        float *a_r = make_rounded_bf16(inp1, NC), *b_r = make_rounded_bf16(inp2, NC);
        float *w_r = make_rounded_bf16(weight, C), *bb_r = make_rounded_bf16(bias, C);
        residual_forward(res_ref, a_r, b_r, NC);
        float *res_r = make_rounded_bf16(res_ref, NC);
        layernorm_forward(out_ref, mean_ref, rstd_ref, res_r, w_r, bb_r, B, T, C);
        __nv_bfloat16 *d_a = to_device_bf16(inp1, NC), *d_b2 = to_device_bf16(inp2, NC);
        __nv_bfloat16 *d_w4 = to_device_bf16(weight, C), *d_bias4 = to_device_bf16(bias, C);
        __nv_bfloat16 *d_res4 = device_alloc<__nv_bfloat16>(NC), *d_out4 = device_alloc<__nv_bfloat16>(NC);
        // bytes: inp1 and inp2 read, residual and out written (bf16), mean and rstd written
        const double bytes4 = 4.0 * NC * 2 + 2.0 * N * 4;
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, 4, bs)) { continue; }
            const unsigned int rows = (unsigned int)bs / WARP_SIZE;
            LAUNCH(ceil_div(N, rows), bs, 0, layernorm_forward_kernel4)(d_res4, d_out4, d_mean, d_rstd, d_a, d_b2,
                                                                       d_w4, d_bias4, N, C);
            cudaCheck(cudaGetLastError());
            char what[64];
            snprintf(what, sizeof(what), "v4 bs %d residual (bf16)", bs);
            validate(what, d_res4, res_r, NC, 0.0, 0.0);  // one add, rounded as the reference: exact
            snprintf(what, sizeof(what), "v4 bs %d out (bf16)", bs);
            validate(what, d_out4, out_ref, NC, 1e-5, 8e-3);
            snprintf(what, sizeof(what), "v4 bs %d mean", bs);
            validate(what, d_mean, mean_ref, N, 1e-6, 1e-5);
            snprintf(what, sizeof(what), "v4 bs %d rstd", bs);
            validate(what, d_rstd, rstd_ref, N, 1e-6, 1e-5);
            float ms = lab_time(&lab, [&] {
                LAUNCH(ceil_div(N, rows), bs, 0, layernorm_forward_kernel4)(d_res4, d_out4, d_mean, d_rstd, d_a,
                                                                           d_b2, d_w4, d_bias4, N, C);
            });
            lab_report(&lab, "bf16", 4, "warp, x128 bf16", bs, ms, bytes4, PEAK_BANDWIDTH, 0);
        }
        cudaCheck(cudaFree(d_a)); cudaCheck(cudaFree(d_b2)); cudaCheck(cudaFree(d_w4)); cudaCheck(cudaFree(d_bias4));
        cudaCheck(cudaFree(d_res4)); cudaCheck(cudaFree(d_out4));
        free(a_r); free(b_r); free(w_r); free(bb_r); free(res_r);
    }
    lab_summary(&lab);
    cudaCheck(cudaFree(d_inp1)); cudaCheck(cudaFree(d_inp2)); cudaCheck(cudaFree(d_w)); cudaCheck(cudaFree(d_b));
    cudaCheck(cudaFree(d_res)); cudaCheck(cudaFree(d_out)); cudaCheck(cudaFree(d_mean)); cudaCheck(cudaFree(d_rstd));
    free(inp1); free(inp2); free(weight); free(bias); free(res_ref); free(out_ref); free(mean_ref); free(rstd_ref);
    lab_free(&lab);
    return 0;
}
