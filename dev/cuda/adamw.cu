/*
dev/cuda/adamw.cu: one AdamW step over all parameters of GPT-2 124M
    g = grad * grad_scale
    m = beta1 m + (1 - beta1) g,  v = beta2 v + (1 - beta2) g^2
    p -= lr * (m / (1 - beta1^t) / (sqrt(v / (1 - beta2^t)) + eps) + wd * p)
with weight decay wd only on the tensors of rank 2 or more (spec_decays).
CPU twin: gpt2_update in train.c, on a model made by gpt2_init (the same
parameter table gives the GPU versions their tensors and decay flags).
Memory bound: 28 bytes per parameter (p, g, m, v read; p, m, v written);
the yardstick is the measured copy bandwidth.

Versions:
  1. one launch per parameter tensor (16), one thread per element: the CPU's loop
  2. one launch for all tensors: the kernel gets the table of tensor ends and
     decay factors by value and finds each element's tensor (the tensors are
     contiguous in one allocation), so small tensors no longer cost a launch each
  3. as 2, four elements per thread with 128-bit loads and stores, in a
     grid-stride loop sized to fill the GPU once (every tensor boundary is a
     multiple of 4, checked)
  4. train.cu's adamw_kernel as the bf16 trainer runs it: fp32 master
     weights and moments, fp32 gradients, and the bf16 copy of the weights
     that the forward reads written in the same pass (30 bytes per
     parameter: 28 as above plus the 2-byte copy, which a separate
     conversion kernel would cost 6). A thread per 8 parameters: each fp32
     array as two 128-bit accesses, the bf16 copy as one (Packed128 from
     cuda_common.h); the gradients loaded and the moments stored
     cache-streaming (not read again this step); each parameter's decay
     looked up in the table of tensor ends. It updates one range [lo, lo+n)
     of the parameters (all of them, or a ZeRO-1 rank's shard, whose moments
     start at index 0): a range that starts on a multiple of 8 goes 128-bit
     but for a ragged last pack, any other one element at a time. train.cu
     launches 256 threads per block; checked on all parameters and on two
     shards (one starting on a multiple of 8, one not), the copy with its
     bf16 rounding allowed

    make -C dev/cuda adamw && ./dev/cuda/adamw [version] [block size]
*/
#define TRAIN_NO_MAIN
#pragma GCC diagnostic ignored "-Wunused-function"  // train.c's CLI goes unused here
#include "../../train.c"
#include "common.h"

// the tensors, by value in the kernel's arguments
typedef struct {
    size_t end[NUM_PARAMETER_TENSORS];  // one past each tensor's last element
    float wd[NUM_PARAMETER_TENSORS];    // its weight decay (0 for vectors)
} TensorTable;

typedef struct {
    float lr, beta1, beta2, eps, grad_scale;
    float bc1, bc2;  // the bias corrections 1 - beta^t, computed once on the host
} AdamWConst;

// one parameter, the same expressions in the same order as train.c
__device__ __forceinline__ void adamw_one(float *p, float *m, float *v, float g, float wd, const AdamWConst &a) {
    float grad = g * a.grad_scale;
    float mi = a.beta1 * *m + (1.0f - a.beta1) * grad;
    float vi = a.beta2 * *v + (1.0f - a.beta2) * grad * grad;
    *m = mi;
    *v = vi;
    float mhat = mi / a.bc1, vhat = vi / a.bc2;
    *p -= a.lr * (mhat / (sqrtf(vhat) + a.eps) + wd * *p);
}

// ----------------------------------------------------------------------------
// kernels

__global__ void adamw_kernel1(float *p, const float *g, float *m, float *v, size_t n, float wd, AdamWConst a) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) { adamw_one(&p[i], &m[i], &v[i], g[i], wd, a); }
}

__global__ void adamw_kernel2(float *p, const float *g, float *m, float *v, size_t n, TensorTable tt, AdamWConst a) {
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) { return; }
    int k = 0;
    while (i >= tt.end[k]) { k++; }  // 16 tensors: a short scan, the same for a whole warp mostly
    adamw_one(&p[i], &m[i], &v[i], g[i], tt.wd[k], a);
}

__global__ void adamw_kernel3(float4 *p, const float4 *g, float4 *m, float4 *v, size_t n4, TensorTable tt,
                              AdamWConst a) {
    int k = 0;  // indices only grow along the grid-stride loop, so the tensor index does too
    for (size_t j = (size_t)blockIdx.x * blockDim.x + threadIdx.x; j < n4; j += (size_t)gridDim.x * blockDim.x) {
        while (4 * j >= tt.end[k]) { k++; }
        float4 pj = p[j], gj = g[j], mj = m[j], vj = v[j];
        const float wd = tt.wd[k];
        adamw_one(&pj.x, &mj.x, &vj.x, gj.x, wd, a);
        adamw_one(&pj.y, &mj.y, &vj.y, gj.y, wd, a);
        adamw_one(&pj.z, &mj.z, &vj.z, gj.z, wd, a);
        adamw_one(&pj.w, &mj.w, &vj.w, gj.w, wd, a);
        p[j] = pj; m[j] = mj; v[j] = vj;
    }
}

// version 4: a thread per pack of P = 8 parameters (4 under the emulation
// with EMU_BF16=0, where bf16 is float); the tensors' ends and decay flags by value, as
// train.cu's AdamWTable
typedef Packed128<__nv_bfloat16> bf128;
typedef struct {
    size_t end[NUM_PARAMETER_TENSORS];  // one past each tensor's last element
    int decays[NUM_PARAMETER_TENSORS];  // spec_decays: rank 2 or more
} DecayTable;

// parameters [lo, lo + n) of params, grads and params_x (the bf16 copy; NULL:
// none); m and v hold only those, from index 0
__global__ void adamw_kernel4(float *params, __nv_bfloat16 *params_x, const float *grads, float *m, float *v,
                              size_t lo, size_t n, DecayTable tab, float weight_decay, AdamWConst a) {
    const int P = bf128::size;
    size_t i0 = lo / P * P + ((size_t)blockIdx.x * blockDim.x + threadIdx.x) * P;  // this thread's pack
    if (i0 >= lo + n) { return; }
    int k = 0;
    while (k < NUM_PARAMETER_TENSORS - 1 && i0 >= tab.end[k]) { k++; }
    float wd[bf128::size];  // per element: a pack may straddle two tensors
    for (int e = 0; e < P; e++) {
        while (k < NUM_PARAMETER_TENSORS - 1 && i0 + e >= tab.end[k]) { k++; }
        wd[e] = tab.decays[k] ? weight_decay : 0.0f;
    }
    if (lo % P == 0 && i0 + P <= lo + n) {  // the whole pack: m + j0 is then 16-byte aligned too
        size_t j0 = i0 - lo;
        bf128 px;
        for (int q = 0; q < P; q += F128) {
            f128 p = load128(params + i0 + q), g = load128cs(grads + i0 + q);
            f128 mq = load128(m + j0 + q), vq = load128(v + j0 + q);
            for (int e = 0; e < F128; e++) {
                adamw_one(&p[e], &mq[e], &vq[e], g[e], wd[q + e], a);
                px[q + e] = (__nv_bfloat16)p[e];
            }
            store128(params + i0 + q, p);
            store128cs(m + j0 + q, mq);
            store128cs(v + j0 + q, vq);
        }
        if (params_x != NULL) { store128(params_x + i0, px); }
        return;
    }
    for (int e = 0; e < P; e++) {  // a pack cut by the range, or a shard off the 8-grid
        size_t i = i0 + e;
        if (i < lo || i >= lo + n) { continue; }
        adamw_one(&params[i], &m[i - lo], &v[i - lo], grads[i], wd[e], a);
        if (params_x != NULL) { params_x[i] = (__nv_bfloat16)params[i]; }
    }
}

// a step's constants for the kernels: the rates and the bias corrections
static AdamWConst adamw_const(const AdamWArgs *args) {
    AdamWConst a;
    a.lr = args->lr; a.beta1 = args->beta1; a.beta2 = args->beta2; a.eps = args->eps;
    a.grad_scale = args->grad_scale;
    a.bc1 = (float)(1.0 - pow(args->beta1, args->t));
    a.bc2 = (float)(1.0 - pow(args->beta2, args->t));
    return a;
}

// version 4 over parameters [lo, lo + n), train.cu's grid (a thread per P,
// from the pack that holds lo) at any block size
static void adamw_update4(int block_size, float *p, __nv_bfloat16 *px, const float *g, float *m, float *v,
                          size_t lo, size_t n, const TensorSpec *specs, const AdamWArgs *args) {
    const AdamWConst a = adamw_const(args);
    DecayTable tab;
    for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) {
        tab.end[k] = specs[k].start + spec_numel(&specs[k]);
        tab.decays[k] = spec_decays(&specs[k]);
    }
    const size_t P = bf128::size;
    LAUNCH(ceil_div(lo % P + n, (size_t)block_size * P), block_size, 0, adamw_kernel4)(
        p, px, g, m, v, lo, n, tab, args->weight_decay, a);
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------
// launcher: the flat arrays of the model's layout, its tensor specs, the step

static void adamw_update(int version, int block_size, float *p, const float *g, float *m, float *v,
                         const TensorSpec *specs, const AdamWArgs *args, int num_sms) {
    const AdamWConst a = adamw_const(args);
    TensorTable tt;
    for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) {
        tt.end[k] = specs[k].start + spec_numel(&specs[k]);
        tt.wd[k] = spec_decays(&specs[k]) ? args->weight_decay : 0.0f;
    }
    const size_t n = tt.end[NUM_PARAMETER_TENSORS - 1];
    switch (version) {
        case 1:
            for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) {
                size_t s = specs[k].start, nk = spec_numel(&specs[k]);
                LAUNCH(ceil_div(nk, block_size), block_size, 0, adamw_kernel1)(p + s, g + s, m + s, v + s, nk, tt.wd[k], a);
                cudaCheck(cudaGetLastError());
            }
            break;
        case 2:
            LAUNCH(ceil_div(n, block_size), block_size, 0, adamw_kernel2)(p, g, m, v, n, tt, a);
            break;
        case 3: {
            for (int k = 0; k < NUM_PARAMETER_TENSORS; k++) {
                if (tt.end[k] % 4 != 0) { die("adamw v3 needs every tensor boundary at a multiple of 4"); }
            }
            unsigned int grid = std::min(ceil_div(n / 4, block_size), (unsigned int)num_sms * (2048u / block_size));
            LAUNCH(grid, block_size, 0, adamw_kernel3)((float4 *)p, (const float4 *)g, (float4 *)m, (float4 *)v, n / 4, tt, a);
            break;
        }
        default: die("adamw: no version %d", version);
    }
    cudaCheck(cudaGetLastError());
}

// ----------------------------------------------------------------------------

int main(int argc, char **argv) {
    Lab lab;
    lab_init(&lab, argc, argv, "adamw");
    GPT2Config cfg;
#ifdef LAB_EMU  // a tiny GPT-2 (about 30k parameters)
    memset(&cfg, 0, sizeof(cfg));
    cfg.max_seq_len = 32; cfg.vocab_size = 100; cfg.padded_vocab_size = pad_vocab(100);
    cfg.num_layers = 2; cfg.channels = 32; cfg.num_heads = 2;
#else
    if (!config_from_preset(&cfg, "d12", 50257)) { die("no d12 preset in train.c"); }
#endif
    GPT2 model;
    gpt2_init(&model, &cfg);  // the CPU twin's model: parameter table and buffers
    const size_t n = model.num_parameters;
    fill_random(model.params_memory, n, INIT_STD, 1);
    fill_random(model.grads_memory, n, 1.0f, 2);
    fill_random(model.m_memory, n, 0.1f, 3);  // a run in progress: nonzero moments
    fill_random(model.v_memory, n, 0.3f, 4);
    for (size_t i = 0; i < n; i++) { model.v_memory[i] *= model.v_memory[i]; }  // v >= 0
    AdamWArgs args;
    memset(&args, 0, sizeof(args));
    args.lr = 3e-4f; args.beta1 = 0.9f; args.beta2 = 0.95f; args.eps = 1e-8f;
    args.weight_decay = 0.1f; args.grad_scale = 0.7f; args.t = 5;
    float *d_p0 = to_device(model.params_memory, n), *d_g = to_device(model.grads_memory, n);
    float *d_m0 = to_device(model.m_memory, n), *d_v0 = to_device(model.v_memory, n);
    float *d_p = device_alloc<float>(n), *d_m = device_alloc<float>(n), *d_v = device_alloc<float>(n);
    float *p0 = (float *)mallocCheck(n * 4);  // the parameters before the step (version 4's shards)
    memcpy(p0, model.params_memory, n * 4);
    gpt2_update(&model, &args);  // the CPU twin, in place on the model

    static const char *names[] = {"", "launch per tensor", "one launch", "one launch, float4"};
    const int block_sizes[] = {64, 128, 256, 512, 1024};
    const double bytes = 7.0 * n * 4;
    for (int ver = 1; ver <= 3; ver++) {
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, ver, bs)) { continue; }
            cudaCheck(cudaMemcpy(d_p, d_p0, n * 4, cudaMemcpyDeviceToDevice));
            cudaCheck(cudaMemcpy(d_m, d_m0, n * 4, cudaMemcpyDeviceToDevice));
            cudaCheck(cudaMemcpy(d_v, d_v0, n * 4, cudaMemcpyDeviceToDevice));
            adamw_update(ver, bs, d_p, d_g, d_m, d_v, model.param_specs, &args, lab.prop.multiProcessorCount);
            char what[64];
            // the same float expressions; only FMA contraction may differ (1-2 ulp)
            snprintf(what, sizeof(what), "v%d bs %d params", ver, bs);
            validate(what, d_p, model.params_memory, n, 1e-7, 1e-5);
            snprintf(what, sizeof(what), "v%d bs %d m", ver, bs);
            validate(what, d_m, model.m_memory, n, 1e-7, 1e-5);
            snprintf(what, sizeof(what), "v%d bs %d v", ver, bs);
            validate(what, d_v, model.v_memory, n, 1e-9, 1e-5);
            float ms = lab_time(&lab, [&] {
                adamw_update(ver, bs, d_p, d_g, d_m, d_v, model.param_specs, &args, lab.prop.multiProcessorCount);
            });
            lab_report(&lab, "fp32", ver, names[ver], bs, ms, bytes, PEAK_BANDWIDTH, 0);
        }
    }
    // version 4: the fp32 arrays as above, plus the bf16 copy of the parameters.
    // On a shard [lo, hi) the reference is the full step's inside it (AdamW is
    // elementwise) and the old parameters outside it.
    {
        const size_t P = bf128::size;
        __nv_bfloat16 *d_px = device_alloc<__nv_bfloat16>(n);
        float *p_ref = (float *)mallocCheck(n * 4);
        const size_t shards[3][2] = {{0, n}, {2 * P, n - 5}, {3, n - 2}};  // [lo, hi)
        const double bytes4 = 30.0 * n;  // p, m, v read and written, g read (fp32), the bf16 copy written
        for (int bs : block_sizes) {
            if (!lab_wants(&lab, 4, bs)) { continue; }
            for (int sh = 0; sh < 3; sh++) {
                const size_t lo = shards[sh][0], hi = shards[sh][1];
                cudaCheck(cudaMemcpy(d_p, d_p0, n * 4, cudaMemcpyDeviceToDevice));
                cudaCheck(cudaMemcpy(d_m, d_m0, n * 4, cudaMemcpyDeviceToDevice));
                cudaCheck(cudaMemcpy(d_v, d_v0, n * 4, cudaMemcpyDeviceToDevice));
                // the shard's moments start at index 0: m + lo (not 16-byte aligned when lo % 4 != 0)
                adamw_update4(bs, d_p, d_px, d_g, d_m + lo, d_v + lo, lo, hi - lo, model.param_specs, &args);
                for (size_t i = 0; i < n; i++) { p_ref[i] = i >= lo && i < hi ? model.params_memory[i] : p0[i]; }
                char what[80];
                snprintf(what, sizeof(what), "v4 bs %d [%zu, %zu) params", bs, lo, hi);
                validate(what, d_p, p_ref, n, 1e-7, 1e-5);
                snprintf(what, sizeof(what), "v4 bs %d [%zu, %zu) m", bs, lo, hi);
                validate(what, d_m + lo, model.m_memory + lo, hi - lo, 1e-7, 1e-5);
                snprintf(what, sizeof(what), "v4 bs %d [%zu, %zu) v", bs, lo, hi);
                validate(what, d_v + lo, model.v_memory + lo, hi - lo, 1e-9, 1e-5);
                // the parameter rounded to bf16: at most 2^-9 relative; 2^-8 allowed
                snprintf(what, sizeof(what), "v4 bs %d [%zu, %zu) bf16 copy", bs, lo, hi);
                validate(what, d_px + lo, model.params_memory + lo, hi - lo, 1e-7, 4e-3);
            }
            float ms = lab_time(&lab, [&] {
                adamw_update4(bs, d_p, d_px, d_g, d_m, d_v, 0, n, model.param_specs, &args);
            });
            lab_report(&lab, "bf16", 4, "x128, bf16 copy", bs, ms, bytes4, PEAK_BANDWIDTH, 0);
        }
        cudaCheck(cudaFree(d_px));
        free(p_ref);
    }
    lab_summary(&lab);
    free(p0);
    cudaCheck(cudaFree(d_p0)); cudaCheck(cudaFree(d_g)); cudaCheck(cudaFree(d_m0)); cudaCheck(cudaFree(d_v0));
    cudaCheck(cudaFree(d_p)); cudaCheck(cudaFree(d_m)); cudaCheck(cudaFree(d_v));
    gpt2_free(&model);
    lab_free(&lab);
    return 0;
}
