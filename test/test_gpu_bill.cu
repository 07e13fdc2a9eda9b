/*
test_gpu_bill.cu: the GPU columns of the bill (train_bill.h's
bill_gpu_layout, which ./train --dry-run prints for bf16 without CUDA)
against what train.cu's gpu_model_init really allocates: for a few shapes,
with and without --recompute, the whole model and the last ZeRO-1 shard of 2
ranks (the biggest), total bytes, saved activations and backward scratch must
be equal; and LoRA's GPU column (train_bill.h's bill_lora_layout) against
gpu_model_init_lora with train.c's LoRA state, rank 4, with and without
--lora-train-norms. The compute type's size is the build's sizeof(floatX): 2 with
nvcc's bf16, 4 in a PRECISION=FP32 build and under dev/cuda_emu (whose
emulated bf16 is a float inside). Built by g++ under the emulation (make
test-gpu-bill: dev/cuda_emu's cudaMalloc), or by nvcc for a real GPU
(nvcc ... test/test_gpu_bill.cu -lcublasLt -lcublas -lgomp).
Prints `OK|FAIL case` per shape and an overall line; exits non-zero on a mismatch.
*/
#define TRAIN_GPU_NO_MAIN
#include "../train.cu"

// the weights' copy in the compute type is a separate allocation unless floatX is fp32
#ifdef ENABLE_FP32
#define COMPUTE_COPY 0
#else
#define COMPUTE_COPY 1
#endif

int main(void) {
    (void)train_main;  // the program's entry, not used here
    cudaCheck(cudaSetDevice(0));
    // L, NH, C, V, maxT, B, T
    const int shapes[][7] = {{2, 4, 64, 300, 32, 2, 16}, {3, 2, 32, 1000, 64, 3, 64},
                             {1, 1, 8, 50, 300, 1, 300}};
    int pass = 0, fail = 0;
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        const int *x = shapes[s];
        GPT2Config cfg = {x[4], x[3], pad_vocab(x[3]), x[0], x[1], x[2]};
        size_t np = count_parameters(&cfg);
        for (int recompute = 0; recompute <= 1; recompute++) {
            for (int shards = 1; shards <= 2; shards++) {
                GPT2GPU g;
                size_t start = shard_bound(np, shards - 1, shards);  // the last shard, the largest
                gpu_model_init(&g, &cfg, x[5], x[6], 0, shards, start, np, recompute);
                BillColumn b = bill_gpu_layout(&cfg, x[5], x[6], shards, recompute, sizeof(floatX),
                                               COMPUTE_COPY);
                int ok = b.total == g.bytes_allocated && b.acts == g.act_bytes &&
                         b.act_grads == g.scratch_bytes;
                printf("%s %s, L=%d C=%d V=%d B=%d T=%d recompute %d, %d shard(s): bill %zu bytes "
                       "(activations %zu, scratch %zu), allocated %zu (%zu, %zu)\n",
                       ok ? "OK  " : "FAIL", FLOATX_NAME, x[0], x[2], x[3], x[5], x[6], recompute, shards,
                       b.total, b.acts, b.act_grads, g.bytes_allocated, g.act_bytes, g.scratch_bytes);
                ok ? pass++ : fail++;
                gpu_model_free(&g);
            }
            for (int norms = 0; norms <= 1; norms++) {  // LoRA, rank 4, all four targets
                GPT2 host;
                Rng rng;
                rng_seed(&rng, 1);
                gpt2_init(&host, &cfg);
                gpt2_freeze(&host);
                LoraConfig lc = {4, 4.0f, LORA_ALL_TARGETS, norms};
                lora_init(&host, &lc, &rng);
                GPT2GPU g;
                gpu_model_init_lora(&g, &cfg, x[5], x[6], 0, 1, 0, 0, recompute, &host.lora);
                BillColumn b = bill_lora_layout(&cfg, x[5], x[6], 1, &lc, 1, recompute, sizeof(floatX),
                                                COMPUTE_COPY);
                int ok = b.total == g.bytes_allocated && b.acts == g.act_bytes &&
                         b.act_grads == g.scratch_bytes && b.trainable == g.lora.num_trainable;
                printf("%s %s, L=%d C=%d V=%d B=%d T=%d recompute %d, LoRA R=4%s: bill %zu bytes "
                       "(activations %zu, scratch %zu), allocated %zu (%zu, %zu)\n",
                       ok ? "OK  " : "FAIL", FLOATX_NAME, x[0], x[2], x[3], x[5], x[6], recompute,
                       norms ? " + norms" : "", b.total, b.acts, b.act_grads, g.bytes_allocated, g.act_bytes,
                       g.scratch_bytes);
                ok ? pass++ : fail++;
                gpu_model_free(&g);
                gpt2_free(&host);
            }
        }
    }
    printf("%s: %d of %d GPU bill checks passed\n", fail == 0 ? "PASS" : "FAIL", pass, pass + fail);
    return fail == 0 ? 0 : 1;
}
