/*
dev/cuda/gelu.cu: GELU (tanh approximation) forward and backward
    out = x s,  s = 1 / (1 + exp(-2u)) = 0.5 (1 + tanh u),  u = sqrt(2/pi) (x + 0.044715 x^3)
    dinp += dout (s + 2 x s (1 - s) du/dx)
CPU twins: gelu_forward and gelu_backward in train.c. Elementwise and memory
bound; the yardstick is the measured copy bandwidth.

Versions (each for the forward and the backward):
  1. one thread per element
  2. four elements per thread through 128-bit loads and stores (N % 4 == 0):
     a quarter of the memory instructions for the same bytes
  3. train.cu's gelu_forward_kernel and gelu_backward_kernel as the bf16
     trainer runs them: bf16 in and out, 8 elements per thread through one
     128-bit access per tensor (Packed128 from cuda_common.h), the math in
     fp32; a tail of N % 8 elements done one at a time by the last thread
     (checked on N - 3 elements). The backward overwrites dinp (train.cu's
     activation gradients are scratch) and runs in place, dinp == dout, as
     the trainer calls it; its inputs are loaded cache-streaming (their last
     use). train.cu launches both at 256 threads per block. Half the bytes
     of version 2 (and the backward reads no dinp); checked against the CPU
     twins on the same bf16-rounded inputs (the backward into zeros), with
     the output's bf16 rounding allowed

    make -C dev/cuda gelu && ./dev/cuda/gelu [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"

// ----------------------------------------------------------------------------
// the math, one element, the same expressions as train.c

__device__ __forceinline__ float gelu_value(float x) {
    float u = GELU_SCALE * (x + GELU_CUBIC * x * x * x);
    return x / (1.0f + expf(-2.0f * u));
}

__device__ __forceinline__ float gelu_grad(float x) {
    float u = GELU_SCALE * (x + GELU_CUBIC * x * x * x);
    float s = 1.0f / (1.0f + expf(-2.0f * u));
    float du = GELU_SCALE * (1.0f + 3.0f * GELU_CUBIC * x * x);
    return s + 2.0f * x * s * (1.0f - s) * du;
}

// ----------------------------------------------------------------------------
// kernels

__global__ void gelu_forward_kernel1(float *out, const float *inp, size_t N) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N) { out[i] = gelu_value(inp[i]); }
}

__global__ void gelu_forward_kernel2(float4 *out, const float4 *inp, size_t N4) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N4) { return; }
    float4 x = inp[i];
    out[i] = make_float4(gelu_value(x.x), gelu_value(x.y), gelu_value(x.z), gelu_value(x.w));
}

__global__ void gelu_backward_kernel1(float *dinp, const float *inp, const float *dout, size_t N) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < N) { dinp[i] += gelu_grad(inp[i]) * dout[i]; }
}

__global__ void gelu_backward_kernel2(float4 *dinp, const float4 *inp, const float4 *dout, size_t N4) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= N4) { return; }
    float4 x = inp[i], d = dout[i], g = dinp[i];
    g.x += gelu_grad(x.x) * d.x;
    g.y += gelu_grad(x.y) * d.y;
    g.z += gelu_grad(x.z) * d.z;
    g.w += gelu_grad(x.w) * d.w;
    dinp[i] = g;
}

// version 3: bf16, one thread per pack of P = 8 elements (4 under the
// emulation with EMU_BF16=0, where bf16 is float)
typedef Packed128<__nv_bfloat16> bf128;

// out = gelu(inp); overwrites. inp is loaded plainly: the backward reads it
// again (train.cu's fch), so it may as well stay in L2
__global__ void gelu_forward_kernel3(__nv_bfloat16 *out, const __nv_bfloat16 *inp, size_t N) {
    const int P = bf128::size;
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * P;
    if (i + P <= N) {
        bf128 x = load128(inp + i), o;
        for (int e = 0; e < P; e++) { o[e] = (__nv_bfloat16)gelu_value((float)x[e]); }
        store128(out + i, o);
    } else {  // the last thread's tail (or nothing, for threads past N)
        for (; i < N; i++) { out[i] = (__nv_bfloat16)gelu_value((float)inp[i]); }
    }
}

// dinp = gelu'(inp) * dout; overwrites, and dinp may be dout (each thread
// reads its pack before it writes it)
__global__ void gelu_backward_kernel3(__nv_bfloat16 *dinp, const __nv_bfloat16 *inp, const __nv_bfloat16 *dout,
                                      size_t N) {
    const int P = bf128::size;
    size_t i = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * P;
    if (i + P <= N) {
        bf128 x = load128cs(inp + i), d = load128cs(dout + i), o;
        for (int e = 0; e < P; e++) { o[e] = (__nv_bfloat16)(gelu_grad((float)x[e]) * (float)d[e]); }
        store128(dinp + i, o);
    } else {
        for (; i < N; i++) { dinp[i] = (__nv_bfloat16)(gelu_grad((float)inp[i]) * (float)dout[i]); }
    }
}

// version 3's launches: train.cu's grid, a thread per P elements, at any block size
static void gelu_forward3(int block_size, __nv_bfloat16 *out, const __nv_bfloat16 *inp, size_t N) {
    LAUNCH(ceil_div(N, (size_t)block_size * bf128::size), block_size, 0, gelu_forward_kernel3)(out, inp, N);
    cudaCheck(cudaGetLastError());
}

static void gelu_backward3(int block_size, __nv_bfloat16 *dinp, const __nv_bfloat16 *inp,
                           const __nv_bfloat16 *dout, size_t N) {
    LAUNCH(ceil_div(N, (size_t)block_size * bf128::size), block_size, 0, gelu_backward_kernel3)(dinp, inp, dout, N);
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// launchers: the CPU twins' argument order after the version and block size

static void check_vec4(int version, size_t N) {
    if (version == 2 && N % 4 != 0) { die("gelu v2 needs N %% 4 == 0, got %zu", N); }
}

static void gelu_forward(int version, int block_size, float *out, const float *inp, size_t N) {
    check_vec4(version, N);
    switch (version) {
        case 1: LAUNCH(ceil_div(N, block_size), block_size, 0, gelu_forward_kernel1)(out, inp, N); break;
        case 2: LAUNCH(ceil_div(N / 4, block_size), block_size, 0, gelu_forward_kernel2)((float4 *)out, (const float4 *)inp, N / 4); break;
        default: die("gelu_forward: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

static void gelu_backward(int version, int block_size, float *dinp, const float *inp, const float *dout, size_t N) {
    check_vec4(version, N);
    switch (version) {
        case 1: LAUNCH(ceil_div(N, block_size), block_size, 0, gelu_backward_kernel1)(dinp, inp, dout, N); break;
        case 2:
            LAUNCH(ceil_div(N / 4, block_size), block_size, 0, gelu_backward_kernel2)((float4 *)dinp, (const float4 *)inp,
                                                                             (const float4 *)dout, N / 4);
            break;
        default: die("gelu_backward: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "gelu");
    const size_t N = LAB_SHAPE((size_t)8 * 1024 * 4 * 768, 1000);  // the MLP's hidden layer of GPT-2 124M, B = 8, T = 1024
    float *inp = make_random(N, 2.0f, 1), *dout = make_random(N, 1.0f, 2), *dinp0 = make_random(N, 1.0f, 3);
    float *out_ref = (float *)mallocCheck(N * 4), *dinp_ref = (float *)mallocCheck(N * 4);
    memcpy(dinp_ref, dinp0, N * 4);
    gelu_forward(out_ref, inp, N);  // the CPU twins
    gelu_backward(dinp_ref, inp, dout, N);

    float *d_inp = to_device(inp, N), *d_dout = to_device(dout, N), *d_dinp = to_device(dinp0, N);
    float *d_out = device_alloc<float>(N);
    static const char *names[] = {"", "thread per element", "float4"};
    const int block_sizes[] = {64, 128, 256, 512, 1024};
    for (int v = 1; v <= 2; v++) {
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, v, bs)) { continue; }
            char what[64];
            // expf here against train.c's exp_fast (< 1e-7 relative): float rounding only
            cudaCheck(cudaMemset(d_out, 0, N * 4));
            gelu_forward(v, bs, d_out, d_inp, N);
            snprintf(what, sizeof(what), "v%d bs %d forward out", v, bs);
            validate(what, d_out, out_ref, N, 1e-6, 1e-5);
            reset_device(d_dinp, dinp0, N);
            gelu_backward(v, bs, d_dinp, d_inp, d_dout, N);
            snprintf(what, sizeof(what), "v%d bs %d backward dinp", v, bs);
            validate(what, d_dinp, dinp_ref, N, 1e-6, 1e-5);
            float ms = lab_time(&lab, [&] { gelu_forward(v, bs, d_out, d_inp, N); });
            lab_report(&lab, "forward", v, names[v], bs, ms, 2.0 * N * 4, PEAK_BANDWIDTH, 0);  // read inp, write out
            ms = lab_time(&lab, [&] { gelu_backward(v, bs, d_dinp, d_inp, d_dout, N); });
            lab_report(&lab, "backward", v, names[v], bs, ms, 4.0 * N * 4, PEAK_BANDWIDTH, 0);  // inp, dout, dinp r+w
        }
    }
    // version 3, bf16: the references from the inputs rounded to bf16; the
    // backward's from zeros, since version 3 overwrites
    {
        float *inp_r = make_rounded_bf16(inp, N), *dout_r = make_rounded_bf16(dout, N);
        gelu_forward(out_ref, inp_r, N);
        memset(dinp_ref, 0, N * 4);
        gelu_backward(dinp_ref, inp_r, dout_r, N);
        __nv_bfloat16 *d_inp3 = to_device_bf16(inp, N), *d_dout3 = to_device_bf16(dout, N);
        __nv_bfloat16 *d_out3 = device_alloc<__nv_bfloat16>(N), *d_dinp3 = device_alloc<__nv_bfloat16>(N);
        const size_t Nt = N - 3;  // a length with a tail of N % P elements
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, 3, bs)) { continue; }
            char what[64];
            // expf against exp_fast (< 1e-7 relative) and the output rounded
            // to bf16 (at most 2^-9 relative); 2^-8 allowed, and an absolute
            // 1e-6 where gelu' crosses zero (the float error of a difference)
            cudaCheck(cudaMemset(d_out3, 0, N * sizeof(__nv_bfloat16)));
            gelu_forward3(bs, d_out3, d_inp3, N);
            snprintf(what, sizeof(what), "v3 bs %d forward out (bf16)", bs);
            validate(what, d_out3, out_ref, N, 1e-6, 4e-3);
            cudaCheck(cudaMemset(d_out3, 0, N * sizeof(__nv_bfloat16)));
            gelu_forward3(bs, d_out3, d_inp3, Nt);
            snprintf(what, sizeof(what), "v3 bs %d forward out, N-3 (bf16)", bs);
            validate(what, d_out3, out_ref, Nt, 1e-6, 4e-3);
            const float zeros[3] = {0.0f, 0.0f, 0.0f};
            snprintf(what, sizeof(what), "v3 bs %d forward, past N-3 untouched", bs);
            validate(what, d_out3 + Nt, zeros, N - Nt, 0.0, 0.0);
            // in place, as train.cu calls it: the gradient over dout
            cudaCheck(cudaMemcpy(d_dinp3, d_dout3, N * sizeof(__nv_bfloat16), cudaMemcpyDeviceToDevice));
            gelu_backward3(bs, d_dinp3, d_inp3, d_dinp3, N);
            snprintf(what, sizeof(what), "v3 bs %d backward dinp, in place (bf16)", bs);
            validate(what, d_dinp3, dinp_ref, N, 1e-6, 4e-3);
            cudaCheck(cudaMemcpy(d_dinp3, d_dout3, N * sizeof(__nv_bfloat16), cudaMemcpyDeviceToDevice));
            gelu_backward3(bs, d_dinp3, d_inp3, d_dinp3, Nt);
            snprintf(what, sizeof(what), "v3 bs %d backward dinp, N-3 (bf16)", bs);
            validate(what, d_dinp3, dinp_ref, Nt, 1e-6, 4e-3);
            // timed out of place (the same bytes; repeated in place, dout would
            // drift with every launch)
            float ms = lab_time(&lab, [&] { gelu_forward3(bs, d_out3, d_inp3, N); });
            lab_report(&lab, "forward bf16", 3, "x128 bf16", bs, ms, 2.0 * N * 2, PEAK_BANDWIDTH, 0);  // read inp, write out
            ms = lab_time(&lab, [&] { gelu_backward3(bs, d_dinp3, d_inp3, d_dout3, N); });
            lab_report(&lab, "backward bf16", 3, "x128 bf16", bs, ms, 3.0 * N * 2, PEAK_BANDWIDTH, 0);  // inp, dout, dinp written
        }
        cudaCheck(cudaFree(d_inp3)); cudaCheck(cudaFree(d_dout3)); cudaCheck(cudaFree(d_out3)); cudaCheck(cudaFree(d_dinp3));
        free(inp_r); free(dout_r);
    }
    lab_summary(&lab);
    cudaCheck(cudaFree(d_inp)); cudaCheck(cudaFree(d_dout)); cudaCheck(cudaFree(d_dinp)); cudaCheck(cudaFree(d_out));
    free(inp); free(dout); free(dinp0); free(out_ref); free(dinp_ref);
    lab_free(&lab);
    return 0;
}
