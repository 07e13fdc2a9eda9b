/*
train.cu: GPT-2 training on NVIDIA GPUs: the kernels of train.c's layers, one
for one, on the GPU, with everything that is not a kernel taken from train.c.

Build and run:
    make train_gpu                     # bf16 mixed precision (fp32 master weights)
    make train_gpu PRECISION=FP32      # all fp32: for exact comparisons with ./train
    make train_gpu MPI=1               # + NCCL over MPI: mpirun -np 8 ./train_gpu ...
    ./train_gpu -e d12 -b 16 -t 1024 -i 'data/.../train_*.bin' -o out/gpu
    ./train_gpu ... --recompute 1      # recompute layernorm and GELU outputs: less memory
    ./train_gpu ... --gelu-fusion 0    # bias and GELU as separate kernels, not cuBLASLt epilogues
    TRAIN_GPU_PROFILE=5 ./train_gpu ...   # micro-step 5's GPU time per kernel family, a table
Flags, files, log lines and checkpoints are ./train's: a run can move between
the CPU and the GPU. The step line adds MFU against cuda_common.h's peak table.

Checked against train.c: test/test_gpu on a GPU (make gpu-test); without one,
dev/cuda_emu compiles train_kernels.cuh, this file and test/test_gpu.cu as
they are with g++ under a small CUDA emulation and runs them on the CPU (make
check-cuda-emu, make check-cuda-emu-program). The seam is explicit:
  - every launch is LAUNCH(grid, block, smem_bytes, kernel)(args...) and every
    kernel's dynamic shared memory DYNAMIC_SMEM(name): cuda_common.h makes
    them <<< >>> and extern __shared__; dev/cuda_emu/emu.h (through the fake
    <cuda_runtime.h> of dev/cuda_emu/include) makes them a launch on CPU
    threads and the emulated block's buffer
  - -DCUDA_EMU replaces matmul_lt, the one function that calls cuBLASLt, by
    dev/cuda_emu/matmul_lt_emu.inc (the same product by its definition)

How this file is built on train.c: train.c is #included with TRAIN_NO_MAIN
(it compiles as C++), so the config, the parameter table, file I/O, the data
loader, the tokenizer, the flags and the checkpoint formats are train.c's own
code. The kernels are in train_kernels.cuh, each named after its CPU twin
(<twin>_kernel); here each has a launcher with the twin's name and a _gpu
suffix and the twin's argument order.

Map of this file, in train.c's order (train_kernels.cuh has its own map,
the same order: helpers, encoder, layernorm, matmul helpers, attention,
gelu, residual, classifier, optimizer):
  constants          cuBLASLt workspace size, allocation alignment, the cuBLAS
                     data type of floatX, launchCheck, nccl_check
  profile            TRAIN_GPU_PROFILE: CUDA events between launcher calls
                     (prof_mark), a table of one step's time per kernel family
  layers             the launchers, forward and backward side by side:
    encoder          encoder_forward_gpu, encoder_backward_gpu
    layernorm        layernorm_forward_gpu, layernorm_recompute_gpu (--recompute),
                     layernorm_backward_gpu (dweight and dbias in the same pass)
    matmul           Matmul (cuBLASLt handle, fused or not), matmul_lt
                     (cuBLASLt, every return code checked by lt_check; the
                     emulation's under CUDA_EMU), add_bias_gpu and
                     matmul_dbias_gpu (the bias as separate kernels),
                     matmul_forward_gpu, matmul_backward_gpu
    attention        tile sizes and variants, attention_launch; the bf16
                     build's tensor-core variants (train_attention.cuh),
                     attention_mma_launch; attention_choose (the kernels
                     and tiles that fit the device),
                     attention_dispatch, attention_forward_gpu, attention_backward_gpu
    gelu             gelu_forward_gpu, gelu_backward_gpu (--gelu-fusion 0,
                     and fallbacks of the matmuls' fused GELU epilogues)
    residual         residual_layernorm_forward_gpu; no launcher for the
                     backward of residual_forward (dout passes to both inputs
                     unchanged: gpu_backward's one dresidual buffer carries it)
    classifier       classifier_gpu (softmax + cross-entropy and its backward)
  the model          the floatX parameter copy, the table of the GPU's
                     activations, GPT2GPU (init, free, upload, download), then
                     gpu_forward, gpu_loss, gpu_zero_grad, gpu_backward, and
                     AdamW (gpu_grad_sumsq, gpu_update); gpu_logits_row for the
                     sampler
    LoRA             GpuLora (the trainable set beside the frozen base, which
                     keeps only its compute copy), lora_forward_gpu and
                     lora_backward_gpu (twins of lora_forward/_backward),
                     upload/download of the trainable set, gpu_lora_update
  data parallel      NCCL over MPI: gradients all-reduced, or reduced onto
                     their ZeRO-1 shard's owner, then the shards broadcast
  the backend        the CudaState and cuda_* functions that train.c's run loop
                     calls (its Backend), and main

Precision (bf16 build; the FP32 build replaces every floatX by float):
  - parameters: fp32 master copy (what AdamW updates and checkpoints hold) and
    a floatX copy the matmuls read, refreshed by the AdamW kernel
  - parameter gradients, AdamW m and v: fp32; matmul weight gradients are
    accumulated by cuBLASLt in fp32 straight into them (bf16 in, fp32 out)
  - activations and their gradients: floatX; layernorm statistics, attention
    log-sum-exps and per-token losses: fp32. Every reduction sums in fp32.
Determinism: no float atomics anywhere; every sum has a fixed order (warp
shuffles and shared-memory trees, then partial sums added in index order), and
cuBLAS(Lt) is deterministic for a given GPU and problem. Same seed, same losses.

Layout of the activations: train.c's table, minus what fusion removes:
attproj and fcproj go straight into the fused residual + layernorm, the fused
classifier writes dlogits over the logits (no lmax and linv, no separate
dlogits), att (B,NH,T,T) is replaced by the per-row log-sum-exp (B,NH,T) of
the flash-style attention.
*/
#define TRAIN_NO_MAIN
#include "train.c"
#include "cuda_common.h"
#include "train_kernels.cuh"  // every kernel (the device code)

#include <cublasLt.h>
#ifdef USE_MPI
#include <mpi.h>
#include <nccl.h>
#endif

#define CUBLAS_WORKSPACE_BYTES ((size_t)32 << 20)
#define ALLOC_ALIGN 256        // byte alignment of every tensor carved from a group

#ifdef ENABLE_FP32
#define CUDA_FLOATX CUDA_R_32F
#else
#define CUDA_FLOATX CUDA_R_16BF
#endif

// every launcher checks its launch
#define launchCheck() cudaCheck(cudaGetLastError())

#ifdef USE_MPI
static void nccl_check(ncclResult_t r, const char *what) {
    if (r != ncclSuccess) { die("NCCL: %s failed: %s", what, ncclGetErrorString(r)); }
}
#endif

// ----------------------------------------------------------------------------
// the step's profile (TRAIN_GPU_PROFILE=N): the GPU's time per kernel family
// over micro-step N and what follows it up to the next micro-step (with no
// gradient accumulation: step N's forward, loss, backward, norm and AdamW).
// Before each launcher call the step records a CUDA event on the stream
// (prof_mark, with the family of the work that follows); the time between
// one event and the next is that family's, so the families partition the
// step's GPU time (the GPU's idle gaps, waiting for the host, included). Off,
// prof_mark returns at once.

enum {
    PF_COPIES, PF_ENCODER_FWD, PF_LAYERNORM_FWD, PF_MATMUL_FWD, PF_BIAS_GELU, PF_ATTENTION_FWD,
    PF_CLASSIFIER, PF_MATMUL_BWD, PF_DBIAS, PF_LAYERNORM_BWD, PF_RECOMPUTE, PF_ATTENTION_BWD,
    PF_ENCODER_BWD, PF_NORM, PF_ADAMW, PF_FAMILIES
};
static const char *const prof_family_names[PF_FAMILIES] = {
    "uploads, zeroing (memcpy/memset)", "encoder forward", "layernorm forward (+ residual)",
    "matmul forward (cuBLASLt)", "bias, GELU kernels (unfused)", "attention forward",
    "classifier + loss mean", "matmul backward (cuBLASLt)", "bias gradients (column sums)",
    "layernorm backward", "recompute (--recompute)", "attention backward", "encoder backward",
    "grad norm", "AdamW",
};
#define PROF_MAX_MARKS 4096

typedef struct {
    int micro_step;  // the micro-step to profile (1-based); 0: off
    int active;      // between that micro-step's start and the next one's
    int n;           // marks recorded
    int overflow;    // more marks than PROF_MAX_MARKS: the rest were not recorded
    cudaEvent_t *ev;  // (PROF_MAX_MARKS) timing events
    int *family;     // (PROF_MAX_MARKS) the family of the work after each mark
} Profile;

// the work queued after this call is family f's
static void prof_mark(Profile *p, int f) {
    if (p == NULL || !p->active) { return; }
    if (p->n >= PROF_MAX_MARKS) {
        p->overflow = 1;
        return;
    }
    cudaCheck(cudaEventRecord(p->ev[p->n], 0));
    p->family[p->n++] = f;
}

// TRAIN_GPU_PROFILE=N (0 or unset: off): the events, made at setup
static void prof_init(Profile *p, int micro_step) {
    memset(p, 0, sizeof(*p));
    if (micro_step <= 0) { return; }
    p->micro_step = micro_step;
    p->ev = (cudaEvent_t *)mallocCheck(PROF_MAX_MARKS * sizeof(cudaEvent_t));
    p->family = (int *)mallocCheck(PROF_MAX_MARKS * sizeof(int));
    for (int i = 0; i < PROF_MAX_MARKS; i++) { cudaCheck(cudaEventCreate(&p->ev[i])); }
}

static void prof_free(Profile *p) {
    if (p->ev == NULL) { return; }
    for (int i = 0; i < PROF_MAX_MARKS; i++) { cudaCheck(cudaEventDestroy(p->ev[i])); }
    free(p->ev);
    free(p->family);
    memset(p, 0, sizeof(*p));
}

// the table: each family's ms (the sum of the gaps between its marks and
// the next ones) and share of the profiled span
static void prof_print(Profile *p) {
    if (p->n < 2) { return; }
    cudaCheck(cudaEventSynchronize(p->ev[p->n - 1]));
    double ms[PF_FAMILIES] = {0}, total = 0.0;
    int calls[PF_FAMILIES] = {0};
    for (int i = 0; i + 1 < p->n; i++) {
        float t = 0.0f;
        cudaCheck(cudaEventElapsedTime(&t, p->ev[i], p->ev[i + 1]));
        ms[p->family[i]] += t;
        calls[p->family[i]]++;
        total += t;
    }
    printf("profile: micro-step %d, GPU time per kernel family (CUDA events between launcher calls)%s\n",
           p->micro_step, p->overflow ? ", CUT SHORT: more than PROF_MAX_MARKS marks" : "");
    printf("profile | %-34s | %6s | %10s | %6s\n", "kernel family", "calls", "ms", "share");
    for (int f = 0; f < PF_FAMILIES; f++) {
        if (calls[f] == 0) { continue; }
        printf("profile | %-34s | %6d | %10.3f | %5.1f%%\n", prof_family_names[f], calls[f], ms[f],
               total > 0.0 ? 100.0 * ms[f] / total : 0.0);
    }
    printf("profile | %-34s | %6d | %10.3f | %5.1f%%\n", "total", p->n - 1, total, 100.0);
}

// at the start of each micro-step (counted from 1), and with 0 at the end of
// the run: starts the profiled span at its micro-step, and ends and prints it
// at the next call
static void prof_step(Profile *p, int micro_step, int print) {
    if (p->micro_step == 0) { return; }
    if (p->active) {
        prof_mark(p, PF_COPIES);  // the end of the last family's span
        p->active = 0;
        if (print) { prof_print(p); }
    }
    if (micro_step == p->micro_step) {
        p->active = 1;
        p->n = 0;
    }
}

// ----------------------------------------------------------------------------
// encoder: twin of encoder_forward / encoder_backward

// twin of encoder_forward: overwrites out
static void encoder_forward_gpu(floatX *out, const int *inp, const floatX *wte, const floatX *wpe,
                                int B, int T, int C) {
    size_t N = (size_t)B * T * C;  // a thread per X128 elements (C % X128 == 0)
    LAUNCH(ceil_div(N / X128, 256), 256, 0, encoder_forward_kernel)(out, inp, wte, wpe, B, T, C);
    launchCheck();
}

// twin of encoder_backward: adds into dwte and dwpe
static void encoder_backward_gpu(float *dwte, float *dwpe, const floatX *dout, const TokenBuckets *tb,
                                 int B, int T, int C) {
    encoder_backward_wte_launch(dwte, dout, tb, C);
    encoder_backward_wpe_launch(dwpe, dout, B, T, C);
}

// ----------------------------------------------------------------------------
// layernorm: twin of layernorm_forward / layernorm_backward. One warp per row
// (b,t), the row in registers; the launches (which template instance for C)
// are train_kernels.cuh's layernorm_*_launch. The fused residual_forward +
// layernorm_forward is with the residual.

// twin of layernorm_forward; overwrites out, mean, rstd
static void layernorm_forward_gpu(floatX *out, float *mean, float *rstd, const floatX *inp,
                                  const floatX *weight, const floatX *bias, int B, int T, int C) {
    layernorm_forward_launch(NULL, out, mean, rstd, inp, NULL, weight, bias, (size_t)B * T, C);
}

// --recompute: layernorm_forward's out again, from the saved mean and rstd;
// overwrites out
static void layernorm_recompute_gpu(floatX *out, const floatX *inp, const float *mean,
                                    const float *rstd, const floatX *weight, const floatX *bias,
                                    int B, int T, int C) {
    size_t N = (size_t)B * T;
    LAUNCH(ceil_div(N * C / X128, 256), 256, 0, layernorm_recompute_kernel)(out, inp, mean, rstd, weight,
                                                                            bias, N, C);
    launchCheck();
}

// twin of layernorm_backward: dinp, dweight and dbias all += (dweight and
// dbias in fp32, through per-block partial sums that the kernel writes in
// the same pass; scratch holds 2 * ceil(B*T / COLSUM_ROWS) * C floats; dweight
// and dbias both NULL for a frozen layernorm: LoRA)
static void layernorm_backward_gpu(floatX *dinp, float *dweight, float *dbias, const floatX *dout,
                                   const floatX *inp, const floatX *weight, const float *mean,
                                   const float *rstd, int B, int T, int C, float *scratch) {
    layernorm_backward_launch(dinp, dweight, dbias, dout, inp, weight, mean, rstd, (size_t)B * T, C, scratch);
}

// ----------------------------------------------------------------------------
// matmul: twin of matmul_forward / matmul_backward, through cuBLASLt.
// cuBLAS is column-major; a row-major (R, K) matrix is a column-major (K, R)
// one, so every product below is written for the transposes:
//   forward  out (N,OC) = inp (N,C) @ W^T      <=> out^T = W^T-as-stored(op T) @ inp^T
//   backward dinp (N,C) = dout (N,OC) @ W       <=> dinp^T = W^T @ dout^T
//            dW (OC,C) += dout^T @ inp          <=> dW^T  = inp^T @ dout
// Epilogues: BIAS (out += bias), GELU_AUX_BIAS (out = gelu(x + bias), with the
// pre-GELU x + bias kept as aux: fch), DGELU (dinp = gelu'(aux) * product),
// BGRADB (with the dW product: the sums of op(B) = dout (N,OC) over its k = N
// rows, i.e. dbias, computed while dout passes through the product anyway).

typedef struct {
    cublasLtHandle_t lt;
    void *workspace;  // CUBLAS_WORKSPACE_BYTES
    // 1: bias and GELU in cuBLASLt's epilogues (BIAS, GELU_AUX_BIAS, DGELU);
    // 0 (--gelu-fusion 0): plain products, then add_bias_kernel and the GELU
    // kernels. Both give the same math; test_gpu compares them on a GPU. The
    // bias gradient: with 1, BGRADB on the dweight product (it overwrites, so
    // into a scratch vector that is then added: accumulation needs +=); with
    // 0, or when cuBLASLt has no algorithm with BGRADB, the column sums
    int fuse;
    int warned;       // the fallback from a fused epilogue was reported once
    Profile *prof;    // the step's profile, for marks inside the matmuls
} Matmul;

// the name of an epilogue, for messages
static const char *lt_epilogue_name(cublasLtEpilogue_t e) {
    switch (e) {
    case CUBLASLT_EPILOGUE_DEFAULT: return "DEFAULT";
    case CUBLASLT_EPILOGUE_BIAS: return "BIAS";
    case CUBLASLT_EPILOGUE_GELU_AUX_BIAS: return "GELU_AUX_BIAS";
    case CUBLASLT_EPILOGUE_DGELU: return "DGELU";
    case CUBLASLT_EPILOGUE_BGRADB: return "BGRADB";
    default: return "other";
    }
}

// matmul_lt: the one function that calls cuBLASLt. Under the CPU emulation
// (-DCUDA_EMU, dev/cuda_emu) there is no cuBLASLt: dev/cuda_emu/matmul_lt_emu.inc
// defines matmul_lt with the same signature, computing the product and the
// epilogues by their definition; everything around it is this file's code.
#ifdef CUDA_EMU
#include "dev/cuda_emu/matmul_lt_emu.inc"
#else
// the largest power of two up to 256 that divides the address
static uint32_t ptr_alignment(const void *p) {
    uintptr_t a = (uintptr_t)p;
    uint32_t al = 256;
    while (al > 1 && a % al != 0) { al /= 2; }
    return al;
}

// the shape of one matmul_lt call, for the message of a failed cuBLASLt call
typedef struct {
    int m, n, k, trans_a, trans_b;
    cublasLtEpilogue_t epilogue;
    cudaDataType d_type;
} LtCall;

// every cuBLASLt return code goes through here: a failure names the call and
// the product's shape, and exits
static void lt_check(cublasStatus_t st, const char *call, const LtCall *c) {
    if (st == CUBLAS_STATUS_SUCCESS) { return; }
    die("cuBLASLt: %s failed: %s (%d); product D (%d x %d) = op(A) @ op(B), k=%d, transa=%c transb=%c, "
        "epilogue %s, D %s (column-major)",
        call, cublasGetStatusString(st), (int)st, c->m, c->n, c->k, c->trans_a ? 'T' : 'N',
        c->trans_b ? 'T' : 'N', lt_epilogue_name(c->epilogue), c->d_type == CUDA_R_32F ? "fp32" : FLOATX_NAME);
}

// D (m,n) = alpha * op(A) @ op(B) + beta * D (column-major), with an epilogue.
// A and B are floatX; D is floatX or fp32 (d_type). Returns 0 when cuBLASLt has
// no algorithm for the combination (the caller then runs its plain fallback);
// any other failure exits with lt_check's message.
static int matmul_lt(Matmul *mm, void *d, cudaDataType d_type, int ldd, const floatX *a, int lda,
                     int trans_a, const floatX *b, int ldb, int trans_b, int m, int n, int k,
                     float beta, cublasLtEpilogue_t epilogue, const floatX *bias, floatX *aux,
                     int ld_aux, float *bgrad) {
    LtCall c = {m, n, k, trans_a, trans_b, epilogue, d_type};
    cublasLtMatmulDesc_t op;
    lt_check(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F), "cublasLtMatmulDescCreate", &c);
    cublasOperation_t ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)),
             "cublasLtMatmulDescSetAttribute(TRANSA)", &c);
    lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)),
             "cublasLtMatmulDescSetAttribute(TRANSB)", &c);
    lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epilogue, sizeof(epilogue)),
             "cublasLtMatmulDescSetAttribute(EPILOGUE)", &c);
    if (bias != NULL) {
        // the bias vector is floatX: said explicitly rather than left to
        // cuBLASLt's default for D's type
        cudaDataType bt = CUDA_FLOATX;
        lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)),
                 "cublasLtMatmulDescSetAttribute(BIAS_DATA_TYPE)", &c);
        lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bias, sizeof(bias)),
                 "cublasLtMatmulDescSetAttribute(BIAS_POINTER)", &c);
    }
    if (bgrad != NULL) {
        // BGRADB's output: fp32 (D's type, cuBLASLt's default, said explicitly)
        cudaDataType bt = CUDA_R_32F;
        lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, &bt, sizeof(bt)),
                 "cublasLtMatmulDescSetAttribute(BIAS_DATA_TYPE)", &c);
        lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &bgrad, sizeof(bgrad)),
                 "cublasLtMatmulDescSetAttribute(BIAS_POINTER)", &c);
    }
    if (aux != NULL) {
        int64_t ld = ld_aux;
        lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_POINTER, &aux, sizeof(aux)),
                 "cublasLtMatmulDescSetAttribute(EPILOGUE_AUX_POINTER)", &c);
        lt_check(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE_AUX_LD, &ld, sizeof(ld)),
                 "cublasLtMatmulDescSetAttribute(EPILOGUE_AUX_LD)", &c);
    }
    cublasLtMatrixLayout_t la, lb, ld;
    lt_check(cublasLtMatrixLayoutCreate(&la, CUDA_FLOATX, trans_a ? k : m, trans_a ? m : k, lda),
             "cublasLtMatrixLayoutCreate(A)", &c);
    lt_check(cublasLtMatrixLayoutCreate(&lb, CUDA_FLOATX, trans_b ? n : k, trans_b ? k : n, ldb),
             "cublasLtMatrixLayoutCreate(B)", &c);
    lt_check(cublasLtMatrixLayoutCreate(&ld, d_type, m, n, ldd), "cublasLtMatrixLayoutCreate(D)", &c);
    cublasLtMatmulPreference_t pref;
    lt_check(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate", &c);
    size_t ws = CUBLAS_WORKSPACE_BYTES;
    lt_check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof(ws)),
             "cublasLtMatmulPreferenceSetAttribute(MAX_WORKSPACE_BYTES)", &c);
    // the heuristic must only offer kernels that the real addresses allow
    uint32_t al_a = ptr_alignment(a), al_b = ptr_alignment(b), al_d = ptr_alignment(d);
    lt_check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &al_a, sizeof(al_a)),
             "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_A_BYTES)", &c);
    lt_check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &al_b, sizeof(al_b)),
             "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_B_BYTES)", &c);
    lt_check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &al_d, sizeof(al_d)),
             "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_C_BYTES)", &c);
    lt_check(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &al_d, sizeof(al_d)),
             "cublasLtMatmulPreferenceSetAttribute(MIN_ALIGNMENT_D_BYTES)", &c);
    cublasLtMatmulHeuristicResult_t heur;
    int found = 0;
    cublasStatus_t st = cublasLtMatmulAlgoGetHeuristic(mm->lt, op, la, lb, ld, ld, pref, 1, &heur, &found);
    // NOT_SUPPORTED (or no result) means: no algorithm for this combination,
    // which the caller answers with its fallback; anything else is an error
    if (st != CUBLAS_STATUS_NOT_SUPPORTED) { lt_check(st, "cublasLtMatmulAlgoGetHeuristic", &c); }
    int ok = st == CUBLAS_STATUS_SUCCESS && found > 0;
    if (ok) {
        float alpha = 1.0f;
        lt_check(cublasLtMatmul(mm->lt, op, &alpha, a, la, b, lb, &beta, d, ld, d, ld, &heur.algo,
                                mm->workspace, CUBLAS_WORKSPACE_BYTES, 0),
                 "cublasLtMatmul", &c);
    }
    lt_check(cublasLtMatmulPreferenceDestroy(pref), "cublasLtMatmulPreferenceDestroy", &c);
    lt_check(cublasLtMatrixLayoutDestroy(la), "cublasLtMatrixLayoutDestroy(A)", &c);
    lt_check(cublasLtMatrixLayoutDestroy(lb), "cublasLtMatrixLayoutDestroy(B)", &c);
    lt_check(cublasLtMatrixLayoutDestroy(ld), "cublasLtMatrixLayoutDestroy(D)", &c);
    lt_check(cublasLtMatmulDescDestroy(op), "cublasLtMatmulDescDestroy", &c);
    return ok;
}
#endif  // CUDA_EMU

// a fused epilogue had no algorithm: said once per run (the separate
// kernels then do the same work, a little slower)
static void matmul_fallback_note(Matmul *mm, const char *what, cublasLtEpilogue_t e, int m, int n, int k) {
    if (mm->warned) { return; }
    mm->warned = 1;
    fprintf(stderr, "warning: %s: cuBLASLt has no algorithm with the %s epilogue for (%d x %d), k=%d; "
            "using the product and separate bias/GELU kernels\n", what, lt_epilogue_name(e), m, n, k);
}

// the plain product with no epilogue; exits when cuBLASLt has no algorithm
static void matmul_plain(Matmul *mm, const char *what, void *d, cudaDataType d_type, int ldd, const floatX *a,
                         int lda, int trans_a, const floatX *b, int ldb, int trans_b, int m, int n, int k,
                         float beta) {
    if (!matmul_lt(mm, d, d_type, ldd, a, lda, trans_a, b, ldb, trans_b, m, n, k, beta,
                   CUBLASLT_EPILOGUE_DEFAULT, NULL, NULL, 0, NULL)) {
        die("%s: cuBLASLt has no algorithm for D (%d x %d) = op(A) @ op(B), k=%d, transa=%c transb=%c, "
            "no epilogue", what, m, n, k, trans_a ? 'T' : 'N', trans_b ? 'T' : 'N');
    }
}

// GELU's launchers (in the gelu section, after attention as in train.c):
// --gelu-fusion 0, and the fallback when cuBLASLt offers no GELU epilogue
static void gelu_forward_gpu(floatX *out, const floatX *inp, size_t N);
static void gelu_backward_gpu(floatX *dinp, const floatX *inp, const floatX *dout, size_t N);

// matmul_forward's bias as its own kernel: out (N,OC) += bias (OC)
static void add_bias_gpu(floatX *out, const floatX *bias, size_t N, int OC) {
    LAUNCH(ceil_div(N * OC / X128, 256), 256, 0, add_bias_kernel)(out, bias, N, OC);
    launchCheck();
}

// twin of matmul_forward: out (B,T,OC) = inp (B,T,C) @ weight^T (OC,C) + bias;
// with gelu_out != NULL also gelu_out = gelu(out) (fused in the epilogue, or
// by gelu_forward_gpu with --gelu-fusion 0). Overwrites out (and gelu_out).
static void matmul_forward_gpu(Matmul *mm, floatX *out, floatX *gelu_out, const floatX *inp,
                               const floatX *weight, const floatX *bias, int B, int T, int C, int OC) {
    int N = B * T;
    if (C % 8 != 0 || OC % 8 != 0) {
        die("matmul_forward_gpu: C=%d and OC=%d must be multiples of 8 (cuBLASLt alignment)", C, OC);
    }
    if (mm->fuse && gelu_out != NULL) {
        // D = gelu(x + bias) -> gelu_out, aux = x + bias -> out
        if (matmul_lt(mm, gelu_out, CUDA_FLOATX, OC, weight, C, 1, inp, C, 0, OC, N, C, 0.0f,
                      CUBLASLT_EPILOGUE_GELU_AUX_BIAS, bias, out, OC, NULL)) {
            return;
        }
        matmul_fallback_note(mm, "matmul_forward_gpu", CUBLASLT_EPILOGUE_GELU_AUX_BIAS, OC, N, C);
    } else if (mm->fuse && bias != NULL) {
        if (matmul_lt(mm, out, CUDA_FLOATX, OC, weight, C, 1, inp, C, 0, OC, N, C, 0.0f,
                      CUBLASLT_EPILOGUE_BIAS, bias, NULL, 0, NULL)) {
            return;
        }
        matmul_fallback_note(mm, "matmul_forward_gpu", CUBLASLT_EPILOGUE_BIAS, OC, N, C);
    }
    // the plain product, then our own bias and GELU kernels
    matmul_plain(mm, "matmul_forward_gpu", out, CUDA_FLOATX, OC, weight, C, 1, inp, C, 0, OC, N, C, 0.0f);
    prof_mark(mm->prof, PF_BIAS_GELU);
    if (bias != NULL) { add_bias_gpu(out, bias, (size_t)N, OC); }
    if (gelu_out != NULL) { gelu_forward_gpu(gelu_out, out, (size_t)N * OC); }
}

// matmul_backward's dbias as its own kernels: dbias (OC) += column sums of
// dout (N,OC), in fp32 in a fixed order (column_sums_launch)
static void matmul_dbias_gpu(float *dbias, const floatX *dout, size_t N, int OC, float *scratch) {
    column_sums_launch(dbias, dout, N, OC, scratch);
}

// twin of matmul_backward:
//   dinp = dout @ weight          (overwrites: activation gradients are scratch
//                                  here; with gelu_inp != NULL the GELU's
//                                  backward follows: dinp = gelu'(gelu_inp) *
//                                  (dout @ weight), fused in cuBLASLt's DGELU
//                                  epilogue or by gelu_backward_gpu)
//   dweight += dout^T @ inp       (fp32, accumulated by cuBLASLt with beta = 1;
//                                  NULL for a frozen weight (LoRA): skipped)
//   dbias += column sums of dout  (fp32, deterministic; dbias may be NULL):
//                                  BGRADB in the dweight product into the
//                                  first OC floats of scratch, then added; or
//                                  the column sums (scratch as their partials)
static void matmul_backward_gpu(Matmul *mm, floatX *dinp, float *dweight, float *dbias,
                                const floatX *dout, const floatX *inp, const floatX *weight,
                                const floatX *gelu_inp, int B, int T, int C, int OC, float *scratch) {
    int N = B * T;
    int fused = 0;
    if (mm->fuse && gelu_inp != NULL) {
        fused = matmul_lt(mm, dinp, CUDA_FLOATX, C, weight, C, 0, dout, OC, 0, C, N, OC, 0.0f,
                          CUBLASLT_EPILOGUE_DGELU, NULL, (floatX *)gelu_inp, C, NULL);
        if (!fused) { matmul_fallback_note(mm, "matmul_backward_gpu", CUBLASLT_EPILOGUE_DGELU, C, N, OC); }
    }
    if (!fused) {
        matmul_plain(mm, "matmul_backward_gpu (dinp)", dinp, CUDA_FLOATX, C, weight, C, 0, dout, OC, 0, C,
                     N, OC, 0.0f);
        if (gelu_inp != NULL) {
            prof_mark(mm->prof, PF_BIAS_GELU);
            gelu_backward_gpu(dinp, gelu_inp, dinp, (size_t)N * C);
            prof_mark(mm->prof, PF_MATMUL_BWD);
        }
    }
    if (mm->fuse && dweight != NULL && dbias != NULL) {
        if (matmul_lt(mm, dweight, CUDA_R_32F, C, inp, C, 0, dout, OC, 1, C, OC, N, 1.0f,
                      CUBLASLT_EPILOGUE_BGRADB, NULL, NULL, 0, scratch)) {
            prof_mark(mm->prof, PF_DBIAS);
            LAUNCH(ceil_div(OC, 256), 256, 0, add_floats_kernel)(dbias, scratch, OC);
            launchCheck();
            return;
        }
        matmul_fallback_note(mm, "matmul_backward_gpu", CUBLASLT_EPILOGUE_BGRADB, C, OC, N);
    }
    if (dweight != NULL) {
        matmul_plain(mm, "matmul_backward_gpu (dweight)", dweight, CUDA_R_32F, C, inp, C, 0, dout, OC, 1, C,
                     OC, N, 1.0f);
    }
    if (dbias != NULL) {
        prof_mark(mm->prof, PF_DBIAS);
        matmul_dbias_gpu(dbias, dout, (size_t)N, OC, scratch);
    }
}

// ----------------------------------------------------------------------------
// attention: twin of attention_forward / attention_backward (the
// flash-style kernels and their tiles are in train_kernels.cuh)

// Tile sizes: the largest tile of each head-size class (head sizes up to 64
// and up to 128) is ATT_BLK_64 / ATT_BLK_128 rows: 64 (4 warps) for the bf16
// build at head size 64, 32 (2 warps) otherwise. Smaller tiles are compiled
// too, down to ATT_BLK_MIN (16 rows, one warp), for devices with less shared
// memory per block: the FP32 build's 32-row tiles at head size 128 need 111
// KiB in the backward, above the 99 KiB of sm_86/sm_89/sm_120. At setup
// (attention_choose) each model takes the largest variant of its class whose
// forward and backward fit in the device's opt-in limit per block; the
// largest variant is the one used before this choice existed, so on a device
// where it fits the sums are unchanged.
#ifdef ENABLE_FP32
#define ATT_BLK_64 32
#else
#define ATT_BLK_64 64
#endif
#define ATT_BLK_128 32
#define ATT_BLK_MIN 16

// one compiled tile variant: rows per tile and its dynamic shared memory
typedef struct {
    int blk;
    size_t fwd_smem, bwd_smem;
} AttTile;

template <int BLK, int HSP>
static AttTile att_tile(void) {
    AttTile t = {BLK, AttFwdSmem<BLK, HSP>::bytes, AttBwdSmem<BLK, HSP>::bytes};
    return t;
}

// the compiled variants for head sizes up to hsp (64 or 128), largest first;
// returns how many
static int attention_variants(AttTile *v, int hsp) {
    int n = 0;
    if (hsp == 64) {
#if ATT_BLK_64 == 64
        v[n++] = att_tile<64, 64>();
#endif
        v[n++] = att_tile<32, 64>();
        v[n++] = att_tile<ATT_BLK_MIN, 64>();
    } else {
        v[n++] = att_tile<ATT_BLK_128, 128>();
        v[n++] = att_tile<ATT_BLK_MIN, 128>();
    }
    return n;
}

// the head-size class of hs: tiles pad head dims to 64 or 128
static int attention_hsp(int hs) { return hs <= 64 ? 64 : 128; }

// The bf16 build's tensor-core kernels (train_attention.cuh, lab version 4)
// take head sizes 64 and 128 exactly; other head sizes, and the FP32 build
// (bf16 mma needs bf16 operands), keep the tile kernels above. Their tiles:
// blocks of FA_ROWS (64) rows, and per head size the keys per tile of the
// forward (fwd_bk) and of dQ (dq_bk) and the queries per tile of dK/dV
// (dkv_bq), chosen so that no kernel spills registers (dev/README.md has
// ptxas's counts) and, largest first, by the device's shared memory: hs 128's
// first variant needs 102 KiB for dQ (A100, H100), its second 85 KiB (the 99
// KiB of sm_86/sm_89/sm_120). A device where none fits uses the tile kernels.
typedef struct {
    int hs, rows, fwd_bk, dkv_bq, dq_bk;
    size_t fwd_smem, dkv_smem, dq_smem;
} AttMmaTile;

#ifndef ENABLE_FP32
template <int HS, int FBK, int BQ, int QBK>
static AttMmaTile att_mma_tile(void) {
    AttMmaTile t = {HS, FA_ROWS, FBK, BQ, QBK, FaFwdSmem<HS, FBK>::bytes, FaDkvSmem<HS, BQ>::bytes, FaDqSmem<HS, QBK>::bytes};
    return t;
}
#endif

// the tensor-core variants for head size hs, largest first; returns how many.
// Built with -DATT_NO_MMA there are none, and the bf16 build runs the tile
// kernels at every head size (to compare the two on a GPU)
static int attention_mma_variants(AttMmaTile *v, int hs) {
    int n = 0;
#if !defined(ENABLE_FP32) && !defined(ATT_NO_MMA)
    if (hs == 64) { v[n++] = att_mma_tile<64, 64, 64, 64>(); }
    if (hs == 128) {
        v[n++] = att_mma_tile<128, 64, 32, 64>();
        v[n++] = att_mma_tile<128, 64, 32, 32>();
    }
#else
    (void)v;
    (void)hs;
#endif
    return n;
}

// what a model's attention runs on this device (attention_choose): the
// tensor-core kernels when mma is set (with its tiles), else the tile
// kernels with blk rows
typedef struct {
    int blk;
    int mma;
    AttMmaTile tile;
} AttChoice;

template <int BLK, int HSP>
static void attention_launch(floatX *out, float *lse, floatX *dqkv, const floatX *dout,
                             const floatX *qkv, float *D, int B, int T, int C, int NH, int backward) {
    int nt = (T + BLK - 1) / BLK;
    dim3 grid(nt, B * NH);
    if (!backward) {
        size_t sm = AttFwdSmem<BLK, HSP>::bytes;
        cudaCheck(cudaFuncSetAttribute(attention_forward_kernel<BLK, HSP>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
        LAUNCH(grid, BLK * 2, sm, attention_forward_kernel<BLK, HSP>)(out, lse, qkv, B, T, C, NH);
        launchCheck();
        return;
    }
    size_t sm = AttBwdSmem<BLK, HSP>::bytes;
    cudaCheck(cudaFuncSetAttribute(attention_backward_dkv_kernel<BLK, HSP>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
    cudaCheck(cudaFuncSetAttribute(attention_backward_dq_kernel<BLK, HSP>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
    LAUNCH(grid, BLK * 2, sm, attention_backward_dkv_kernel<BLK, HSP>)(dqkv, dout, qkv, lse, D, B, T,
                                                                        C, NH);
    launchCheck();
    LAUNCH(grid, BLK * 2, sm, attention_backward_dq_kernel<BLK, HSP>)(dqkv, dout, qkv, lse, D, B, T,
                                                                       C, NH);
    launchCheck();
}

#ifndef ENABLE_FP32
// the tensor-core kernels (train_attention.cuh): the forward, or the backward's
// dK/dV and dQ kernels (after attention_dot_kernel). Their cp.async copies 16
// bytes at a time: qkv and dout must be 16-byte aligned (train.cu's tensors
// start at ALLOC_ALIGN, a layer's slice at a multiple of B*T*3C elements, and
// C is a multiple of 64 here)
template <int HS, int FBK, int BQ, int QBK>
static void attention_mma_launch(floatX *out, float *lse, floatX *dqkv, const floatX *dout, const floatX *qkv,
                                 float *D, int B, int T, int C, int NH, int backward) {
    if ((uintptr_t)qkv % 16 != 0 || (dout != NULL && (uintptr_t)dout % 16 != 0)) {
        die("attention: the tensor-core kernels need qkv and dout 16-byte aligned");
    }
    dim3 grid((T + FA_ROWS - 1) / FA_ROWS, B * NH);
    if (!backward) {
        size_t sm = FaFwdSmem<HS, FBK>::bytes;
        cudaCheck(cudaFuncSetAttribute(attention_forward_mma_kernel<HS, FBK>,
                                       cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sm));
        LAUNCH(grid, FA_WARPS * WARP, sm, attention_forward_mma_kernel<HS, FBK>)(out, lse, qkv, B, T, C, NH);
        launchCheck();
        return;
    }
    size_t sk = FaDkvSmem<HS, BQ>::bytes, sq = FaDqSmem<HS, QBK>::bytes;
    cudaCheck(cudaFuncSetAttribute(attention_backward_dkv_mma_kernel<HS, BQ>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sk));
    cudaCheck(cudaFuncSetAttribute(attention_backward_dq_mma_kernel<HS, QBK>,
                                   cudaFuncAttributeMaxDynamicSharedMemorySize, (int)sq));
    LAUNCH(grid, FA_WARPS * WARP, sk, attention_backward_dkv_mma_kernel<HS, BQ>)(dqkv, dout, qkv, lse, D, B, T,
                                                                                   C, NH);
    launchCheck();
    LAUNCH(grid, FA_WARPS * WARP, sq, attention_backward_dq_mma_kernel<HS, QBK>)(dqkv, dout, qkv, lse, D, B, T,
                                                                                  C, NH);
    launchCheck();
}
#endif

static void attention_check(int C, int NH) {
    int hs = C / NH;
    if (hs > ATT_MAX_HS) {
        die("attention: head size C/NH = %d is above the %d the GPU kernels support", hs, ATT_MAX_HS);
    }
}

// the kernels for head size hs on the current device: the first
// tensor-core variant whose three kernels fit in the opt-in shared memory
// per block, else the largest tile variant whose forward and backward fit;
// prints the choice when verbose
static AttChoice attention_choose(int hs, int verbose) {
    int dev = 0, optin = 0;
    cudaCheck(cudaGetDevice(&dev));
    cudaCheck(cudaDeviceGetAttribute(&optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev));
    AttChoice ch;
    memset(&ch, 0, sizeof(ch));
    AttMmaTile mv[4];
    int nm = attention_mma_variants(mv, hs);
    for (int i = 0; i < nm; i++) {
        const AttMmaTile *m = &mv[i];
        if (m->fwd_smem <= (size_t)optin && m->dkv_smem <= (size_t)optin && m->dq_smem <= (size_t)optin) {
            if (verbose) {
                printf("attention: hs %d tensor-core kernels, %d-row blocks, keys per tile %d (forward) and %d "
                       "(dQ), queries per tile %d (dK/dV); %zu, %zu, %zu KiB of %d KiB per block\n",
                       hs, m->rows, m->fwd_bk, m->dq_bk, m->dkv_bq, (m->fwd_smem + 1023) / 1024,
                       (m->dkv_smem + 1023) / 1024, (m->dq_smem + 1023) / 1024, optin / 1024);
            }
            ch.mma = 1;
            ch.tile = *m;
            return ch;
        }
    }
    AttTile v[4];
    int n = attention_variants(v, attention_hsp(hs));
    for (int i = 0; i < n; i++) {
        if (v[i].fwd_smem <= (size_t)optin && v[i].bwd_smem <= (size_t)optin) {
            if (verbose) {
                printf("attention: hs %d tiles %d (forward %zu KiB, backward %zu KiB of %d KiB per block)\n",
                       hs, v[i].blk, (v[i].fwd_smem + 1023) / 1024, (v[i].bwd_smem + 1023) / 1024,
                       optin / 1024);
            }
            ch.blk = v[i].blk;
            return ch;
        }
    }
    die("attention: no tile variant for head size %d fits in this GPU's %d bytes of shared memory per "
        "block (the smallest, %d rows, needs %zu forward and %zu backward)",
        hs, optin, v[n - 1].blk, v[n - 1].fwd_smem, v[n - 1].bwd_smem);
    return ch;
}

// attention_mma_launch with the chosen tensor-core tiles, or
// attention_launch with the tile variant ch->blk (one of attention_variants')
static void attention_dispatch(const AttChoice *ch, floatX *out, float *lse, floatX *dqkv, const floatX *dout,
                               const floatX *qkv, float *D, int B, int T, int C, int NH, int backward) {
    const int blk = ch->blk;
    if (ch->mma) {
#ifndef ENABLE_FP32
        const AttMmaTile *m = &ch->tile;
        if (m->hs == 64 && C / NH == 64) {
            attention_mma_launch<64, 64, 64, 64>(out, lse, dqkv, dout, qkv, D, B, T, C, NH, backward);
            return;
        }
        if (m->hs == 128 && C / NH == 128 && m->dq_bk == 64) {
            attention_mma_launch<128, 64, 32, 64>(out, lse, dqkv, dout, qkv, D, B, T, C, NH, backward);
            return;
        }
        if (m->hs == 128 && C / NH == 128 && m->dq_bk == 32) {
            attention_mma_launch<128, 64, 32, 32>(out, lse, dqkv, dout, qkv, D, B, T, C, NH, backward);
            return;
        }
#endif
        die("attention: no compiled tensor-core variant for head size %d", C / NH);
    }
    if (attention_hsp(C / NH) == 64) {
        switch (blk) {
#if ATT_BLK_64 == 64
        case 64: attention_launch<64, 64>(out, lse, dqkv, dout, qkv, D, B, T, C, NH, backward); return;
#endif
        case 32: attention_launch<32, 64>(out, lse, dqkv, dout, qkv, D, B, T, C, NH, backward); return;
        case ATT_BLK_MIN:
            attention_launch<ATT_BLK_MIN, 64>(out, lse, dqkv, dout, qkv, D, B, T, C, NH, backward);
            return;
        default: break;
        }
    } else {
        switch (blk) {
        case ATT_BLK_128:
            attention_launch<ATT_BLK_128, 128>(out, lse, dqkv, dout, qkv, D, B, T, C, NH, backward);
            return;
        case ATT_BLK_MIN:
            attention_launch<ATT_BLK_MIN, 128>(out, lse, dqkv, dout, qkv, D, B, T, C, NH, backward);
            return;
        default: break;
        }
    }
    die("attention: no compiled tile variant of %d rows for head size %d", blk, C / NH);
}

// twin of attention_forward: out (B,T,C) and lse (B,NH,T) (in place of att);
// overwrites both. ch: the kernels and tiles (attention_choose)
static void attention_forward_gpu(floatX *out, float *lse, const floatX *qkv, int B, int T, int C, int NH,
                                  const AttChoice *ch) {
    attention_check(C, NH);
    attention_dispatch(ch, out, lse, NULL, NULL, qkv, NULL, B, T, C, NH, 0);
}

// twin of attention_backward: dinp (B,T,3C) from dout (B,T,C), the forward's
// inp (qkv), out and lse; D is scratch (B,NH,T). Overwrites dinp (scratch).
// ch: the kernels and tiles (attention_choose)
static void attention_backward_gpu(floatX *dinp, float *D, const floatX *dout, const floatX *inp,
                                   const floatX *out, const float *lse, int B, int T, int C, int NH,
                                   const AttChoice *ch) {
    attention_check(C, NH);
    size_t warps = (size_t)B * T * NH;
    LAUNCH(ceil_div(warps, 8), 8 * WARP, 0, attention_dot_kernel)(D, dout, out, B, T, C, NH);
    launchCheck();
    attention_dispatch(ch, NULL, (float *)lse, dinp, dout, inp, D, B, T, C, NH, 1);
}

// ----------------------------------------------------------------------------
// GELU: twin of gelu_forward / gelu_backward. The matmuls fuse GELU into
// cuBLASLt's epilogue; these run with --gelu-fusion 0, under --recompute, and
// when cuBLASLt offers no algorithm with that epilogue.

// twin of gelu_forward: overwrites out
static void gelu_forward_gpu(floatX *out, const floatX *inp, size_t N) {
    LAUNCH(ceil_div(N, (size_t)256 * X128), 256, 0, gelu_forward_kernel)(out, inp, N);
    launchCheck();
}

// the activation gradients are scratch on the GPU, so this one overwrites
static void gelu_backward_gpu(floatX *dinp, const floatX *inp, const floatX *dout, size_t N) {
    LAUNCH(ceil_div(N, (size_t)256 * X128), 256, 0, gelu_backward_kernel)(dinp, inp, dout, N);
    launchCheck();
}

// ----------------------------------------------------------------------------
// residual: twin of residual_forward, fused with the layernorm_forward after it

// twin of residual_forward followed by layernorm_forward, in one pass
static void residual_layernorm_forward_gpu(floatX *residual, floatX *out, float *mean, float *rstd,
                                           const floatX *inp1, const floatX *inp2,
                                           const floatX *weight, const floatX *bias, int B, int T,
                                           int C) {
    layernorm_forward_launch(residual, out, mean, rstd, inp1, inp2, weight, bias, (size_t)B * T, C);
}

// ----------------------------------------------------------------------------
// fused classifier: twin of softmax_crossentropy_forward followed by
// softmax_crossentropy_backward (the kernel in train_kernels.cuh)

// losses (B,T) from logits (B,T,Vp) and targets; with write_grad the logits
// are overwritten by dlogits for a loss scaled by dloss per token
static void classifier_gpu(floatX *logits, float *losses, const int *targets, float dloss,
                           int write_grad, int B, int T, int V, int Vp) {
    LAUNCH(B * T, CLASSIFIER_THREADS, 0, classifier_kernel)(logits, losses, targets, dloss, write_grad,
                                                            V, Vp);
    launchCheck();
}

// ----------------------------------------------------------------------------
// the model on the GPU: train.c's parameter table carves every parameter
// group (the same offsets as the CPU's, so a flat copy moves a whole group
// between host and device), and a table of the GPU's activations (train.c's
// activation table minus what the fusions remove) carves the activations.

// the floatX copy of the parameters, pointed by the same table as
// ParameterTensors (same field order, so train.c's offsets apply)
typedef struct {
    floatX *wte, *wpe, *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb;
    floatX *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb, *lnfw, *lnfb;
} ParameterTensorsX;
static_assert(sizeof(ParameterTensorsX) == sizeof(ParameterTensors), "same fields as ParameterTensors");

static void point_tensors_x(ParameterTensorsX *t, const TensorSpec *specs, floatX *memory) {
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        floatX **field = (floatX **)((char *)t + specs[i].offset);
        *field = memory + specs[i].start;
    }
}

// one layer's floatX weights (twin of layer_params)
typedef struct {
    const floatX *ln1w, *ln1b, *qkvw, *qkvb, *attprojw, *attprojb;
    const floatX *ln2w, *ln2b, *fcw, *fcb, *fcprojw, *fcprojb;
} LayerParamsX;

static LayerParamsX layer_params_x(const ParameterTensorsX *p, const GPT2Config *cfg, int l) {
    size_t C = cfg->channels;
    LayerParamsX lp;
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

// the GPU's activations. Saved for the backward (per layer, packed at the
// current B x T like train.c's layer_acts), then scratch that one backward
// reuses from layer to layer.
typedef struct {
    floatX *encoded;    // (B, T, C)
    floatX *ln1;        // (L, B, T, C)
    float *ln1_mean;    // (L, B, T)
    float *ln1_rstd;    // (L, B, T)
    floatX *qkv;        // (L, B, T, 3*C)
    floatX *atty;       // (L, B, T, C)
    float *att_lse;     // (L, B, NH, T) log-sum-exp of each attention row (replaces att)
    floatX *residual2;  // (L, B, T, C)
    floatX *ln2;        // (L, B, T, C)
    float *ln2_mean;    // (L, B, T)
    float *ln2_rstd;    // (L, B, T)
    floatX *fch;        // (L, B, T, 4*C) before GELU
    floatX *fch_gelu;   // (L, B, T, 4*C)
    floatX *residual3;  // (L, B, T, C)
    floatX *lnf;        // (B, T, C)
    float *lnf_mean;    // (B, T)
    float *lnf_rstd;    // (B, T)
    floatX *logits;     // (B, T, Vp); dlogits after a loss with gradient
    float *losses;      // (B, T)
    // scratch
    floatX *btc;        // (B, T, C) attproj / fcproj before the residual; d of a C-wide input
    floatX *dresidual;  // (B, T, C) gradient of the residual stream, layer to layer
    floatX *dqkv;       // (B, T, 3*C)
    floatX *dfch;       // (B, T, 4*C)
    float *att_D;       // (B, NH, T) dout . out per attention row
    float *colsum;      // (2, ceil(B*T / COLSUM_ROWS), 4*C) partial column sums: the layernorm
                        // backward's dweight/dbias partials, the bias column sums' partials,
                        // or BGRADB's dbias (its first OC floats)
    int *inputs;        // (B, T)
    int *targets;       // (B, T)
} GpuActs;

typedef struct {
    const char *name;
    size_t offset;  // offsetof() the pointer in GpuActs
    size_t numel;
    size_t elem;    // bytes per element
} GpuTensor;

#define NUM_GPU_ACTS 27
// with recompute, ln1, ln2 and fch_gelu keep one layer, recomputed in the backward
static void gpu_act_table(GpuTensor *t, const GPT2Config *cfg, int B_, int T_, int recompute) {
    size_t B = B_, T = T_, C = cfg->channels, L = cfg->num_layers, NH = cfg->num_heads;
    size_t Lr = recompute ? 1 : L;
    size_t Vp = cfg->padded_vocab_size, BT = B * T, X = sizeof(floatX), F = sizeof(float);
    size_t chunks = (BT + COLSUM_ROWS - 1) / COLSUM_ROWS;
    GpuTensor table[NUM_GPU_ACTS] = {
        {"encoded",   offsetof(GpuActs, encoded),   BT * C,          X},
        {"ln1",       offsetof(GpuActs, ln1),       Lr * BT * C,     X},
        {"ln1_mean",  offsetof(GpuActs, ln1_mean),  L * BT,          F},
        {"ln1_rstd",  offsetof(GpuActs, ln1_rstd),  L * BT,          F},
        {"qkv",       offsetof(GpuActs, qkv),       L * BT * 3 * C,  X},
        {"atty",      offsetof(GpuActs, atty),      L * BT * C,      X},
        {"att_lse",   offsetof(GpuActs, att_lse),   L * B * NH * T,  F},
        {"residual2", offsetof(GpuActs, residual2), L * BT * C,      X},
        {"ln2",       offsetof(GpuActs, ln2),       Lr * BT * C,     X},
        {"ln2_mean",  offsetof(GpuActs, ln2_mean),  L * BT,          F},
        {"ln2_rstd",  offsetof(GpuActs, ln2_rstd),  L * BT,          F},
        {"fch",       offsetof(GpuActs, fch),       L * BT * 4 * C,  X},
        {"fch_gelu",  offsetof(GpuActs, fch_gelu),  Lr * BT * 4 * C, X},
        {"residual3", offsetof(GpuActs, residual3), L * BT * C,      X},
        {"lnf",       offsetof(GpuActs, lnf),       BT * C,          X},
        {"lnf_mean",  offsetof(GpuActs, lnf_mean),  BT,              F},
        {"lnf_rstd",  offsetof(GpuActs, lnf_rstd),  BT,              F},
        {"logits",    offsetof(GpuActs, logits),    BT * Vp,         X},
        {"losses",    offsetof(GpuActs, losses),    BT,              F},
        {"btc",       offsetof(GpuActs, btc),       BT * C,          X},
        {"dresidual", offsetof(GpuActs, dresidual), BT * C,          X},
        {"dqkv",      offsetof(GpuActs, dqkv),      BT * 3 * C,      X},
        {"dfch",      offsetof(GpuActs, dfch),      BT * 4 * C,      X},
        {"att_D",     offsetof(GpuActs, att_D),     B * NH * T,      F},
        {"colsum",    offsetof(GpuActs, colsum),    2 * chunks * 4 * C, F},
        {"inputs",    offsetof(GpuActs, inputs),    BT,              sizeof(int)},
        {"targets",   offsetof(GpuActs, targets),   BT,              sizeof(int)},
    };
    memcpy(t, table, sizeof(table));
}

// the first scratch entry of the table: everything before it is saved for the backward
#define GPU_FIRST_SCRATCH 19

// bytes of tensors [i0, i1) of the table, each start aligned to ALLOC_ALIGN
static size_t gpu_table_bytes(const GpuTensor *t, int i0, int i1) {
    size_t total = 0;
    for (int i = i0; i < i1; i++) {
        total = (total + ALLOC_ALIGN - 1) / ALLOC_ALIGN * ALLOC_ALIGN;
        total += t[i].numel * t[i].elem;
    }
    return total;
}

// points tensors [0, n) of the table into one allocation
static void gpu_table_point(void *structp, const GpuTensor *t, int n, char *memory) {
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        at = (at + ALLOC_ALIGN - 1) / ALLOC_ALIGN * ALLOC_ALIGN;
        *(void **)((char *)structp + t[i].offset) = memory + at;
        at += t[i].numel * t[i].elem;
    }
}

// LoRA on the GPU (twin of train.c's LoraState): the trainable set's fp32
// values, gradients and AdamW moments in train.c's table order (lora_specs:
// the adapters, then with --lora-train-norms the biases and layernorms), the
// adapters' compute copy the matmuls read, and the saved h of each target.
// The base is frozen: it has no gradients and no moments, and in the bf16
// build no fp32 master copy either, only the bf16 copy the matmuls read.
typedef struct {
    floatX *a[LORA_NUM_TARGETS];  // (L, R, in) into w_x; NULL when not targeted
    floatX *b[LORA_NUM_TARGETS];  // (L, out, R)
} LoraTensorsX;
static_assert(sizeof(LoraTensorsX) == sizeof(LoraTensors), "same fields as LoraTensors");

typedef struct {
    LoraConfig config;          // config.rank == 0: LoRA is off
    float scale;                // alpha / R
    TensorSpec specs[LORA_MAX_TRAINABLE];
    int base[LORA_MAX_TRAINABLE];  // as train.c's: the base tensor of entry k, or -1 for an adapter
    int num_specs;
    size_t num_adapters, num_trainable;
    float *w;                   // device (num_trainable) the trainable set's fp32 values
    floatX *w_x;                // device (num_adapters) the adapters' compute copy; == w in the FP32 build
    float *g, *m, *v;           // device (num_trainable) gradients and AdamW moments
    LoraTensorsX ax;            // the adapters, into w_x
    LoraTensors gt;             // their gradients, into g
    floatX *h[LORA_NUM_TARGETS];  // device (L, B, T, R) scale * A x of target t, saved for the backward
    floatX *dh;                 // device (B, T, R) scratch of lora_backward_gpu
} GpuLora;

typedef struct {
    GPT2Config config;
    TensorSpec param_specs[NUM_PARAMETER_TENSORS];
    size_t num_parameters;     // as on the CPU
    size_t opt_start, opt_end; // the parameters this rank updates: all, or its ZeRO-1 shard
    // device, one allocation per group, train.c's layout
    // (with LoRA: params NULL in the bf16 build, grads, m, v NULL; see GpuLora)
    float *params;             // (num_parameters) fp32 master weights
    floatX *params_x;          // (num_parameters) the compute copy (bf16); == params in the FP32 build
    float *grads;              // (num_parameters) fp32 gradients
    float *m, *v;              // (opt_end - opt_start) AdamW moments of this rank's parameters
    GpuLora lora;              // LoRA fine-tuning (lora.config.rank > 0): the base is frozen
    ParameterTensorsX px;      // into params_x
    ParameterTensors g;        // into grads
    double *norm_partials;     // device (chunks)
    double *norm_total;        // device (1): the partials summed (grad_norm_finish_kernel)
    float *loss_mean;          // device (1): the mean loss (loss_mean_kernel)
    // activations
    int B_max, T_max, B, T;
    GpuActs a;
    void *acts_memory;
    size_t act_bytes, scratch_bytes;
    size_t bucket_bytes;       // the encoder backward's token buckets, chunks and partial sums
    TokenBuckets buckets;
    // the step's host side: pinned (cudaMallocHost) at setup, so that the
    // copies are asynchronous on the step's stream (the default stream, on
    // which every kernel and cuBLASLt call of this file runs); a step
    // allocates nothing and reads back one float (loss) and one double (norm)
    int *inputs_host;          // pinned (B_max, T_max) the last forward's tokens
    int *targets_host;         // pinned (B_max, T_max)
    float *loss_host;          // pinned (1)
    double *norm_host;         // pinned (1)
    size_t pinned_bytes;       // every cudaMallocHost, for the bill
    // events on the step's stream: the pinned inputs and buckets (inputs_free)
    // and targets (targets_free) may be overwritten once their uploads are
    // done; the loss and the norm have arrived on the host
    cudaEvent_t inputs_free, targets_free, loss_ready, norm_ready;
    float *logits_row;         // device (Vp): one row of logits widened to fp32, for the sampler
    Matmul mm;
    size_t bytes_allocated;    // every cudaMalloc above, for the bill
    // data parallel: this process's rank among nranks
    int rank, nranks;
    int recompute;             // ln1, ln2, fch_gelu are recomputed in the backward
    AttChoice att;             // the attention's kernels and tiles on this device (attention_choose)
    Profile prof;              // TRAIN_GPU_PROFILE (off unless prof_init)
#ifdef USE_MPI
    ncclComm_t nccl;
#endif
} GPT2GPU;

// pinned host memory (cudaMallocHost), at setup only
static void *host_alloc_pinned(GPT2GPU *g, size_t bytes) {
    void *p = NULL;
    cudaError_t err = cudaMallocHost(&p, bytes);
    if (err != cudaSuccess) {
        die("cudaMallocHost: %zu bytes of pinned host memory: %s", bytes, cudaGetErrorString(err));
    }
    g->pinned_bytes += bytes;
    return p;
}

static void *gpu_alloc(GPT2GPU *g, size_t bytes) {
    void *p = NULL;
    cudaError_t err = cudaMalloc(&p, bytes);
    if (err != cudaSuccess) {
        size_t free_b = 0, total_b = 0;
        cudaMemGetInfo(&free_b, &total_b);
        die("out of GPU memory: %zu bytes asked, %zu of %zu free (%s); try a smaller -b",
            bytes, free_b, total_b, cudaGetErrorString(err));
    }
    g->bytes_allocated += bytes;
    return p;
}

static void gpu_lora_init(GPT2GPU *g, const LoraState *ls, int B, int T);

// allocates parameters (zero), gradients, moments and activations for
// batches of up to B x T; this rank (of nranks) updates parameters
// [opt_start, opt_end) (train.c's shard boundaries with ZeRO-1, else all);
// recompute: keep less, recompute GELU and layernorm outputs in the backward.
// With ls (train.c's LoRA state, rank > 0) the base is frozen: only its
// compute copy, and LoRA's trainable set (gpu_lora_init); opt_* are unused.
static void gpu_model_init_lora(GPT2GPU *g, const GPT2Config *cfg, int B, int T, int rank, int nranks,
                                size_t opt_start, size_t opt_end, int recompute, const LoraState *ls) {
    memset(g, 0, sizeof(*g));
    int lora = ls != NULL && ls->config.rank > 0;
    check_config(cfg, "model");
    if (T > cfg->max_seq_len) {
        die("sequence length T=%d is longer than the model's maxT=%d", T, cfg->max_seq_len);
    }
    // 8: cuBLASLt's alignment, and whole x128 packs (train_kernels.cuh) in
    // every row of activations and logits
    if (cfg->channels % 8 != 0) { die("the GPU trainer needs C (%d) to be a multiple of 8", cfg->channels); }
    if (cfg->padded_vocab_size % 8 != 0) {
        die("the GPU trainer needs the padded vocabulary Vp (%d) to be a multiple of 8; re-export the "
            "model with Vp = V rounded up to %d", cfg->padded_vocab_size, VOCAB_PAD);
    }
    if (layernorm_packs(cfg->channels) == 0) {
        die("the GPU trainer's layernorm holds rows of up to %d channels in registers; C=%d is more",
            LN_MAX_PACKS * WARP * X128, cfg->channels);
    }
    attention_check(cfg->channels, cfg->num_heads);
    g->att = attention_choose(cfg->channels / cfg->num_heads, rank == 0);
    g->config = *cfg;
    g->rank = rank;
    g->nranks = nranks;
    g->recompute = recompute;
    parameter_specs(g->param_specs, cfg);
    size_t np = layout_specs(g->param_specs, NUM_PARAMETER_TENSORS);
    if (!lora && (opt_start >= opt_end || opt_end > np)) {
        die("gpu_model_init: bad optimizer range [%zu, %zu) of %zu", opt_start, opt_end, np);
    }
    g->num_parameters = np;
    if (lora) {
        // the frozen base: the weights the matmuls read, nothing else
#ifdef ENABLE_FP32
        g->params = (float *)gpu_alloc(g, np * sizeof(float));
        g->params_x = g->params;
#else
        g->params_x = (floatX *)gpu_alloc(g, np * sizeof(floatX));
#endif
    } else {
        g->opt_start = opt_start;
        g->opt_end = opt_end;
        size_t nm = opt_end - opt_start;
        g->params = (float *)gpu_alloc(g, np * sizeof(float));
        g->grads = (float *)gpu_alloc(g, np * sizeof(float));
        g->m = (float *)gpu_alloc(g, nm * sizeof(float));
        g->v = (float *)gpu_alloc(g, nm * sizeof(float));
#ifdef ENABLE_FP32
        g->params_x = g->params;
#else
        g->params_x = (floatX *)gpu_alloc(g, np * sizeof(floatX));
#endif
        cudaCheck(cudaMemset(g->params, 0, np * sizeof(float)));
        cudaCheck(cudaMemset(g->grads, 0, np * sizeof(float)));
        cudaCheck(cudaMemset(g->m, 0, nm * sizeof(float)));
        cudaCheck(cudaMemset(g->v, 0, nm * sizeof(float)));
        point_tensors(&g->g, g->param_specs, NUM_PARAMETER_TENSORS, g->grads);
    }
    cudaCheck(cudaMemset(g->params_x, 0, np * sizeof(floatX)));
    point_tensors_x(&g->px, g->param_specs, g->params_x);
    size_t chunks = ((lora ? ls->num_trainable : np) + NORM_CHUNK - 1) / NORM_CHUNK;
    g->norm_partials = (double *)gpu_alloc(g, chunks * sizeof(double));
    g->norm_total = (double *)gpu_alloc(g, sizeof(double));
    g->loss_mean = (float *)gpu_alloc(g, sizeof(float));
    // activations and scratch: one allocation, carved by the table
    GpuTensor table[NUM_GPU_ACTS];
    gpu_act_table(table, cfg, B, T, recompute);
    g->act_bytes = gpu_table_bytes(table, 0, GPU_FIRST_SCRATCH);
    size_t total = gpu_table_bytes(table, 0, NUM_GPU_ACTS);
    g->scratch_bytes = total - g->act_bytes;
    g->acts_memory = gpu_alloc(g, total);
    gpu_table_point(&g->a, table, NUM_GPU_ACTS, (char *)g->acts_memory);
    g->B_max = B;
    g->T_max = T;
    size_t BT = (size_t)B * T;
    TokenBuckets *tb = &g->buckets;
    tb->ids = (int *)host_alloc_pinned(g, BT * sizeof(int));
    tb->starts = (int *)host_alloc_pinned(g, (BT + 1) * sizeof(int));
    tb->positions = (int *)host_alloc_pinned(g, BT * sizeof(int));
    tb->count = (int *)mallocCheck((size_t)cfg->vocab_size * sizeof(int));  // host only
    tb->d_ids = (int *)gpu_alloc(g, BT * sizeof(int));
    tb->d_starts = (int *)gpu_alloc(g, (BT + 1) * sizeof(int));
    tb->d_positions = (int *)gpu_alloc(g, BT * sizeof(int));
    // the chunks of the split buckets and their partial sums: allocated once
    // for the worst case of B x T tokens
    tb->chunk = ENCODER_CHUNK;
    size_t max_chunks = token_buckets_max_chunks(BT, tb->chunk);
    tb->partial_starts = (int *)host_alloc_pinned(g, (BT + 1) * sizeof(int));
    tb->chunk_starts = (int *)host_alloc_pinned(g, max_chunks * sizeof(int));
    tb->chunk_ends = (int *)host_alloc_pinned(g, max_chunks * sizeof(int));
    tb->d_partial_starts = (int *)gpu_alloc(g, (BT + 1) * sizeof(int));
    tb->d_chunk_starts = (int *)gpu_alloc(g, max_chunks * sizeof(int));
    tb->d_chunk_ends = (int *)gpu_alloc(g, max_chunks * sizeof(int));
    tb->d_partials = (float *)gpu_alloc(g, max_chunks * (size_t)cfg->channels * sizeof(float));
    g->bucket_bytes = (4 * BT + 2) * sizeof(int) + 2 * max_chunks * sizeof(int) +
                      max_chunks * (size_t)cfg->channels * sizeof(float);
    g->inputs_host = (int *)host_alloc_pinned(g, BT * sizeof(int));
    g->targets_host = (int *)host_alloc_pinned(g, BT * sizeof(int));
    g->loss_host = (float *)host_alloc_pinned(g, sizeof(float));
    g->norm_host = (double *)host_alloc_pinned(g, sizeof(double));
    // no timing: these only order the host against the stream
    cudaCheck(cudaEventCreateWithFlags(&g->inputs_free, cudaEventDisableTiming));
    cudaCheck(cudaEventCreateWithFlags(&g->targets_free, cudaEventDisableTiming));
    cudaCheck(cudaEventCreateWithFlags(&g->loss_ready, cudaEventDisableTiming));
    cudaCheck(cudaEventCreateWithFlags(&g->norm_ready, cudaEventDisableTiming));
    g->logits_row = (float *)gpu_alloc(g, (size_t)cfg->padded_vocab_size * sizeof(float));
    cublasCheck(cublasLtCreate(&g->mm.lt));
    g->mm.workspace = gpu_alloc(g, CUBLAS_WORKSPACE_BYTES);
    g->mm.fuse = 1;  // cuBLASLt's epilogues; --gelu-fusion 0 clears it (cuda_setup)
    g->mm.prof = &g->prof;
    if (lora) { gpu_lora_init(g, ls, B, T); }
}

// the whole model, every parameter trained
static void gpu_model_init(GPT2GPU *g, const GPT2Config *cfg, int B, int T, int rank, int nranks,
                           size_t opt_start, size_t opt_end, int recompute) {
    gpu_model_init_lora(g, cfg, B, T, rank, nranks, opt_start, opt_end, recompute, NULL);
}

static void gpu_lora_free(GPT2GPU *g);

static void gpu_model_free(GPT2GPU *g) {
    gpu_lora_free(g);
    cudaCheck(cudaFree(g->params));
    cudaCheck(cudaFree(g->grads));
    cudaCheck(cudaFree(g->m));
    cudaCheck(cudaFree(g->v));
#ifndef ENABLE_FP32
    cudaCheck(cudaFree(g->params_x));
#endif
    cudaCheck(cudaFree(g->norm_partials));
    cudaCheck(cudaFree(g->norm_total));
    cudaCheck(cudaFree(g->loss_mean));
    cudaCheck(cudaFree(g->acts_memory));
    cudaCheck(cudaFree(g->buckets.d_ids));
    cudaCheck(cudaFree(g->buckets.d_starts));
    cudaCheck(cudaFree(g->buckets.d_positions));
    cudaCheck(cudaFree(g->buckets.d_partial_starts));
    cudaCheck(cudaFree(g->buckets.d_chunk_starts));
    cudaCheck(cudaFree(g->buckets.d_chunk_ends));
    cudaCheck(cudaFree(g->buckets.d_partials));
    cudaCheck(cudaFree(g->mm.workspace));
    cudaCheck(cudaFree(g->logits_row));
    cublasCheck(cublasLtDestroy(g->mm.lt));
    prof_free(&g->prof);
    cudaCheck(cudaEventDestroy(g->inputs_free));
    cudaCheck(cudaEventDestroy(g->targets_free));
    cudaCheck(cudaEventDestroy(g->loss_ready));
    cudaCheck(cudaEventDestroy(g->norm_ready));
    cudaCheck(cudaFreeHost(g->buckets.ids));
    cudaCheck(cudaFreeHost(g->buckets.starts));
    cudaCheck(cudaFreeHost(g->buckets.positions));
    cudaCheck(cudaFreeHost(g->buckets.partial_starts));
    cudaCheck(cudaFreeHost(g->buckets.chunk_starts));
    cudaCheck(cudaFreeHost(g->buckets.chunk_ends));
    cudaCheck(cudaFreeHost(g->inputs_host));
    cudaCheck(cudaFreeHost(g->targets_host));
    cudaCheck(cudaFreeHost(g->loss_host));
    cudaCheck(cudaFreeHost(g->norm_host));
    free(g->buckets.count);
    memset(g, 0, sizeof(*g));
}

// the floatX compute copy from the fp32 master weights
static void gpu_refresh_params_x(GPT2GPU *g) {
#ifndef ENABLE_FP32
    LAUNCH(ceil_div(g->num_parameters, (size_t)256 * X128), 256, 0, float_to_x_kernel)(g->params_x, g->params,
                                                                        g->num_parameters);
    launchCheck();
#else
    (void)g;
#endif
}

// host -> device: the parameters (num_parameters floats, train.c's layout)
// and this rank's AdamW moments (opt_end - opt_start floats each)
static void gpu_upload(GPT2GPU *g, const float *params, const float *m, const float *v) {
    size_t nm = (g->opt_end - g->opt_start) * sizeof(float);
    cudaCheck(cudaMemcpy(g->params, params, g->num_parameters * sizeof(float), cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(g->m, m, nm, cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(g->v, v, nm, cudaMemcpyHostToDevice));
    gpu_refresh_params_x(g);
}

// device -> host: the same three (any may be NULL)
static void gpu_download(GPT2GPU *g, float *params, float *m, float *v) {
    size_t nm = (g->opt_end - g->opt_start) * sizeof(float);
    if (params != NULL) {
        cudaCheck(cudaMemcpy(params, g->params, g->num_parameters * sizeof(float), cudaMemcpyDeviceToHost));
    }
    if (m != NULL) { cudaCheck(cudaMemcpy(m, g->m, nm, cudaMemcpyDeviceToHost)); }
    if (v != NULL) { cudaCheck(cudaMemcpy(v, g->v, nm, cudaMemcpyDeviceToHost)); }
}

// ----------------------------------------------------------------------------
// LoRA: twin of train.c's LoRA (lora_forward, lora_backward and the trainable
// set's zeroing, norm and AdamW). The adapters' products are cuBLASLt's, in
// the same column-major reading as matmul_forward_gpu and matmul_backward_gpu;
// the scale between them is lora_scale_kernel.

// allocates LoRA's trainable set (values, gradients, moments: all zero until
// gpu_lora_upload), the adapters' compute copy and the h of every targeted
// matrix for batches of up to B x T; points the gradients of trainable base
// tensors (--lora-train-norms) into the trainable set's, as train.c's lora_init
static void gpu_lora_init(GPT2GPU *g, const LoraState *ls, int B, int T) {
    GpuLora *lo = &g->lora;
    lo->config = ls->config;
    lo->scale = ls->scale;
    lo->num_specs = ls->num_specs;
    memcpy(lo->specs, ls->specs, sizeof(lo->specs));
    memcpy(lo->base, ls->base, sizeof(lo->base));
    lo->num_adapters = ls->num_adapters;
    lo->num_trainable = ls->num_trainable;
    size_t n = lo->num_trainable;
    lo->w = (float *)gpu_alloc(g, n * sizeof(float));
#ifdef ENABLE_FP32
    lo->w_x = lo->w;  // the adapters come first in the table: the same starts
#else
    lo->w_x = (floatX *)gpu_alloc(g, lo->num_adapters * sizeof(floatX));
#endif
    lo->g = (float *)gpu_alloc(g, n * sizeof(float));
    lo->m = (float *)gpu_alloc(g, n * sizeof(float));
    lo->v = (float *)gpu_alloc(g, n * sizeof(float));
    cudaCheck(cudaMemset(lo->w, 0, n * sizeof(float)));
    cudaCheck(cudaMemset(lo->w_x, 0, lo->num_adapters * sizeof(floatX)));
    cudaCheck(cudaMemset(lo->g, 0, n * sizeof(float)));
    cudaCheck(cudaMemset(lo->m, 0, n * sizeof(float)));
    cudaCheck(cudaMemset(lo->v, 0, n * sizeof(float)));
    for (int k = 0; k < lo->num_specs; k++) {
        const TensorSpec *sp = &lo->specs[k];
        if (lo->base[k] < 0) {
            *(floatX **)((char *)&lo->ax + sp->offset) = lo->w_x + sp->start;
            *(float **)((char *)&lo->gt + sp->offset) = lo->g + sp->start;
        } else {
            *(float **)((char *)&g->g + sp->offset) = lo->g + sp->start;
        }
    }
    // h of each target is saved (an activation); dh is the backward's scratch
    size_t L = g->config.num_layers, BT = (size_t)B * T, R = lo->config.rank;
    for (int t = 0; t < LORA_NUM_TARGETS; t++) {
        if (!(lo->config.targets & (1u << t))) { continue; }
        lo->h[t] = (floatX *)gpu_alloc(g, L * BT * R * sizeof(floatX));
        g->act_bytes += L * BT * R * sizeof(floatX);
    }
    lo->dh = (floatX *)gpu_alloc(g, BT * R * sizeof(floatX));
    g->scratch_bytes += BT * R * sizeof(floatX);
}

static void gpu_lora_free(GPT2GPU *g) {
    GpuLora *lo = &g->lora;
    if (lo->config.rank == 0) { return; }
    cudaCheck(cudaFree(lo->w));
#ifndef ENABLE_FP32
    cudaCheck(cudaFree(lo->w_x));
#endif
    cudaCheck(cudaFree(lo->g));
    cudaCheck(cudaFree(lo->m));
    cudaCheck(cudaFree(lo->v));
    for (int t = 0; t < LORA_NUM_TARGETS; t++) { cudaCheck(cudaFree(lo->h[t])); }
    cudaCheck(cudaFree(lo->dh));
    memset(lo, 0, sizeof(*lo));
}

// the frozen base's compute copy from the host's fp32 parameters. In the bf16
// build there is no fp32 copy on the device to convert from, so the
// parameters go up in pieces through the cuBLASLt workspace (idle here) and
// are rounded to bf16 there
static void gpu_upload_frozen(GPT2GPU *g, const float *params) {
    size_t np = g->num_parameters;
#ifdef ENABLE_FP32
    cudaCheck(cudaMemcpy(g->params_x, params, np * sizeof(float), cudaMemcpyHostToDevice));
#else
    size_t piece = CUBLAS_WORKSPACE_BYTES / sizeof(float);
    float *stage = (float *)g->mm.workspace;
    for (size_t at = 0; at < np; at += piece) {
        size_t n = np - at < piece ? np - at : piece;
        // a copy from pageable memory waits for the stream: the last piece's
        // conversion has read the workspace before it is overwritten
        cudaCheck(cudaMemcpy(stage, params + at, n * sizeof(float), cudaMemcpyHostToDevice));
        LAUNCH(ceil_div(n, (size_t)256 * X128), 256, 0, float_to_x_kernel)(g->params_x + at, stage, n);
        launchCheck();
    }
#endif
}

// host -> device for a LoRA run: the frozen base (with the trainable norms'
// current values, which live in the host's parameters), the trainable set's
// values and its AdamW moments, the adapters' compute copy
static void gpu_lora_upload(GPT2GPU *g, GPT2 *host) {
    GpuLora *lo = &g->lora;
    gpu_upload_frozen(g, host->params_memory);
    for (int k = 0; k < lo->num_specs; k++) {
        const TensorSpec *sp = &lo->specs[k];
        cudaCheck(cudaMemcpy(lo->w + sp->start, lora_values(host, k), spec_numel(sp) * sizeof(float),
                             cudaMemcpyHostToDevice));
    }
    size_t n = lo->num_trainable * sizeof(float);
    cudaCheck(cudaMemcpy(lo->m, host->lora.m_memory, n, cudaMemcpyHostToDevice));
    cudaCheck(cudaMemcpy(lo->v, host->lora.v_memory, n, cudaMemcpyHostToDevice));
#ifndef ENABLE_FP32
    LAUNCH(ceil_div(lo->num_adapters, (size_t)256 * X128), 256, 0, float_to_x_kernel)(lo->w_x, lo->w, lo->num_adapters);
    launchCheck();
#endif
}

// device -> host: the trainable set's values (adapters, and the trainable
// norms into the host's parameters) and its moments; with grads, also its
// gradients. The frozen base never changes, so it stays as the host has it.
static void gpu_lora_download(GPT2GPU *g, GPT2 *host, int grads) {
    GpuLora *lo = &g->lora;
    for (int k = 0; k < lo->num_specs; k++) {
        const TensorSpec *sp = &lo->specs[k];
        cudaCheck(cudaMemcpy(lora_values(host, k), lo->w + sp->start, spec_numel(sp) * sizeof(float),
                             cudaMemcpyDeviceToHost));
    }
    size_t n = lo->num_trainable * sizeof(float);
    cudaCheck(cudaMemcpy(host->lora.m_memory, lo->m, n, cudaMemcpyDeviceToHost));
    cudaCheck(cudaMemcpy(host->lora.v_memory, lo->v, n, cudaMemcpyDeviceToHost));
    if (grads) { cudaCheck(cudaMemcpy(host->lora.g_memory, lo->g, n, cudaMemcpyDeviceToHost)); }
}

// x *= s over n elements
static void lora_scale_gpu(floatX *x, float s, size_t n) {
    LAUNCH(ceil_div(n, 256), 256, 0, lora_scale_kernel)(x, s, n);
    launchCheck();
}

// twin of lora_forward: h = scale * inp @ lora_a^T (overwritten, saved),
// then out += h @ lora_b^T; inp (B,T,C), lora_a (R,C), lora_b (OC,R), out (B,T,OC)
static void lora_forward_gpu(Matmul *mm, floatX *out, floatX *h, const floatX *inp, const floatX *lora_a,
                             const floatX *lora_b, float scale, int B, int T, int C, int OC, int R) {
    int N = B * T;
    // as matmul_forward_gpu with the weight lora_a (R outputs)
    matmul_plain(mm, "lora_forward_gpu (h)", h, CUDA_FLOATX, R, lora_a, C, 1, inp, C, 0, R, N, C, 0.0f);
    lora_scale_gpu(h, scale, (size_t)N * R);
    // out^T (OC,N) += lora_b (OC,R) @ h^T (R,N): beta = 1 adds into out
    matmul_plain(mm, "lora_forward_gpu (out)", out, CUDA_FLOATX, OC, lora_b, R, 1, h, R, 0, OC, N, R, 1.0f);
}

// twin of lora_backward, its products in train.c's order:
//   dh = dout @ lora_b, dlora_b += dout^T @ h, dh *= scale,
//   dinp += dh @ lora_a, dlora_a += dh^T @ inp
// dh (B,T,R) is scratch; adds into dinp (floatX) and the adapters' fp32 gradients
static void lora_backward_gpu(Matmul *mm, floatX *dinp, float *dlora_a, float *dlora_b, floatX *dh,
                              const floatX *dout, const floatX *inp, const floatX *h,
                              const floatX *lora_a, const floatX *lora_b, float scale, int B, int T,
                              int C, int OC, int R) {
    int N = B * T;
    // matmul_backward_gpu's two products with the weight lora_b (OC, R), input h
    matmul_plain(mm, "lora_backward_gpu (dh)", dh, CUDA_FLOATX, R, lora_b, R, 0, dout, OC, 0, R, N, OC, 0.0f);
    matmul_plain(mm, "lora_backward_gpu (dlora_b)", dlora_b, CUDA_R_32F, R, h, R, 0, dout, OC, 1, R, OC, N,
                 1.0f);
    lora_scale_gpu(dh, scale, (size_t)N * R);
    // and with the weight lora_a (R, C), input inp; dinp accumulates (beta = 1)
    matmul_plain(mm, "lora_backward_gpu (dinp)", dinp, CUDA_FLOATX, C, lora_a, C, 0, dh, R, 0, C, N, R, 1.0f);
    matmul_plain(mm, "lora_backward_gpu (dlora_a)", dlora_a, CUDA_R_32F, C, inp, C, 0, dh, R, 1, C, R, N,
                 1.0f);
}

// whether target t (LoraTarget) has adapters in this run
static int gpu_lora_on(const GPT2GPU *g, int t) {
    return g->lora.config.rank > 0 && (g->lora.config.targets & (1u << t));
}

// twin of lora_forward_at: target t of layer l, when targeted: adds into out
static void gpu_lora_forward_at(GPT2GPU *g, int t, int l, floatX *out, const floatX *inp, int B, int T) {
    if (!gpu_lora_on(g, t)) { return; }
    GpuLora *lo = &g->lora;
    int in, oc, R = lo->config.rank;
    lora_target_dims(&g->config, t, &in, &oc);
    size_t BT = (size_t)B * T;
    lora_forward_gpu(&g->mm, out, lo->h[t] + l * BT * R, inp, lo->ax.a[t] + (size_t)l * R * in,
                     lo->ax.b[t] + (size_t)l * oc * R, lo->scale, B, T, in, oc, R);
}

// twin of lora_backward_at: adds into dinp and the adapters' gradients
static void gpu_lora_backward_at(GPT2GPU *g, int t, int l, floatX *dinp, const floatX *dout,
                                 const floatX *inp, int B, int T) {
    if (!gpu_lora_on(g, t)) { return; }
    GpuLora *lo = &g->lora;
    int in, oc, R = lo->config.rank;
    lora_target_dims(&g->config, t, &in, &oc);
    size_t BT = (size_t)B * T, la = (size_t)l * R * in, lb = (size_t)l * oc * R;
    lora_backward_gpu(&g->mm, dinp, lo->gt.a[t] + la, lo->gt.b[t] + lb, lo->dh, dout, inp,
                      lo->h[t] + l * BT * R, lo->ax.a[t] + la, lo->ax.b[t] + lb, lo->scale, B, T, in,
                      oc, R);
}

// twin of lora_update: AdamW over the trainable set, one launch per entry of
// the table (each entry one tensor: one decay rule), writing each new value's
// compute copy (an adapter's into w_x, a trainable norm's into the base's
// params_x, which the matmuls and layernorms read)
static void gpu_lora_update(GPT2GPU *g, const AdamWArgs *args) {
    GpuLora *lo = &g->lora;
    float bc1 = (float)(1.0 - pow(args->beta1, args->t));
    float bc2 = (float)(1.0 - pow(args->beta2, args->t));
    prof_mark(&g->prof, PF_ADAMW);
    for (int k = 0; k < lo->num_specs; k++) {
        const TensorSpec *sp = &lo->specs[k];
        size_t n = spec_numel(sp), at = sp->start;
        AdamWTable tab;  // the whole launch is one tensor
        for (int j = 0; j < NUM_PARAMETER_TENSORS; j++) {
            tab.end[j] = n;
            tab.decays[j] = spec_decays(sp);
        }
        floatX *x;
        if (lo->base[k] < 0) {
#ifdef ENABLE_FP32
            x = NULL;  // the adapters' compute copy is w itself
#else
            x = lo->w_x + at;
#endif
        } else {
            x = g->params_x + g->param_specs[lo->base[k]].start;
        }
        LAUNCH(adamw_blocks(0, n), 256, 0, adamw_kernel)(lo->w + at, x, lo->g + at, lo->m + at, lo->v + at, 0, n,
                                                         tab, args->lr, args->beta1, args->beta2, args->eps,
                                                         args->weight_decay, args->grad_scale, bc1, bc2);
        launchCheck();
    }
}

// the pointers of one layer into the GPU activations at shape B x T (twin of layer_acts)
typedef struct {
    floatX *ln1, *qkv, *atty, *residual2, *ln2, *fch, *fch_gelu, *residual3;
    float *ln1_mean, *ln1_rstd, *att_lse, *ln2_mean, *ln2_rstd;
} LayerActsX;

// (with recompute, ln1, ln2 and fch_gelu are one buffer shared by the layers)
static LayerActsX layer_acts_x(const GPT2GPU *g, int l, int B, int T) {
    const GpuActs *a = &g->a;
    size_t BT = (size_t)B * T, C = g->config.channels, NH = g->config.num_heads;
    size_t lr = g->recompute ? 0 : l;
    LayerActsX la;
    la.ln1 = a->ln1 + lr * BT * C;
    la.ln1_mean = a->ln1_mean + l * BT;
    la.ln1_rstd = a->ln1_rstd + l * BT;
    la.qkv = a->qkv + l * BT * 3 * C;
    la.atty = a->atty + l * BT * C;
    la.att_lse = a->att_lse + l * BT * NH;
    la.residual2 = a->residual2 + l * BT * C;
    la.ln2 = a->ln2 + lr * BT * C;
    la.ln2_mean = a->ln2_mean + l * BT;
    la.ln2_rstd = a->ln2_rstd + l * BT;
    la.fch = a->fch + l * BT * 4 * C;
    la.fch_gelu = a->fch_gelu + lr * BT * 4 * C;
    la.residual3 = a->residual3 + l * BT * C;
    return la;
}

// twin of gpt2_forward: logits (B, T, Vp) in g->a.logits for inputs (B, T)
// (host memory). Any B <= B_max, T <= T_max. Queues the forward and returns
// without waiting for it; the encoder backward's token buckets are built on
// the host while the GPU runs it, and uploaded behind it.
static void gpu_forward(GPT2GPU *g, const int *inputs, int B, int T) {
    const GPT2Config *cfg = &g->config;
    if (B > g->B_max || T > g->T_max || B < 1 || T < 1) {
        die("gpu_forward: batch %dx%d does not fit the activations (%dx%d)", B, T, g->B_max, g->T_max);
    }
    int C = cfg->channels, NH = cfg->num_heads, L = cfg->num_layers, Vp = cfg->padded_vocab_size;
    size_t BT = (size_t)B * T;
    check_tokens(inputs, BT, cfg->vocab_size, "inputs");
    // the pinned inputs and buckets may still feed the last forward's uploads
    cudaCheck(cudaEventSynchronize(g->inputs_free));
    memcpy(g->inputs_host, inputs, BT * sizeof(int));
    prof_mark(&g->prof, PF_COPIES);
    cudaCheck(cudaMemcpyAsync(g->a.inputs, g->inputs_host, BT * sizeof(int), cudaMemcpyHostToDevice, 0));
    g->B = B;
    g->T = T;
    const ParameterTensorsX *p = &g->px;
    GpuActs *a = &g->a;
    prof_mark(&g->prof, PF_ENCODER_FWD);
    encoder_forward_gpu(a->encoded, a->inputs, p->wte, p->wpe, B, T, C);
    LayerActsX first = layer_acts_x(g, 0, B, T);
    prof_mark(&g->prof, PF_LAYERNORM_FWD);
    layernorm_forward_gpu(first.ln1, first.ln1_mean, first.ln1_rstd, a->encoded, p->ln1w, p->ln1b, B, T, C);
    for (int l = 0; l < L; l++) {
        LayerParamsX lp = layer_params_x(p, cfg, l);
        LayerActsX la = layer_acts_x(g, l, B, T);
        const floatX *residual = l == 0 ? a->encoded : layer_acts_x(g, l - 1, B, T).residual3;
        // ln1 was made by the previous layer's fused residual + layernorm (or above for l = 0)
        prof_mark(&g->prof, PF_MATMUL_FWD);
        matmul_forward_gpu(&g->mm, la.qkv, NULL, la.ln1, lp.qkvw, lp.qkvb, B, T, C, 3 * C);
        gpu_lora_forward_at(g, LORA_QKV, l, la.qkv, la.ln1, B, T);  // LoRA: += the adapters' term
        prof_mark(&g->prof, PF_ATTENTION_FWD);
        attention_forward_gpu(la.atty, la.att_lse, la.qkv, B, T, C, NH, &g->att);
        prof_mark(&g->prof, PF_MATMUL_FWD);
        matmul_forward_gpu(&g->mm, a->btc, NULL, la.atty, lp.attprojw, lp.attprojb, B, T, C, C);
        gpu_lora_forward_at(g, LORA_ATTPROJ, l, a->btc, la.atty, B, T);
        prof_mark(&g->prof, PF_LAYERNORM_FWD);
        residual_layernorm_forward_gpu(la.residual2, la.ln2, la.ln2_mean, la.ln2_rstd, residual,
                                       a->btc, lp.ln2w, lp.ln2b, B, T, C);
        prof_mark(&g->prof, PF_MATMUL_FWD);
        if (g->recompute || gpu_lora_on(g, LORA_FC)) {
            // the GELU the backward will recompute, by the same kernel; or
            // LoRA's term, which goes in before the GELU (no fused epilogue)
            matmul_forward_gpu(&g->mm, la.fch, NULL, la.ln2, lp.fcw, lp.fcb, B, T, C, 4 * C);
            gpu_lora_forward_at(g, LORA_FC, l, la.fch, la.ln2, B, T);
            prof_mark(&g->prof, PF_BIAS_GELU);
            gelu_forward_gpu(la.fch_gelu, la.fch, BT * 4 * C);
        } else {
            matmul_forward_gpu(&g->mm, la.fch, la.fch_gelu, la.ln2, lp.fcw, lp.fcb, B, T, C, 4 * C);
        }
        prof_mark(&g->prof, PF_MATMUL_FWD);
        matmul_forward_gpu(&g->mm, a->btc, NULL, la.fch_gelu, lp.fcprojw, lp.fcprojb, B, T, 4 * C, C);
        gpu_lora_forward_at(g, LORA_FCPROJ, l, a->btc, la.fch_gelu, B, T);
        prof_mark(&g->prof, PF_LAYERNORM_FWD);
        // residual3 and the next layernorm: the next layer's ln1, or lnf after the last
        if (l + 1 < L) {
            LayerActsX nx = layer_acts_x(g, l + 1, B, T);
            LayerParamsX np = layer_params_x(p, cfg, l + 1);
            residual_layernorm_forward_gpu(la.residual3, nx.ln1, nx.ln1_mean, nx.ln1_rstd, la.residual2,
                                           a->btc, np.ln1w, np.ln1b, B, T, C);
        } else {
            residual_layernorm_forward_gpu(la.residual3, a->lnf, a->lnf_mean, a->lnf_rstd, la.residual2,
                                           a->btc, p->lnfw, p->lnfb, B, T, C);
        }
    }
    // the LM head is the token embedding (padding rows of wte are 0)
    prof_mark(&g->prof, PF_MATMUL_FWD);
    matmul_forward_gpu(&g->mm, a->logits, NULL, a->lnf, p->wte, NULL, B, T, C, Vp);
    prof_mark(&g->prof, PF_COPIES);
    // the whole forward is queued: while the GPU runs it, the buckets of
    // gpu_backward's encoder backward (a sort of the B*T tokens), queued
    // behind it. Eval and sampling forwards build them too: a pass over the
    // tokens and the vocabulary, small next to any forward.
    token_buckets_build(&g->buckets, g->inputs_host, BT, cfg->vocab_size);
    token_buckets_upload(&g->buckets, BT);
    cudaCheck(cudaEventRecord(g->inputs_free, 0));
}

// gpt2_loss's mean on the device: mean[0] = mean of losses[0..n)
static void loss_mean_gpu(float *mean, const float *losses, size_t n) {
    LAUNCH(1, LOSS_THREADS, 0, loss_mean_kernel)(mean, losses, n);
    launchCheck();
}

// twin of gpt2_loss (and the start of gpt2_backward), queued: the per-token
// losses of the last forward against targets (host), and their mean, on its
// way to the host (gpu_loss_read). With want_grad the logits are replaced by
// dlogits for a loss of dloss * (sum of per-token losses).
static void gpu_loss_queue(GPT2GPU *g, const int *targets, int want_grad, float dloss) {
    const GPT2Config *cfg = &g->config;
    size_t BT = (size_t)g->B * g->T;
    check_tokens(targets, BT, cfg->vocab_size, "targets");
    cudaCheck(cudaEventSynchronize(g->targets_free));  // the last upload of the pinned targets
    memcpy(g->targets_host, targets, BT * sizeof(int));
    prof_mark(&g->prof, PF_COPIES);
    cudaCheck(cudaMemcpyAsync(g->a.targets, g->targets_host, BT * sizeof(int), cudaMemcpyHostToDevice, 0));
    cudaCheck(cudaEventRecord(g->targets_free, 0));
    prof_mark(&g->prof, PF_CLASSIFIER);
    classifier_gpu(g->a.logits, g->a.losses, g->a.targets, dloss, want_grad, g->B, g->T,
                   cfg->vocab_size, cfg->padded_vocab_size);
    loss_mean_gpu(g->loss_mean, g->a.losses, BT);
    cudaCheck(cudaMemcpyAsync(g->loss_host, g->loss_mean, sizeof(float), cudaMemcpyDeviceToHost, 0));
    cudaCheck(cudaEventRecord(g->loss_ready, 0));
}

// the mean loss of the last gpu_loss_queue: waits for it (and only for it;
// a training step reads it after queueing the backward)
static float gpu_loss_read(GPT2GPU *g) {
    cudaCheck(cudaEventSynchronize(g->loss_ready));
    return *g->loss_host;
}

// gpu_loss_queue, then its value
static float gpu_loss(GPT2GPU *g, const int *targets, int want_grad, float dloss) {
    gpu_loss_queue(g, targets, want_grad, dloss);
    return gpu_loss_read(g);
}

// twin of gpt2_zero_grad
static void gpu_zero_grad(GPT2GPU *g) {
    prof_mark(&g->prof, PF_COPIES);
    if (g->lora.config.rank > 0) {  // LoRA: the trainable set
        cudaCheck(cudaMemsetAsync(g->lora.g, 0, g->lora.num_trainable * sizeof(float), 0));
        return;
    }
    cudaCheck(cudaMemsetAsync(g->grads, 0, g->num_parameters * sizeof(float), 0));
}

// twin of gpt2_backward, after gpu_loss(want_grad = 1): adds into the
// parameter gradients. The residual stream's gradient passes unchanged
// through each residual_forward (residual_backward), so one buffer,
// dresidual, carries it from the top of the network to the encoder, and
// each layernorm backward adds its branch into it.
static void gpu_backward(GPT2GPU *g) {
    const GPT2Config *cfg = &g->config;
    int B = g->B, T = g->T;
    int C = cfg->channels, NH = cfg->num_heads, L = cfg->num_layers, Vp = cfg->padded_vocab_size;
    size_t BT = (size_t)B * T;
    const ParameterTensorsX *p = &g->px;
    ParameterTensors *gr = &g->g;
    GpuActs *a = &g->a;
    float *cs = a->colsum;
    prof_mark(&g->prof, PF_COPIES);
    cudaCheck(cudaMemsetAsync(a->dresidual, 0, (size_t)B * T * C * sizeof(floatX), 0));
    // logits = lnf @ wte^T (a->logits now holds dlogits)
    prof_mark(&g->prof, PF_MATMUL_BWD);
    matmul_backward_gpu(&g->mm, a->btc, gr->wte, NULL, a->logits, a->lnf, p->wte, NULL, B, T, C, Vp, cs);
    const floatX *last = layer_acts_x(g, L - 1, B, T).residual3;
    prof_mark(&g->prof, PF_LAYERNORM_BWD);
    layernorm_backward_gpu(a->dresidual, gr->lnfw, gr->lnfb, a->btc, last, p->lnfw, a->lnf_mean,
                           a->lnf_rstd, B, T, C, cs);
    for (int l = L - 1; l >= 0; l--) {
        LayerParamsX lp = layer_params_x(p, cfg, l);
        LayerParams gp = layer_params(gr, cfg, l);
        LayerActsX la = layer_acts_x(g, l, B, T);
        const floatX *residual = l == 0 ? a->encoded : layer_acts_x(g, l - 1, B, T).residual3;
        if (g->recompute) {  // what this layer's backward reads and the forward did not keep
            prof_mark(&g->prof, PF_RECOMPUTE);
            gelu_forward_gpu(la.fch_gelu, la.fch, BT * 4 * C);
            layernorm_recompute_gpu(la.ln2, la.residual2, la.ln2_mean, la.ln2_rstd, lp.ln2w, lp.ln2b, B, T, C);
            layernorm_recompute_gpu(la.ln1, residual, la.ln1_mean, la.ln1_rstd, lp.ln1w, lp.ln1b, B, T, C);
        }
        // the MLP half: d fcproj = d residual3 = dresidual; GELU's backward
        // fused into dinp, or with LoRA on fcproj after its term is added
        prof_mark(&g->prof, PF_MATMUL_BWD);
        int lora_fcproj = gpu_lora_on(g, LORA_FCPROJ);
        matmul_backward_gpu(&g->mm, a->dfch, gp.fcprojw, gp.fcprojb, a->dresidual, la.fch_gelu,
                            lp.fcprojw, lora_fcproj ? NULL : la.fch, B, T, 4 * C, C, cs);
        if (lora_fcproj) {
            gpu_lora_backward_at(g, LORA_FCPROJ, l, a->dfch, a->dresidual, la.fch_gelu, B, T);
            prof_mark(&g->prof, PF_BIAS_GELU);
            gelu_backward_gpu(a->dfch, la.fch, a->dfch, BT * 4 * C);
            prof_mark(&g->prof, PF_MATMUL_BWD);
        }
        matmul_backward_gpu(&g->mm, a->btc, gp.fcw, gp.fcb, a->dfch, la.ln2, lp.fcw, NULL, B, T, C, 4 * C, cs);
        gpu_lora_backward_at(g, LORA_FC, l, a->btc, a->dfch, la.ln2, B, T);
        prof_mark(&g->prof, PF_LAYERNORM_BWD);
        layernorm_backward_gpu(a->dresidual, gp.ln2w, gp.ln2b, a->btc, la.residual2, lp.ln2w,
                               la.ln2_mean, la.ln2_rstd, B, T, C, cs);
        // the attention half: d attproj = d residual2 = dresidual
        prof_mark(&g->prof, PF_MATMUL_BWD);
        matmul_backward_gpu(&g->mm, a->btc, gp.attprojw, gp.attprojb, a->dresidual, la.atty,
                            lp.attprojw, NULL, B, T, C, C, cs);
        gpu_lora_backward_at(g, LORA_ATTPROJ, l, a->btc, a->dresidual, la.atty, B, T);
        prof_mark(&g->prof, PF_ATTENTION_BWD);
        attention_backward_gpu(a->dqkv, a->att_D, a->btc, la.qkv, la.atty, la.att_lse, B, T, C, NH,
                               &g->att);
        prof_mark(&g->prof, PF_MATMUL_BWD);
        matmul_backward_gpu(&g->mm, a->btc, gp.qkvw, gp.qkvb, a->dqkv, la.ln1, lp.qkvw, NULL, B, T, C, 3 * C, cs);
        gpu_lora_backward_at(g, LORA_QKV, l, a->btc, a->dqkv, la.ln1, B, T);
        prof_mark(&g->prof, PF_LAYERNORM_BWD);
        layernorm_backward_gpu(a->dresidual, gp.ln1w, gp.ln1b, a->btc, residual, lp.ln1w,
                               la.ln1_mean, la.ln1_rstd, B, T, C, cs);
    }
    // the buckets were built and uploaded by gpu_forward
    prof_mark(&g->prof, PF_ENCODER_BWD);
    if (gr->wte != NULL) { encoder_backward_gpu(gr->wte, gr->wpe, a->dresidual, &g->buckets, B, T, C); }
}

// twin of gpt2_grad_sumsq over this rank's [opt_start, opt_end): the same
// NORM_CHUNK chunks summed in double, the partial sums added in order on the
// device; one double comes back (the run loop adds the ranks' sums with ZeRO-1)
static double gpu_grad_sumsq(GPT2GPU *g) {
    size_t n = g->opt_end - g->opt_start;
    const float *grads = g->grads + g->opt_start;
    if (g->lora.config.rank > 0) {  // LoRA: the trainable set (lora_grad_sumsq)
        n = g->lora.num_trainable;
        grads = g->lora.g;
    }
    size_t chunks = (n + NORM_CHUNK - 1) / NORM_CHUNK;
    prof_mark(&g->prof, PF_NORM);
    LAUNCH((unsigned)chunks, 256, 0, grad_norm_kernel)(g->norm_partials, grads, n);
    launchCheck();
    LAUNCH(1, 1, 0, grad_norm_finish_kernel)(g->norm_total, g->norm_partials, chunks);
    launchCheck();
    cudaCheck(cudaMemcpyAsync(g->norm_host, g->norm_total, sizeof(double), cudaMemcpyDeviceToHost, 0));
    cudaCheck(cudaEventRecord(g->norm_ready, 0));
    cudaCheck(cudaEventSynchronize(g->norm_ready));
    return *g->norm_host;
}

#ifdef USE_MPI
static void gpu_all_gather_params(GPT2GPU *g);
#endif

// twin of gpt2_update: one launch over [opt_start, opt_end); with ZeRO-1
// every rank then receives the others' updated shards
static void gpu_update(GPT2GPU *g, const AdamWArgs *args) {
    if (g->lora.config.rank > 0) { gpu_lora_update(g, args); return; }  // LoRA: the trainable set
    AdamWTable tab;
    for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) {
        tab.end[k] = g->param_specs[k].start + spec_numel(&g->param_specs[k]);
        tab.decays[k] = spec_decays(&g->param_specs[k]);
    }
    float bc1 = (float)(1.0 - pow(args->beta1, args->t));
    float bc2 = (float)(1.0 - pow(args->beta2, args->t));
    size_t lo = g->opt_start, n = g->opt_end - g->opt_start;
#ifdef ENABLE_FP32
    floatX *px = NULL;  // params_x is params itself
#else
    floatX *px = g->params_x;
#endif
    prof_mark(&g->prof, PF_ADAMW);
    LAUNCH(adamw_blocks(lo, n), 256, 0, adamw_kernel)(g->params, px, g->grads, g->m, g->v, lo, n, tab,
                                                   args->lr, args->beta1, args->beta2, args->eps,
                                                   args->weight_decay, args->grad_scale, bc1, bc2);
    launchCheck();
#ifdef USE_MPI
    if (n < g->num_parameters) { gpu_all_gather_params(g); }
#endif
}

// the logits of position t of sequence b of the last forward, first V of
// them as floats into out (host): what the sampler reads
static void gpu_logits_row(GPT2GPU *g, int b, int t, float *out) {
    const GPT2Config *cfg = &g->config;
    size_t row = ((size_t)b * g->T + t) * cfg->padded_vocab_size;
    int V = cfg->vocab_size;
    LAUNCH(ceil_div((size_t)V, (size_t)256 * X128), 256, 0, x_to_float_kernel)(g->logits_row, g->a.logits + row,
                                                                (size_t)V);
    launchCheck();
    cudaCheck(cudaMemcpy(out, g->logits_row, (size_t)V * sizeof(float), cudaMemcpyDeviceToHost));
}

// ----------------------------------------------------------------------------
// data parallel over NCCL: one process per GPU, MPI starts them and carries
// NCCL's id. Gradients are summed over the ranks (the loss scale already
// divides by the global batch), with an all-reduce, or with ZeRO-1 reduced
// onto the rank that owns each shard; after the update each owner broadcasts
// its shard of the parameters. The shards are train.c's (shard_start), which
// need not be equal, so ZeRO-1 uses one grouped ncclReduce / ncclBroadcast per
// rank rather than ncclReduceScatter / ncclAllGather (equal counts only).

#ifdef USE_MPI
// the rank among the processes on this machine: which GPU to take
static int mpi_local_rank(void) {
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    int r = 0;
    MPI_Comm_rank(local, &r);
    MPI_Comm_free(&local);
    return r;
}

// after gpu_model_init: one NCCL communicator over MPI_COMM_WORLD
static void gpu_nccl_init(GPT2GPU *g) {
    ncclUniqueId id;
    if (g->rank == 0) { nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId"); }
    MPI_Bcast(&id, (int)sizeof(id), MPI_BYTE, 0, MPI_COMM_WORLD);
    nccl_check(ncclCommInitRank(&g->nccl, g->nranks, id, g->rank), "ncclCommInitRank");
}

static void gpu_nccl_free(GPT2GPU *g) {
    nccl_check(ncclCommDestroy(g->nccl), "ncclCommDestroy");
}

static void gpu_all_gather_params(GPT2GPU *g) {
    size_t n = g->num_parameters;
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (int r = 0; r < g->nranks; r++) {
        size_t lo = shard_start(n, r), cnt = shard_start(n, r + 1) - lo;
        nccl_check(ncclBroadcast(g->params + lo, g->params + lo, cnt, ncclFloat, r, g->nccl, 0),
                   "ncclBroadcast(params)");
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
    gpu_refresh_params_x(g);
}
#endif

// sums the gradients over the ranks: all of them, or with ZeRO-1 (zero != 0)
// each shard onto its owner. A no-op for one process.
static void gpu_reduce_grads(GPT2GPU *g, int zero) {
#ifdef USE_MPI
    if (g->nranks == 1) { return; }
    if (!zero) {
        nccl_check(ncclAllReduce(g->grads, g->grads, g->num_parameters, ncclFloat, ncclSum, g->nccl, 0),
                   "ncclAllReduce");
        return;
    }
    size_t n = g->num_parameters;
    nccl_check(ncclGroupStart(), "ncclGroupStart");
    for (int r = 0; r < g->nranks; r++) {
        size_t lo = shard_start(n, r), cnt = shard_start(n, r + 1) - lo;
        nccl_check(ncclReduce(g->grads + lo, g->grads + lo, cnt, ncclFloat, ncclSum, r, g->nccl, 0),
                   "ncclReduce");
    }
    nccl_check(ncclGroupEnd(), "ncclGroupEnd");
#else
    (void)g;
    (void)zero;
#endif
}

// ----------------------------------------------------------------------------
// the CUDA backend of train.c's run loop: the host model (run->model) keeps
// the config, the fp32 parameters and this rank's AdamW moments for the
// checkpoints; everything a step touches lives on the GPU.

typedef struct {
    GPT2GPU model;
    float *logits_host;  // (Vp) what next_logits returns
    GpuPeak peak;
    int device;
    int micro_steps;     // micro-steps so far (TRAIN_GPU_PROFILE counts them)
} CudaState;

static CudaState *cuda_state(Run *run) { return (CudaState *)run->device; }

// the GPU's bill: what was really allocated on the device
static void gpu_print_bill(const GPT2GPU *g, const GpuPeak *peak, const cudaDeviceProp *prop) {
    size_t np = g->num_parameters, nm = g->opt_end - g->opt_start;
    size_t free_b = 0, total_b = 0;
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    char title[64];
    snprintf(title, sizeof(title), "the GPU bill (B=%d, T=%d)%s", g->B_max, g->T_max,
             g->recompute ? " recompute" : "");
    printf("+------------------------------+------------------+----------------+\n");
    printf("| %-28s | %16s | %14s |\n", title, "bytes", FLOATX_NAME);
    printf("+------------------------------+------------------+----------------+\n");
    const GpuLora *lo = &g->lora;
    if (lo->config.rank > 0) {  // LoRA: the base frozen, the trainable set beside it
        print_bytes_row("parameters (frozen, " FLOATX_NAME ")", np * sizeof(floatX));
        print_bytes_row("LoRA trainable (fp32)", lo->num_trainable * sizeof(float));
#ifndef ENABLE_FP32
        print_bytes_row("LoRA adapters (bf16 copy)", lo->num_adapters * sizeof(floatX));
#endif
        print_bytes_row("LoRA gradients (fp32)", lo->num_trainable * sizeof(float));
        print_bytes_row("LoRA AdamW moments (m, v)", 2 * lo->num_trainable * sizeof(float));
    } else {
        print_bytes_row("parameters (fp32 master)", np * sizeof(float));
#ifndef ENABLE_FP32
        print_bytes_row("parameters (bf16 copy)", np * sizeof(floatX));
#endif
        print_bytes_row("gradients (fp32)", np * sizeof(float));
        print_bytes_row("AdamW moments (m, v)", 2 * nm * sizeof(float));
    }
    print_bytes_row("activations (saved)", g->act_bytes);
    print_bytes_row("scratch (backward, tokens)", g->scratch_bytes);
    print_bytes_row("encoder token buckets", g->bucket_bytes);
    print_bytes_row("cuBLASLt workspace", CUBLAS_WORKSPACE_BYTES);
    print_bytes_row("total allocated", g->bytes_allocated);
    print_bytes_row("pinned host buffers", g->pinned_bytes);
    print_bytes_row("device memory still free", free_b);
    printf("+------------------------------+------------------+----------------+\n");
    printf("GPU %d: %s, %d SMs, sm_%d%d, %.1f GiB; peak %s: bf16 %.1f, fp32 %.1f TFLOP/s, %.0f GB/s\n",
           g->rank, prop->name, prop->multiProcessorCount, prop->major, prop->minor,
           (double)total_b / (1 << 30), peak->from_table ? peak->name : "estimated from SMs and clock",
           peak->tflops_bf16, peak->tflops_fp32, peak->bandwidth_gbs);
}

static void cuda_setup(Run *run) {
    CudaState *st = (CudaState *)callocCheck(1, sizeof(CudaState));
    run->device = st;
    int ndev = 0;
    if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
        die("no CUDA GPU found (cudaGetDeviceCount: %d); use ./train for the CPU", ndev);
    }
    st->device = 0;
#ifdef USE_MPI
    st->device = mpi_local_rank();
    if (st->device >= ndev) {
        die("rank %d: local rank %d has no GPU (%d on this machine): start one process per GPU",
            g_comm.rank, st->device, ndev);
    }
#endif
    cudaCheck(cudaSetDevice(st->device));
    GPT2 *m = &run->model;
    GPT2GPU *g = &st->model;
    int lora = m->lora.config.rank > 0;  // LoRA: lora_init has made the host's trainable set
    if (lora) {
        gpu_model_init_lora(g, &m->config, run->B_local, run->cfg.T, g_comm.rank, g_comm.nranks, 0, 0,
                            run->cfg.recompute, &m->lora);
    } else {
        gpu_model_init(g, &m->config, run->B_local, run->cfg.T, g_comm.rank, g_comm.nranks, m->opt_start,
                       m->opt_end, run->cfg.recompute);
    }
    g->mm.fuse = run->cfg.gelu_fusion;
    const char *prof = getenv("TRAIN_GPU_PROFILE");
    if (prof != NULL && prof[0] != '\0') {
        char *end = NULL;
        long n = strtol(prof, &end, 10);
        if (end == prof || *end != '\0' || n < 0 || n > 1000000000L) {
            die("TRAIN_GPU_PROFILE='%s': give the micro-step to profile (1, 2, ...; 0 = off)", prof);
        }
        prof_init(&g->prof, (int)n);
    }
#ifdef USE_MPI
    if (g_comm.nranks > 1) { gpu_nccl_init(g); }
#endif
    if (lora) {
        gpu_lora_upload(g, m);
    } else {
        gpu_upload(g, m->params_memory, m->m_memory, m->v_memory);
    }
    st->logits_host = (float *)callocCheck((size_t)m->config.padded_vocab_size, sizeof(float));
    st->peak = gpu_peak(st->device);
#ifdef ENABLE_FP32
    run->peak_flops = st->peak.tflops_fp32 * 1e12;
#else
    run->peak_flops = st->peak.tflops_bf16 * 1e12;
#endif
    if (g_comm.rank == 0) {
        cudaDeviceProp prop;
        cudaCheck(cudaGetDeviceProperties(&prop, st->device));
        gpu_print_bill(g, &st->peak, &prop);
        printf("matmuls: cuBLASLt, %s\n", g->mm.fuse ? "bias and GELU fused in its epilogues (--gelu-fusion 1)"
                                                     : "bias and GELU as separate kernels (--gelu-fusion 0)");
    }
}

static void cuda_zero_grad(Run *run) {
    gpu_zero_grad(&cuda_state(run)->model);
}

static float cuda_micro_step(Run *run, const int *inputs, const int *targets, int B, int T,
                             float loss_scale) {
    CudaState *st = cuda_state(run);
    GPT2GPU *g = &st->model;
    prof_step(&g->prof, ++st->micro_steps, g->rank == 0);
    gpu_forward(g, inputs, B, T);
    gpu_loss_queue(g, targets, 1, loss_scale);
    gpu_backward(g);
    return gpu_loss_read(g);  // the GPU is busy with the backward meanwhile
}

static void cuda_reduce_grads(Run *run) {
    gpu_reduce_grads(&cuda_state(run)->model, run->zero);
}

static double cuda_grad_sumsq(Run *run) {
    return gpu_grad_sumsq(&cuda_state(run)->model);
}

static void cuda_update(Run *run, const AdamWArgs *args) {
    gpu_update(&cuda_state(run)->model, args);
}

static float cuda_eval_loss(Run *run, const int *inputs, const int *targets, int B, int T) {
    GPT2GPU *g = &cuda_state(run)->model;
    gpu_forward(g, inputs, B, T);
    return gpu_loss(g, targets, 0, 0.0f);
}

static const float *cuda_next_logits(Run *run, const int *tokens, int len) {
    CudaState *st = cuda_state(run);
    gpu_forward(&st->model, tokens, 1, len);
    gpu_logits_row(&st->model, 0, len - 1, st->logits_host);  // the first V; the padding stays 0
    return st->logits_host;
}

static void cuda_to_host(Run *run) {
    GPT2 *m = &run->model;
    GPT2GPU *g = &cuda_state(run)->model;
    if (g->lora.config.rank > 0) {
        gpu_lora_download(g, m, 0);
    } else {
        gpu_download(g, m->params_memory, m->m_memory, m->v_memory);
    }
}

static void cuda_from_host(Run *run) {
    GPT2 *m = &run->model;
    GPT2GPU *g = &cuda_state(run)->model;
    if (g->lora.config.rank > 0) {
        gpu_lora_upload(g, m);
    } else {
        gpu_upload(g, m->params_memory, m->m_memory, m->v_memory);
    }
}

// the end of a run: what train.cu allocated against the bill (train_bill.h's
// GPU layout of this run), and the device memory in use. Every allocation is
// made at setup (a step allocates nothing), so what is in use now is the
// run's peak, the CUDA context and cuBLASLt's own memory included.
static void gpu_print_memory(const GPT2GPU *g) {
#ifdef ENABLE_FP32
    int copy = 0;  // the compute copy is the fp32 weights themselves
#else
    int copy = 1;
#endif
    const GpuLora *lo = &g->lora;
    int shards = g->opt_end - g->opt_start < g->num_parameters ? g->nranks : 1;  // ZeRO-1
    BillColumn b = lo->config.rank > 0
                       ? bill_lora_layout(&g->config, g->B_max, g->T_max, 1, &lo->config, 1, g->recompute,
                                          sizeof(floatX), copy)
                       : bill_gpu_layout(&g->config, g->B_max, g->T_max, shards, g->recompute, sizeof(floatX),
                                         copy);
    size_t free_b = 0, total_b = 0;
    cudaCheck(cudaMemGetInfo(&free_b, &total_b));
    char in_use[160] = "";  // (the CPU emulation has no device memory to report)
    if (total_b > 0) {
        snprintf(in_use, sizeof(in_use), "; device memory in use %.1f MiB of %.1f MiB (the run's peak: all "
                 "is allocated at setup; CUDA's context included)", (double)(total_b - free_b) / (1 << 20),
                 (double)total_b / (1 << 20));
    }
    printf("memory (%straining, GPU %d): allocated %zu bytes, the bill %zu bytes%s\n",
           lo->config.rank > 0 ? "LoRA " : "", g->rank, g->bytes_allocated, b.total, in_use);
}

static void cuda_release(Run *run) {
    CudaState *st = cuda_state(run);
    if (st == NULL) { return; }
    if (st->model.rank == 0) { gpu_print_memory(&st->model); }
    prof_step(&st->model.prof, 0, st->model.rank == 0);  // a profiled last step ends here
#ifdef USE_MPI
    if (g_comm.nranks > 1) { gpu_nccl_free(&st->model); }
#endif
    gpu_model_free(&st->model);
    free(st->logits_host);
    free(st);
    run->device = NULL;
}

// after a step with a non-finite loss or norm: the device's parameters and
// gradients copied into the host model, where train.c's search names the
// first tensor holding a NaN or an infinity
static const char *cuda_first_nonfinite(Run *run, char *buf, size_t size) {
    GPT2GPU *g = &cuda_state(run)->model;
    if (g->lora.config.rank > 0) {  // LoRA: the trainable set and its gradients
        gpu_lora_download(g, &run->model, 1);
        return gpt2_first_nonfinite(&run->model, buf, size);
    }
    cuda_to_host(run);
    cudaCheck(cudaMemcpy(run->model.grads_memory, g->grads, g->num_parameters * sizeof(float),
                         cudaMemcpyDeviceToHost));
    return gpt2_first_nonfinite(&run->model, buf, size);
}

static const Backend cuda_backend = {
    "cuda " FLOATX_NAME, cuda_setup, cuda_zero_grad, cuda_micro_step, cuda_reduce_grads,
    cuda_grad_sumsq, cuda_update, cuda_eval_loss, cuda_next_logits, cuda_to_host, cuda_from_host,
    cuda_release, cuda_first_nonfinite,
};

#ifndef TRAIN_GPU_NO_MAIN
int main(int argc, char **argv) {
    return train_main(argc, argv, &cuda_backend);
}
#endif
