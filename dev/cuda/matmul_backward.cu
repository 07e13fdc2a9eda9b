/*
dev/cuda/matmul_backward.cu: the backward of matmul_forward (all three outputs are added into)
    dinp    += dout @ weight        (B*T, C)  = (B*T, OC) @ (OC, C)
    dweight += dout^T @ inp         (OC, C)   = (OC, B*T) @ (B*T, C)
    dbias   += sum over rows of dout (OC)
CPU twin: matmul_backward in train.c. Compute bound: TFLOP/s of the two
products against the fp32 peak (versions 1-3, 5) or the bf16 tensor-core peak
(4, 6); the yardstick of each group is cuBLASLt on the same operands.

Versions (the product kernels are in matmul_kernels.cuh, shared with
matmul_forward.cu; each is one strided C += A @ B, like train.c's
matmul_accumulate, so the transposed operands of the backward need no copies):
  1. naive   2. shared-memory tiles   3. register tiles   4. WMMA bf16
  5. cuBLASLt fp32 (yardstick of 1-3)  6. cuBLASLt bf16 (yardstick of 4)
dbias is the same deterministic column sum in every version (fixed slices of
rows, partials added in order; see matmul_dbias), and is timed with them.

    make -C dev/cuda matmul_backward && ./dev/cuda/matmul_backward [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"
#include "matmul_kernels.cuh"

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "matmul_backward");
    // the MLP's first layer of GPT-2 124M (emulated: sizes that are not multiples of any tile)
    const int B = LAB_SHAPE(8, 1), T = LAB_SHAPE(1024, 136), C = LAB_SHAPE(768, 72), OC = LAB_SHAPE(4 * 768, 200), N = B * T;
    const size_t ni = (size_t)N * C, nw = (size_t)OC * C, no = (size_t)N * OC;
    float *inp = make_random(ni, 1.0f, 1), *weight = make_random(nw, INIT_STD, 2);
    float *dout = make_random(no, 1.0f, 3);
    float *dinp0 = make_random(ni, 1.0f, 4), *dw0 = make_random(nw, 1.0f, 5), *db0 = make_random(OC, 1.0f, 6);
    float *dinp_ref = (float *)mallocCheck(ni * 4), *dw_ref = (float *)mallocCheck(nw * 4);
    float *db_ref = (float *)mallocCheck((size_t)OC * 4);
    memcpy(dinp_ref, dinp0, ni * 4);
    memcpy(dw_ref, dw0, nw * 4);
    memcpy(db_ref, db0, (size_t)OC * 4);
    matmul_backward(dinp_ref, dw_ref, db_ref, dout, inp, weight, B, T, C, OC, 0);  // the CPU twin

    float *d_inp = to_device(inp, ni), *d_w = to_device(weight, nw), *d_dout = to_device(dout, no);
    __nv_bfloat16 *d_inp16 = to_device_bf16(inp, ni), *d_w16 = to_device_bf16(weight, nw);
    __nv_bfloat16 *d_dout16 = to_device_bf16(dout, no);
    float *d_dinp = to_device(dinp0, ni), *d_dw = to_device(dw0, nw), *d_db = to_device(db0, OC);
    float *d_scratch = device_alloc<float>((size_t)DB_SLICES * OC);
    // dinp: A = dout (rs OC, cs 1), B = weight (rs C, cs 1); M = N, N = C, K = OC
    Gemm gi32 = {d_dinp, d_dout, d_w, NULL, (size_t)OC, 1, (size_t)C, 1, N, C, OC, 1};
    // dweight: A[o,i] = dout[i,o] (rs 1, cs OC), B = inp (rs C, cs 1); M = OC, N = C, K = N
    Gemm gw32 = {d_dw, d_dout, d_inp, NULL, 1, (size_t)OC, (size_t)C, 1, OC, C, N, 1};
    Gemm gi16 = gi32, gw16 = gw32;
    gi16.a = d_dout16; gi16.b = d_w16;
    gw16.a = d_dout16; gw16.b = d_inp16;
#ifndef LAB_EMU
    cublasLtHandle_t lt;
    cublasCheck(cublasLtCreate(&lt));
    LtPlan pi32, pw32, pi16, pw16;
    lt_plan_make(&pi32, lt, &gi32, 0);
    lt_plan_make(&pw32, lt, &gw32, 0);
    lt_plan_make(&pi16, lt, &gi16, 1);
    lt_plan_make(&pw16, lt, &gw16, 1);
#endif

    const double flops = 2.0 * 2.0 * N * C * OC;  // two products; dbias is negligible
    for (int v = 1; v <= MM_MAX_VERSION; v++) {
        const int *sizes = mm_block_sizes(v);
        for (int i = 0; i == 0 || sizes[i] != 0; i++) {
            const int bs = sizes[i];
            if (!lab_wants(&lab, v, bs)) { continue; }
            auto run = [&] {
#ifndef LAB_EMU
                if (v == 5) { lt_plan_run(&pi32); lt_plan_run(&pw32); }
                else if (v == 6) { lt_plan_run(&pi16); lt_plan_run(&pw16); }
                else
#endif
                {
                    gemm_launch(v, bs, mm_is_bf16(v) ? gi16 : gi32);
                    gemm_launch(v, bs, mm_is_bf16(v) ? gw16 : gw32);
                }
                matmul_dbias(d_db, d_dout, N, OC, d_scratch);
            };
            reset_device(d_dinp, dinp0, ni);
            reset_device(d_dw, dw0, nw);
            reset_device(d_db, db0, OC);
            run();
            double atol, rtol;
            char what[64];
            mm_tolerance(v, OC, dinp_ref, ni, &atol, &rtol);
            snprintf(what, sizeof(what), "v%d bs %d dinp", v, bs);
            validate(what, d_dinp, dinp_ref, ni, atol, rtol);
            mm_tolerance(v, N, dw_ref, nw, &atol, &rtol);
            snprintf(what, sizeof(what), "v%d bs %d dweight", v, bs);
            validate(what, d_dw, dw_ref, nw, atol, rtol);
            // sums of N = 8192 terms ~ N(0,1) in float, in another order than the CPU's
            snprintf(what, sizeof(what), "v%d bs %d dbias", v, bs);
            validate(what, d_db, db_ref, OC, 5e-3, 1e-4);
            float ms = lab_time(&lab, run);
            lab_report(&lab, mm_is_bf16(v) ? "bf16" : "fp32", v, mm_names[v], bs, ms, flops,
                       mm_is_bf16(v) ? PEAK_BF16 : PEAK_FP32, mm_is_yardstick(v));
        }
    }
    lab_summary(&lab);
#ifndef LAB_EMU
    lt_plan_free(&pi32); lt_plan_free(&pw32); lt_plan_free(&pi16); lt_plan_free(&pw16);
    cublasCheck(cublasLtDestroy(lt));
#endif
    cudaCheck(cudaFree(d_inp)); cudaCheck(cudaFree(d_w)); cudaCheck(cudaFree(d_dout));
    cudaCheck(cudaFree(d_inp16)); cudaCheck(cudaFree(d_w16)); cudaCheck(cudaFree(d_dout16));
    cudaCheck(cudaFree(d_dinp)); cudaCheck(cudaFree(d_dw)); cudaCheck(cudaFree(d_db)); cudaCheck(cudaFree(d_scratch));
    free(inp); free(weight); free(dout); free(dinp0); free(dw0); free(db0); free(dinp_ref); free(dw_ref); free(db_ref);
    lab_free(&lab);
    return 0;
}
