/*
dev/cuda/encoder_forward.cu: out[b,t,:] = wte[inp[b,t],:] + wpe[t,:]
CPU twin: encoder_forward in train.c. Purely memory bound: the yardstick is the
measured copy bandwidth.

Versions:
  1. one thread per (b,t), looping over the C channels: neighbouring threads
     read addresses C floats apart, so every load is its own transaction
  2. one thread per output element: a warp reads 32 consecutive floats of one
     row (coalesced)
  3. as 2, four channels per thread with 128-bit loads and stores (C % 4 == 0):
     a quarter of the instructions for the same bytes
  4. train.cu's encoder_forward_kernel as the bf16 trainer runs it: bf16 wte,
     wpe and out, one thread per 8 channels of one (b,t), one 128-bit load of
     each summand and one 128-bit store (Packed128 from cuda_common.h; C % 8
     == 0), the sum in fp32 rounded once to bf16; train.cu launches it at 256
     threads per block. Half the bytes of version 3; checked against the CPU
     twin on the same bf16-rounded tables, with the output's bf16 rounding
     allowed

    make -C dev/cuda encoder_forward && ./dev/cuda/encoder_forward [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"

// ----------------------------------------------------------------------------
// kernels

__global__ void encoder_forward_kernel1(float *out, const int *inp, const float *wte,
                                        const float *wpe, int B, int T, int C) {
    int bt = blockIdx.x * blockDim.x + threadIdx.x;
    if (bt >= B * T) { return; }
    int t = bt % T;
    const float *wte_ix = wte + (size_t)inp[bt] * C;
    const float *wpe_t = wpe + (size_t)t * C;
    float *out_bt = out + (size_t)bt * C;
    for (int c = 0; c < C; c++) { out_bt[c] = wte_ix[c] + wpe_t[c]; }
}

__global__ void encoder_forward_kernel2(float *out, const int *inp, const float *wte,
                                        const float *wpe, int B, int T, int C) {
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * C) { return; }
    size_t bt = idx / C;
    int c = (int)(idx % C);
    int t = (int)(bt % T);
    out[idx] = wte[(size_t)inp[bt] * C + c] + wpe[(size_t)t * C + c];
}

__global__ void encoder_forward_kernel3(float4 *out, const int *inp, const float4 *wte,
                                        const float4 *wpe, int B, int T, int C) {
    const int C4 = C / 4;  // rows are C4 float4 long; C % 4 == 0 keeps them 16-byte aligned
    size_t idx = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (idx >= (size_t)B * T * C4) { return; }
    size_t bt = idx / C4;
    int c4 = (int)(idx % C4);
    int t = (int)(bt % T);
    float4 a = wte[(size_t)inp[bt] * C4 + c4], p = wpe[(size_t)t * C4 + c4];
    out[idx] = make_float4(a.x + p.x, a.y + p.y, a.z + p.z, a.w + p.w);
}

// version 4: bf16, one thread per pack of P = 8 channels (4 under the
// emulation with EMU_BF16=0, where bf16 is float) of one row (b,t); C % P == 0 keeps every
// row, and so every pack, 16-byte aligned
typedef Packed128<__nv_bfloat16> bf128;
__global__ void encoder_forward_kernel4(__nv_bfloat16 *out, const int *inp, const __nv_bfloat16 *wte,
                                        const __nv_bfloat16 *wpe, int B, int T, int C) {
    const int P = bf128::size;
    size_t idx = ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * P;  // the pack's first element
    if (idx >= (size_t)B * T * C) { return; }
    size_t bt = idx / C;
    int c = (int)(idx % C), t = (int)(bt % T);
    bf128 e = load128(wte + (size_t)inp[bt] * C + c), p = load128(wpe + (size_t)t * C + c), o;
    for (int k = 0; k < P; k++) { o[k] = (__nv_bfloat16)((float)e[k] + (float)p[k]); }
    store128(out + idx, o);
}

// ----------------------------------------------------------------------------
// launchers: the CPU twin's argument order, plus the version and block size

static void encoder_forward(int version, int block_size, float *out, const int *inp,
                            const float *wte, const float *wpe, int B, int T, int C) {
    size_t N = (size_t)B * T * C;
    switch (version) {
        case 1:
            LAUNCH(ceil_div((size_t)B * T, block_size), block_size, 0, encoder_forward_kernel1)(
                out, inp, wte, wpe, B, T, C);
            break;
        case 2:
            LAUNCH(ceil_div(N, block_size), block_size, 0, encoder_forward_kernel2)(out, inp, wte, wpe, B, T, C);
            break;
        case 3:
            if (C % 4 != 0) { die("encoder_forward v3 needs C %% 4 == 0, got C=%d", C); }
            LAUNCH(ceil_div(N / 4, block_size), block_size, 0, encoder_forward_kernel3)(
                (float4 *)out, inp, (const float4 *)wte, (const float4 *)wpe, B, T, C);
            break;
        default: die("encoder_forward: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "encoder_forward");
    const int B = LAB_SHAPE(8, 2), T = LAB_SHAPE(1024, 16), C = LAB_SHAPE(768, 64), V = LAB_SHAPE(50257, 100);
    const size_t N = (size_t)B * T * C;
    float *wte = make_random((size_t)V * C, 1.0f, 1), *wpe = make_random((size_t)T * C, 1.0f, 2);
    int *inp = make_random_ints((size_t)B * T, V, 3);
    float *ref = (float *)mallocCheck(N * sizeof(float));
    encoder_forward(ref, inp, wte, wpe, B, T, C);  // the CPU twin

    float *d_out = device_alloc<float>(N);
    float *d_wte = to_device(wte, (size_t)V * C), *d_wpe = to_device(wpe, (size_t)T * C);
    int *d_inp = to_device(inp, (size_t)B * T);
    static const char *names[] = {"", "thread per row", "thread per element", "float4"};
    const int block_sizes[] = {64, 128, 256, 512, 1024};
    // bytes: each output written once and each of its two summands read once
    const double bytes = 3.0 * N * sizeof(float) + (double)B * T * sizeof(int);
    for (int v = 1; v <= 3; v++) {
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, v, bs)) { continue; }
            cudaCheck(cudaMemset(d_out, 0, N * sizeof(float)));
            encoder_forward(v, bs, d_out, d_inp, d_wte, d_wpe, B, T, C);
            char what[64];
            snprintf(what, sizeof(what), "v%d bs %d out", v, bs);
            validate(what, d_out, ref, N, 1e-6, 1e-6);  // one float add: the same bits
            float ms = lab_time(&lab, [&] { encoder_forward(v, bs, d_out, d_inp, d_wte, d_wpe, B, T, C); });
            lab_report(&lab, "fp32", v, names[v], bs, ms, bytes, PEAK_BANDWIDTH, 0);
        }
    }
    // version 4, bf16: the reference from the tables rounded to bf16 (one float
    // add of two bf16 values, as the kernel does, before the output's rounding)
    {
        const int P = bf128::size;
        if (C % P != 0) { die("encoder_forward v4 needs C %% %d == 0, got C=%d", P, C); }
        float *wte_r = make_rounded_bf16(wte, (size_t)V * C), *wpe_r = make_rounded_bf16(wpe, (size_t)T * C);
        encoder_forward(ref, inp, wte_r, wpe_r, B, T, C);
        __nv_bfloat16 *d_wte4 = to_device_bf16(wte, (size_t)V * C), *d_wpe4 = to_device_bf16(wpe, (size_t)T * C);
        __nv_bfloat16 *d_out4 = device_alloc<__nv_bfloat16>(N);
        // bytes: as version 3, each value 2 bytes
        const double bytes4 = 3.0 * N * 2 + (double)B * T * sizeof(int);
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, 4, bs)) { continue; }
            cudaCheck(cudaMemset(d_out4, 0, N * sizeof(__nv_bfloat16)));
            LAUNCH(ceil_div(N / P, bs), bs, 0, encoder_forward_kernel4)(d_out4, d_inp, d_wte4, d_wpe4, B, T, C);
            cudaCheck(cudaGetLastError());
            char what[64];
            // the float sum rounded to bf16: at most half a bf16 ulp, 2^-9
            // relative; 2^-8 allowed
            snprintf(what, sizeof(what), "v4 bs %d out (bf16)", bs);
            validate(what, d_out4, ref, N, 1e-6, 4e-3);
            float ms = lab_time(&lab, [&] {
                LAUNCH(ceil_div(N / P, bs), bs, 0, encoder_forward_kernel4)(d_out4, d_inp, d_wte4, d_wpe4, B, T, C);
            });
            lab_report(&lab, "bf16", 4, "x128 bf16", bs, ms, bytes4, PEAK_BANDWIDTH, 0);
        }
        cudaCheck(cudaFree(d_wte4)); cudaCheck(cudaFree(d_wpe4)); cudaCheck(cudaFree(d_out4));
        free(wte_r); free(wpe_r);
    }
    lab_summary(&lab);
    cudaCheck(cudaFree(d_out)); cudaCheck(cudaFree(d_wte)); cudaCheck(cudaFree(d_wpe)); cudaCheck(cudaFree(d_inp));
    free(wte); free(wpe); free(inp); free(ref);
    lab_free(&lab);
    return 0;
}
