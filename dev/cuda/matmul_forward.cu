/*
dev/cuda/matmul_forward.cu: out = inp @ weight^T + bias
    out (B*T, OC), inp (B*T, C), weight (OC, C), bias (OC)
CPU twin: matmul_forward in train.c. Compute bound: TFLOP/s against the fp32
peak (versions 1-3, 5) or the bf16 tensor-core peak (4, 6); the yardstick of
each group is cuBLASLt on the same operands.

Versions (the kernels are in matmul_kernels.cuh, shared with matmul_backward.cu):
  1. naive: one thread per output, a dot product over C from global memory
  2. shared-memory tiles of 16 x 16 (256 threads) or 32 x 32 (1024 threads)
  3. register tiles: 128 x 128 outputs per 256 threads, 8 x 8 per thread
  4. tensor cores: bf16 operands, fp32 accumulation, WMMA 16x16x16 fragments
  5. cuBLASLt fp32, bias fused in the epilogue (yardstick of 1-3)
  6. cuBLASLt bf16 operands, fp32 output, bias epilogue (yardstick of 4)
The bf16 versions read bf16 copies of inp and weight (as a mixed-precision
trainer keeps them) and are checked against the fp32 CPU result with a
tolerance that allows for the rounding of the operands (see mm_tolerance).

    make -C dev/cuda matmul_forward && ./dev/cuda/matmul_forward [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"
#include "matmul_kernels.cuh"

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "matmul_forward");
    // the MLP's first layer of GPT-2 124M (emulated: sizes that are not multiples of any tile)
    const int B = LAB_SHAPE(8, 1), T = LAB_SHAPE(1024, 136), C = LAB_SHAPE(768, 72), OC = LAB_SHAPE(4 * 768, 200), N = B * T;
    const size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    float *inp = make_random(ni, 1.0f, 1), *weight = make_random(nw, INIT_STD, 2);
    float *bias = make_random(OC, 0.1f, 3);
    float *ref = (float *)mallocCheck(no * sizeof(float));
    matmul_forward(ref, inp, weight, bias, B, T, C, OC);  // the CPU twin

    float *d_inp = to_device(inp, ni), *d_w = to_device(weight, nw), *d_bias = to_device(bias, OC);
    __nv_bfloat16 *d_inp16 = to_device_bf16(inp, ni), *d_w16 = to_device_bf16(weight, nw);
    float *d_out = device_alloc<float>(no);
    // A = inp (rs C, cs 1); B[c,o] = weight[o,c] (rs 1, cs C)
    Gemm g32 = {d_out, d_inp, d_w, d_bias, (size_t)C, 1, 1, (size_t)C, N, OC, C, 0};
    Gemm g16 = g32;
    g16.a = d_inp16;
    g16.b = d_w16;
#ifndef LAB_EMU
    cublasLtHandle_t lt;
    cublasCheck(cublasLtCreate(&lt));
    LtPlan plan32, plan16;
    lt_plan_make(&plan32, lt, &g32, 0);
    lt_plan_make(&plan16, lt, &g16, 1);
#endif

    const double flops = 2.0 * N * C * OC;
    for (int v = 1; v <= MM_MAX_VERSION; v++) {
        const int *sizes = mm_block_sizes(v);
        for (int i = 0; i == 0 || sizes[i] != 0; i++) {
            const int bs = sizes[i];
            if (!lab_wants(&lab, v, bs)) { continue; }
            const Gemm &g = mm_is_bf16(v) ? g16 : g32;
            auto run = [&] {
#ifndef LAB_EMU
                if (v == 5) { lt_plan_run(&plan32); return; }
                if (v == 6) { lt_plan_run(&plan16); return; }
#endif
                gemm_launch(v, bs, g);
            };
            cudaCheck(cudaMemset(d_out, 0, no * sizeof(float)));
            run();
            double atol, rtol;
            mm_tolerance(v, C, ref, no, &atol, &rtol);
            char what[64];
            snprintf(what, sizeof(what), "v%d bs %d out", v, bs);
            validate(what, d_out, ref, no, atol, rtol);
            float ms = lab_time(&lab, run);
            lab_report(&lab, mm_is_bf16(v) ? "bf16" : "fp32", v, mm_names[v], bs, ms, flops,
                       mm_is_bf16(v) ? PEAK_BF16 : PEAK_FP32, mm_is_yardstick(v));
        }
    }
    lab_summary(&lab);
#ifndef LAB_EMU
    lt_plan_free(&plan32);
    lt_plan_free(&plan16);
    cublasCheck(cublasLtDestroy(lt));
#endif
    cudaCheck(cudaFree(d_inp)); cudaCheck(cudaFree(d_w)); cudaCheck(cudaFree(d_bias));
    cudaCheck(cudaFree(d_inp16)); cudaCheck(cudaFree(d_w16)); cudaCheck(cudaFree(d_out));
    free(inp); free(weight); free(bias); free(ref);
    lab_free(&lab);
    return 0;
}
