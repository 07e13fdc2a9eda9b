/*
train_bill.h: what a run costs, before it runs, and what it cost after: the
bytes of every group of tensors the program allocates (parameters, gradients,
AdamW moments, activations and their gradients, the KV cache) and the FLOPs
per token, for pre-training (or full fine-tuning: the same bill), LoRA
fine-tuning and inference, side by side, in the CPU's fp32 layout and in
train.cu's GPU layout. Part of train.c (included by it, after the model and
the flags): the training bill is printed at the start of every run, the whole
comparison by --dry-run, which can also time a run (--tokens, --measure,
--gpu); every run ends with its peak resident memory beside the bill.
test_train and test/test_bill.sh check that the bytes reported are the bytes
allocated, and that the measured peak is close to the bill.
*/
#include "gpu_peaks.h"

// the bill of a run: what the model needs in memory and compute
typedef struct {
    size_t num_parameters;
    size_t param_bytes, grad_bytes, adam_bytes;  // adam: m and v
    size_t act_bytes, act_grad_bytes;
    size_t other_bytes;                          // token buffers, norm partial sums
    size_t total_bytes;
    double flops_per_token;  // forward + backward
    double flops_per_step;
} Bill;

// FLOPs: every weight that multiplies an activation costs 2 FLOPs per token
// forward and 4 backward (dinp and dweight): 6 per weight per token; that is
// wte (the LM head) and the four projection matrices of each layer, not the
// lookup tables, biases or gains. Attention adds q.k and att.v: 4*T*C per
// layer per token forward, twice that backward, 12*L*C*T in all (over the
// full T x T, the usual convention, though the causal mask skips half).
// With ZeRO-1 over `shards` ranks, each keeps at most the largest shard's
// moments (shard_largest: about N / shards, shards start at multiples of 16).
static Bill compute_bill(const GPT2Config *cfg, int B, int T, int grad_accum, int shards) {
    Bill b;
    size_t C = cfg->channels, L = cfg->num_layers;
    b.num_parameters = count_parameters(cfg);
    b.param_bytes = b.grad_bytes = b.num_parameters * sizeof(float);
    b.adam_bytes = 2 * shard_largest(b.num_parameters, shards) * sizeof(float);
    b.act_bytes = count_activations(cfg, B, T) * sizeof(float);
    b.act_grad_bytes = count_activation_grads(cfg, B, T) * sizeof(float);
    size_t chunks = (b.num_parameters + NORM_CHUNK - 1) / NORM_CHUNK;
    b.other_bytes = chunks * sizeof(double) + 2 * (size_t)B * T * sizeof(int);
    b.total_bytes = b.param_bytes + b.grad_bytes + b.adam_bytes + b.act_bytes + b.act_grad_bytes +
                    b.other_bytes;
    double matmul_weights = (double)cfg->padded_vocab_size * C + (double)L * 12 * C * C;
    b.flops_per_token = 6.0 * matmul_weights + 12.0 * L * C * T;
    b.flops_per_step = b.flops_per_token * B * T * grad_accum;
    return b;
}

static void print_bytes_row(const char *what, size_t bytes) {
    printf("| %-28s | %16zu | %10.2f MiB |\n", what, bytes, (double)bytes / (1 << 20));
}

static void print_bill(const GPT2Config *cfg, int B, int T, int grad_accum, int shards) {
    Bill b = compute_bill(cfg, B, T, grad_accum, shards);
    char title[64];
    snprintf(title, sizeof(title), "the bill (B=%d, T=%d)", B, T);
    printf("+------------------------------+------------------+----------------+\n");
    printf("| %-28s | %16s | %14s |\n", title, "bytes", "");
    printf("+------------------------------+------------------+----------------+\n");
    printf("| %-28s | %16zu | %14s |\n", "parameters (count)", b.num_parameters, "");
    print_bytes_row("parameters", b.param_bytes);
    print_bytes_row("gradients", b.grad_bytes);
    print_bytes_row("AdamW moments (m, v)", b.adam_bytes);
    print_bytes_row("activations", b.act_bytes);
    print_bytes_row("activation gradients", b.act_grad_bytes);
    print_bytes_row("other (tokens, norm sums)", b.other_bytes);
    print_bytes_row("total", b.total_bytes);
    printf("| %-28s | %16.4g | %14s |\n", "FLOPs per token (fwd+bwd)", b.flops_per_token, "");
    printf("| %-28s | %16.4g | %14s |\n", "FLOPs per step", b.flops_per_step, "");
    printf("+------------------------------+------------------+----------------+\n");
}

// the elements of a table, in double (see run_bytes)
static double specs_numel_f64(const TensorSpec *specs, int n) {
    double total = 0.0;
    for (int i = 0; i < n; i++) {
        double numel = 1.0;
        for (int d = 0; d < specs[i].rank; d++) { numel *= (double)specs[i].shape[d]; }
        total += numel;
    }
    return total;
}

// The bytes a run allocates, computed in double: exact up to 2^53 and, for
// absurd shapes, no wrap-around where size_t would overflow (att alone is
// L*B*NH*T*T floats: past 2^64 bytes for B = 2^16, NH = 64, T = 2^20).
static double run_bytes(const GPT2Config *cfg, int B, int T, int shards) {
    TensorSpec p[NUM_PARAMETER_TENSORS], a[NUM_ACTIVATION_TENSORS], ga[NUM_ACTIVATION_TENSORS];
    parameter_specs(p, cfg);
    activation_specs(a, cfg, B, T);
    activation_grad_specs(ga, cfg, B, T);
    double np = specs_numel_f64(p, NUM_PARAMETER_TENSORS);
    double na = specs_numel_f64(a, NUM_ACTIVATION_TENSORS), nga = specs_numel_f64(ga, NUM_ACTIVATION_TENSORS);
    // parameters, gradients, m and v (sharded), activations and their gradients
    return sizeof(float) * (2.0 * np + 2.0 * (double)shard_largest((size_t)np, shards) + na + nga);
}

// Refuses a run whose tensors cannot be addressed, or (check_memory) do not
// fit in this machine's memory, before anything is allocated, naming the
// flags to change instead of failing later in malloc or being killed.
// lc: a LoRA run's config (its trainable set is small, the base frozen), or NULL
static void check_run_size(const GPT2Config *cfg, const LoraConfig *lc, int B, int T, int shards,
                           int check_memory) {
    double bytes = run_bytes(cfg, B, T, shards);
    if (lc != NULL && bytes <= (double)SIZE_MAX / 4) { bytes = (double)lora_bill(cfg, lc, B, T).total_bytes; }
    if (bytes > (double)SIZE_MAX / 4) {
        die("-b %d -t %d with this model (L=%d NH=%d C=%d) needs %.3g bytes, more than this "
            "machine can address: use a smaller -b or -t, or a smaller model (-e)", B, T,
            cfg->num_layers, cfg->num_heads, cfg->channels, bytes);
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
    double memory = pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
    if (check_memory && memory > 0.0 && bytes > memory) {
        die("-b %d -t %d with this model (L=%d NH=%d C=%d) needs %.1f GiB (see --dry-run), more "
            "than this machine's %.1f GiB of memory: use a smaller -b or -t, or a smaller model "
            "(-e)", B, T, cfg->num_layers, cfg->num_heads, cfg->channels, bytes / (1 << 30),
            memory / (1 << 30));
    }
}


// ----------------------------------------------------------------------------
// the bill side by side: one column per way of using a model
//
//   pre-training / full fine-tuning: every weight gets a gradient and two AdamW
//       moments; every activation is kept for the backward, and so is its
//       gradient (train.c's layout; a fine-tuning run starts from a model file
//       instead of random weights, and costs the same)
//   LoRA fine-tuning (rank R): the weights are frozen (no gradients, no
//       moments); small adapters learn instead, so the bill loses 3 of the 4
//       copies of the weights, but keeps the activations (the backward still
//       runs through every layer)
//   inference: the weights, and per sequence a KV cache of T positions and
//       the working rows of one call; no backward, so nothing else
//
// The LoRA layout (the LoRA trainer allocates it; this is what the bill
// assumes): for each targeted matrix W (out, in) of each layer, adapters
// A (R, in) and B (out, R), fp32, with gradients and two AdamW moments; the
// forward adds (alpha / R) B A x, so every layer keeps one more (B, T, R)
// intermediate (A x) per target, and its gradient. Targets: the four matrices
// of each block (qkvw, attprojw, fcw, fcprojw). Optionally the biases and
// layernorms train too (--lora-train-norms: they then get gradients and
// moments). The rank is BILL_LORA_RANK unless the run says otherwise.

#define BILL_LORA_RANK 8

// train.cu's layout (read from its gpu_model_init and gpu_act_table): the
// constants it allocates with, mirrored here so that ./train can print the
// GPU bill without CUDA
#define BILL_GPU_ALIGN 256                      // train.cu ALLOC_ALIGN
#define BILL_GPU_COLSUM_ROWS 64                 // train_kernels.cuh COLSUM_ROWS
#define BILL_GPU_ENCODER_CHUNK 256              // train_kernels.cuh ENCODER_CHUNK
#define BILL_GPU_WORKSPACE ((size_t)32 << 20)   // train.cu CUBLAS_WORKSPACE_BYTES
#define BILL_BF16 2                             // bytes of a bf16 (train.cu's floatX)

typedef struct {
    size_t trainable;         // parameters that get gradients and moments
    size_t weights, grads, moments, acts, act_grads, kv_cache, other;
    size_t total;
    double flops_per_token;   // training: forward + backward; inference: prefill
    double flops_per_decode;  // inference: one new token against a cache of T (else 0)
} BillColumn;

static void bill_sum(BillColumn *b) {
    b->total = b->weights + b->grads + b->moments + b->acts + b->act_grads + b->kv_cache + b->other;
}

// weights that multiply an activation (see compute_bill): the LM head and the
// four matrices of each block
static double bill_matmul_weights(const GPT2Config *cfg) {
    double C = cfg->channels;
    return (double)cfg->padded_vocab_size * C + (double)cfg->num_layers * 12 * C * C;
}

// CPU, pre-training / full fine-tuning: exactly what gpt2_init and
// gpt2_alloc_activations allocate (compute_bill)
static BillColumn bill_cpu_train(const GPT2Config *cfg, int B, int T, int shards) {
    Bill b = compute_bill(cfg, B, T, 1, shards);
    BillColumn c;
    memset(&c, 0, sizeof(c));
    c.trainable = b.num_parameters;
    c.weights = b.param_bytes;
    c.grads = b.grad_bytes;
    c.moments = b.adam_bytes;
    c.acts = b.act_bytes;
    c.act_grads = b.act_grad_bytes;
    c.other = b.other_bytes;
    c.flops_per_token = b.flops_per_token;
    bill_sum(&c);
    return c;
}

// the GPU's saved activations and its backward scratch, bytes, exactly as
// train.cu's gpu_act_table lays them out (bf16 tensors, fp32 statistics, each
// tensor aligned; with recompute ln1, ln2 and fch_gelu keep one layer)
static void bill_gpu_acts(const GPT2Config *cfg, int B_, int T_, int recompute, size_t X,
                          size_t *saved, size_t *scratch) {
    size_t B = B_, T = T_, C = cfg->channels, L = cfg->num_layers, NH = cfg->num_heads;
    size_t Lr = recompute ? 1 : L, Vp = cfg->padded_vocab_size, BT = B * T;
    size_t F = sizeof(float), I = sizeof(int);
    size_t chunks = (BT + BILL_GPU_COLSUM_ROWS - 1) / BILL_GPU_COLSUM_ROWS;
    // (elements, bytes each) in table order; the first 19 are kept for the backward
    const size_t t[27][2] = {
        {BT * C, X}, {Lr * BT * C, X}, {L * BT, F}, {L * BT, F}, {L * BT * 3 * C, X},
        {L * BT * C, X}, {L * B * NH * T, F}, {L * BT * C, X}, {Lr * BT * C, X}, {L * BT, F},
        {L * BT, F}, {L * BT * 4 * C, X}, {Lr * BT * 4 * C, X}, {L * BT * C, X}, {BT * C, X},
        {BT, F}, {BT, F}, {BT * Vp, X}, {BT, F},
        {BT * C, X}, {BT * C, X}, {BT * 3 * C, X}, {BT * 4 * C, X}, {B * NH * T, F},
        {2 * chunks * 4 * C, F}, {BT, I}, {BT, I},
    };
    size_t at = 0;
    for (int i = 0; i < 27; i++) {
        if (i == 19) { *saved = at; }
        at = (at + BILL_GPU_ALIGN - 1) / BILL_GPU_ALIGN * BILL_GPU_ALIGN;
        at += t[i][0] * t[i][1];
    }
    *scratch = at - *saved;
}

// the GPU's other allocations: gradient-norm partial sums over `trainable`
// values, the encoder backward's token buckets, one fp32 logits row for the
// sampler, cuBLASLt's workspace
static size_t bill_gpu_other(const GPT2Config *cfg, int B, int T, size_t trainable) {
    size_t BT = (size_t)B * T, chunks = (trainable + NORM_CHUNK - 1) / NORM_CHUNK;
    size_t max_chunks = 2 * (BT / BILL_GPU_ENCODER_CHUNK) + 1;
    size_t buckets = (4 * BT + 2) * sizeof(int) + 2 * max_chunks * sizeof(int) +
                     max_chunks * (size_t)cfg->channels * sizeof(float);
    // + the norm's total (double) and the loss mean (float), reduced on the device
    return chunks * sizeof(double) + sizeof(double) + sizeof(float) + buckets +
           (size_t)cfg->padded_vocab_size * sizeof(float) + BILL_GPU_WORKSPACE;
}

// GPU, pre-training / full fine-tuning, for a compute type of X bytes:
// fp32 master weights and (copy: a build whose compute type is not fp32
// itself) their copy in the compute type, fp32
// gradients and moments (ZeRO-1: this rank's shard of the moments),
// activations in the compute type. test/test_gpu_bill.cu checks it against
// train.cu's allocations.
static BillColumn bill_gpu_layout(const GPT2Config *cfg, int B, int T, int shards, int recompute,
                                  size_t X, int copy) {
    BillColumn c;
    memset(&c, 0, sizeof(c));
    size_t np = count_parameters(cfg);
    c.trainable = np;
    c.weights = np * (sizeof(float) + (copy ? X : 0));
    c.grads = np * sizeof(float);
    c.moments = 2 * shard_largest(np, shards) * sizeof(float);
    bill_gpu_acts(cfg, B, T, recompute, X, &c.acts, &c.act_grads);
    c.other = bill_gpu_other(cfg, B, T, np);
    c.flops_per_token = compute_bill(cfg, B, T, 1, 1).flops_per_token;
    bill_sum(&c);
    return c;
}

// ./train_gpu as built by default: bf16
static BillColumn bill_gpu_train(const GPT2Config *cfg, int B, int T, int shards, int recompute) {
    return bill_gpu_layout(cfg, B, T, shards, recompute, BILL_BF16, 1);
}

// LoRA fine-tuning of rank R (layout above), on the CPU (gpu 0: fp32 like
// train.c) or the GPU (gpu 1, train.cu's GpuLora, for a compute type of X
// bytes: the frozen weights in the compute type only, since they are never
// updated; the trainable set in fp32 with gradients and moments, and (copy)
// the adapters' compute copy; activations as bill_gpu_layout's plus h (B, T,
// R) of each target, scratch plus one dh). The trainable set and the
// adapters are counted by train.c's own tables (lora_bill). FLOPs: the
// forward as always (2 per weight per token) plus the adapters'; the backward
// still needs every input gradient (2 per weight) but no weight gradient of
// the frozen matrices, so about 4 instead of 6 per weight; the adapters cost
// 6 per parameter. test/test_gpu_bill.cu checks the GPU layout against
// train.cu's allocations, test_train the CPU's against train.c's.
static BillColumn bill_lora_layout(const GPT2Config *cfg, int B, int T, int shards, const LoraConfig *lc,
                                   int gpu, int recompute, size_t X, int copy) {
    BillColumn c;
    memset(&c, 0, sizeof(c));
    LoraBill lb = lora_bill(cfg, lc, B, T);
    size_t np = count_parameters(cfg), na = lb.adapter_bytes / sizeof(float), BT = (size_t)B * T;
    size_t R = lc->rank, targets = 0;
    for (int t = 0; t < LORA_NUM_TARGETS; t++) { targets += (lc->targets >> t) & 1u; }
    size_t inter = (size_t)cfg->num_layers * targets * BT * R;  // the (B, T, R) h of each target
    c.trainable = lb.num_trainable;
    c.grads = c.trainable * sizeof(float);
    c.moments = 2 * ((c.trainable + shards - 1) / shards) * sizeof(float);
    if (!gpu) {
        // the CPU: exactly what train.c's LoRA trainer allocates
        c.weights = lb.base_param_bytes + lb.adapter_bytes;
        c.acts = lb.act_bytes + lb.lora_act_bytes;
        c.act_grads = lb.act_grad_bytes;
        c.other = lb.other_bytes;
    } else {
        bill_gpu_acts(cfg, B, T, recompute, X, &c.acts, &c.act_grads);
        c.weights = np * X + c.trainable * sizeof(float) + (copy ? na * X : 0);
        c.acts += inter * X;
        c.act_grads += BT * R * X;  // one layer's dh at a time, like dqkv
        c.other = bill_gpu_other(cfg, B, T, c.trainable);
    }
    double C = cfg->channels, L = cfg->num_layers;
    c.flops_per_token = 4.0 * bill_matmul_weights(cfg) + 6.0 * (double)na + 12.0 * L * C * T;
    bill_sum(&c);
    return c;
}

// the same for rank R on all four targets, with ./train_gpu's default
// compute type on the GPU (bf16)
static BillColumn bill_lora(const GPT2Config *cfg, int B, int T, int shards, int R,
                            int train_norms, int gpu, int recompute) {
    LoraConfig lc = {R, (float)R, LORA_ALL_TARGETS, train_norms};
    return bill_lora_layout(cfg, B, T, shards, &lc, gpu, recompute, BILL_BF16, 1);
}

// inference: B sequences of T tokens, each with its KV cache; defined with
// the cache in train_generate.h
static BillColumn bill_inference(const GPT2Config *cfg, int B, int T, int gpu);

// ----------------------------------------------------------------------------
// printing the bill

#define BILL_COLUMNS 4

static void bill_cell_bytes(char *out, size_t size, size_t bytes) {
    if (bytes == 0) {
        snprintf(out, size, "-");
    } else if (bytes >= ((size_t)1 << 30)) {
        snprintf(out, size, "%.2f GiB", (double)bytes / (1 << 30));
    } else {
        snprintf(out, size, "%.2f MiB", (double)bytes / (1 << 20));
    }
}

static void bill_row_bytes(const char *what, const BillColumn *cols, int n, size_t offset) {
    printf("| %-26s |", what);
    for (int i = 0; i < n; i++) {
        char cell[32];
        bill_cell_bytes(cell, sizeof(cell), *(const size_t *)((const char *)&cols[i] + offset));
        printf(" %16s |", cell);
    }
    printf("\n");
}

static void bill_row_flops(const char *what, const BillColumn *cols, int n, int decode) {
    printf("| %-26s |", what);
    for (int i = 0; i < n; i++) {
        double f = decode ? cols[i].flops_per_decode : cols[i].flops_per_token;
        char cell[32];
        if (f > 0) { snprintf(cell, sizeof(cell), "%.4g", f); } else { snprintf(cell, sizeof(cell), "-"); }
        printf(" %16s |", cell);
    }
    printf("\n");
}

static void bill_rule(int n) {
    printf("+----------------------------+");
    for (int i = 0; i < n; i++) { printf("------------------+"); }
    printf("\n");
}

// one table: n columns with their two-line headings
static void print_bill_columns(const char *title, const char *const *head1,
                               const char *const *head2, const BillColumn *cols, int n) {
    bill_rule(n);
    printf("| %-26s |", title);
    for (int i = 0; i < n; i++) { printf(" %16s |", head1[i]); }
    printf("\n| %-26s |", "");
    for (int i = 0; i < n; i++) { printf(" %16s |", head2[i]); }
    printf("\n");
    bill_rule(n);
    printf("| %-26s |", "trained parameters");
    for (int i = 0; i < n; i++) {
        if (cols[i].trainable > 0) { printf(" %16zu |", cols[i].trainable); } else { printf(" %16s |", "-"); }
    }
    printf("\n");
    bill_row_bytes("weights", cols, n, offsetof(BillColumn, weights));
    bill_row_bytes("gradients", cols, n, offsetof(BillColumn, grads));
    bill_row_bytes("AdamW moments (m, v)", cols, n, offsetof(BillColumn, moments));
    bill_row_bytes("activations", cols, n, offsetof(BillColumn, acts));
    bill_row_bytes("activation gradients", cols, n, offsetof(BillColumn, act_grads));
    bill_row_bytes("KV cache", cols, n, offsetof(BillColumn, kv_cache));
    bill_row_bytes("other", cols, n, offsetof(BillColumn, other));
    bill_row_bytes("total", cols, n, offsetof(BillColumn, total));
    bill_row_flops("FLOPs per token", cols, n, 0);
    bill_row_flops("FLOPs per decoded token", cols, n, 1);
    bill_rule(n);
}

// The whole comparison for a shape, B and T: the CPU's columns, then the
// GPU's, per rank of `shards` (ZeRO-1)
static void print_bill_side_by_side(const GPT2Config *cfg, int B, int T, int shards, int lora_rank) {
    char lora[32], title[64];
    snprintf(lora, sizeof(lora), "rank %d", lora_rank);
    BillColumn cpu[3] = {bill_cpu_train(cfg, B, T, shards),
                         bill_lora(cfg, B, T, shards, lora_rank, 0, 0, 0),
                         bill_inference(cfg, B, T, 0)};
    const char *h1[BILL_COLUMNS] = {"pre-training /", "LoRA", "inference", ""};
    const char *h2[BILL_COLUMNS] = {"full fine-tuning", lora, "(KV cache)", ""};
    snprintf(title, sizeof(title), "CPU fp32, B=%d T=%d", B, T);
    print_bill_columns(title, h1, h2, cpu, 3);
    printf("pre-training keeps weights, gradients, 2 moments and every activation with its "
           "gradient (att's: one block of rows\nat a time; the logits': written over them); LoRA freezes "
           "the weights (no gradients or moments for them)\nbut keeps the activations; inference keeps the "
           "weights and a KV cache only.\n");
    BillColumn gpu[BILL_COLUMNS] = {bill_gpu_train(cfg, B, T, shards, 0),
                                    bill_gpu_train(cfg, B, T, shards, 1),
                                    bill_lora(cfg, B, T, shards, lora_rank, 0, 1, 0),
                                    bill_inference(cfg, B, T, 1)};
    const char *g1[BILL_COLUMNS] = {"pre-training /", "pre-training", "LoRA", "inference"};
    const char *g2[BILL_COLUMNS] = {"full fine-tuning", "--recompute 1", lora, "(KV cache)"};
    snprintf(title, sizeof(title), "GPU bf16, B=%d T=%d", B, T);
    print_bill_columns(title, g1, g2, gpu, BILL_COLUMNS);
    printf("GPU: fp32 master weights + a bf16 copy, fp32 gradients and moments%s, bf16 "
           "activations (the backward's scratch as\nactivation gradients); LoRA keeps the frozen "
           "weights in bf16 only; --recompute keeps one layer of ln1, ln2, GELU.\n",
           shards > 1 ? " (moments: this rank's ZeRO-1 shard)" : "");
}

// ----------------------------------------------------------------------------
// measured: peak resident memory at the end of a run

// the peak resident memory of this process in bytes (VmHWM of
// /proc/self/status), or -1 where there is no such file (not Linux)
static int64_t peak_resident_bytes(void) {
    const char *path = "/proc/self/status";
    if (file_size(path) < 0) { return -1; }
    FILE *fp = fopenCheck(path, "r");
    char line[256];
    int64_t kib = -1;
    while (fgets(line, sizeof(line), fp) != NULL) {
        if (strncmp(line, "VmHWM:", 6) == 0) { kib = strtoll(line + 6, NULL, 10); }
    }
    fcloseCheck(fp);
    return kib < 0 ? -1 : kib * 1024;
}

// the last lines of a run: what it allocated against the bill (exact bytes),
// and the peak resident memory the kernel measured beside the bill's total.
// bill_total 0: no bill for this memory (train_gpu's host side): the peak only.
static void print_run_memory(const char *what, size_t allocated, size_t bill_total) {
    if (bill_total == 0) {
        int64_t peak = peak_resident_bytes();
        if (peak < 0) { printf("memory (%s): peak resident not available\n", what); }
        else { printf("memory (%s): peak resident %.1f MiB (VmHWM)\n", what, (double)peak / (1 << 20)); }
        return;
    }
    printf("memory (%s): allocated %zu bytes, the bill %zu bytes%s\n", what, allocated, bill_total,
           allocated == bill_total ? "" : " (they differ)");
    int64_t peak = peak_resident_bytes();
    if (peak < 0) {
        printf("memory (%s): peak resident not available (no /proc/self/status), the bill %.1f MiB\n",
               what, (double)bill_total / (1 << 20));
    } else {
        printf("memory (%s): peak resident %.1f MiB (VmHWM), the bill %.1f MiB (%+.1f%%)\n", what,
               (double)peak / (1 << 20), (double)bill_total / (1 << 20),
               100.0 * ((double)peak - (double)bill_total) / (double)bill_total);
    }
}

// ----------------------------------------------------------------------------
// time: how long --tokens N of training take here (--measure) or on a GPU of
// the peak table at an assumed MFU (--gpu, --mfu)

#define MEASURE_STEPS 2    // timed training steps, after one untimed
#define MEASURE_DECODE 16  // timed decoded tokens, after a prefill

// one decoding speed measurement (train_generate.h): tokens/s of decoding
// after a short prefill, with the KV cache
static double measure_decode(GPT2 *model, Rng *rng);

// A few timed steps of the real model on this CPU (random weights and
// tokens: the speed does not depend on them): training tokens/s at B x T,
// and decoding tokens/s with the KV cache
static void measure_cpu(const GPT2Config *cfg, int B, int T, uint64_t seed, double *train_tok_s,
                        double *decode_tok_s) {
    GPT2 model;
    Rng rng;
    rng_seed(&rng, seed);
    gpt2_init(&model, cfg);
    gpt2_init_random(&model, &rng);
    gpt2_alloc_activations(&model, B, T);
    size_t BT = (size_t)B * T;
    int *tokens = (int *)mallocCheck((BT + 1) * sizeof(int));
    for (size_t i = 0; i <= BT; i++) { tokens[i] = (int)rng_below(&rng, (size_t)cfg->vocab_size); }
    double t0 = 0.0;
    for (int s = 0; s <= MEASURE_STEPS; s++) {
        if (s == 1) { t0 = now_seconds(); }  // step 0 warms the caches and pages
        gpt2_zero_grad(&model);
        gpt2_forward(&model, tokens, B, T);
        gpt2_loss(&model, tokens + 1);
        gpt2_backward(&model, 1.0f / (float)BT);
        AdamWArgs args = {1e-4f, 0.9f, 0.95f, 1e-8f, 0.0f, 1.0f, s + 1};
        gpt2_update(&model, &args);
    }
    *train_tok_s = (double)MEASURE_STEPS * (double)BT / (now_seconds() - t0);
    *decode_tok_s = measure_decode(&model, &rng);
    free(tokens);
    gpt2_free(&model);
}

// "42 s", "3.5 min", "7.1 h", "12 d", "3.4 y"
static void bill_duration(char *out, size_t size, double s) {
    if (s < 120) { snprintf(out, size, "%.3g s", s); }
    else if (s < 7200) { snprintf(out, size, "%.3g min", s / 60); }
    else if (s < 3 * 86400) { snprintf(out, size, "%.3g h", s / 3600); }
    else if (s < 2 * 365.25 * 86400) { snprintf(out, size, "%.3g d", s / 86400); }
    else { snprintf(out, size, "%.3g y", s / (365.25 * 86400)); }
}

// one row of the time table: a device, then per column its time or "does not fit"
static void time_row(const char *device, const double *seconds, const BillColumn *cols,
                     double memory_bytes) {
    printf("| %-42s |", device);
    for (int i = 0; i < 3; i++) {
        char cell[32];
        if (memory_bytes > 0 && (double)cols[i].total > memory_bytes) {
            snprintf(cell, sizeof(cell), "does not fit");
        } else if (seconds[i] > 0) {
            bill_duration(cell, sizeof(cell), seconds[i]);
        } else {
            snprintf(cell, sizeof(cell), "-");
        }
        printf(" %16s |", cell);
    }
    printf("\n");
}

// the row of the peak table a --gpu name means (its first match), or NULL
static const GpuPeak *find_gpu(const char *name) {
    for (size_t i = 0; i < sizeof(gpu_peak_table) / sizeof(gpu_peak_table[0]); i++) {
        if (gpu_name_matches(name, gpu_peak_table[i].name)) { return &gpu_peak_table[i]; }
    }
    return NULL;
}

// The time table: N training tokens (pre-training or full fine-tuning, and
// LoRA) and the inference of B sequences of T tokens, on this CPU at the
// measured speed (--measure) and on each --gpu at --mfu of its bf16 peak.
// Decoding one token reads every weight and the cache once, so a decoded
// token takes at least (bytes / memory bandwidth), however few its FLOPs.
static void print_time_table(const RunConfig *c, const GPT2Config *cfg, int B, int T, int shards,
                             int lora_rank) {
    double N = c->tokens > 0 ? c->tokens : 0.0;
    char title[64], cpu_note[256] = "", gpu_note[256] = "";
    snprintf(title, sizeof(title), "time: %.3g tokens of training", N);
    printf("+--------------------------------------------+------------------+------------------+------------------+\n");
    printf("| %-42s | %16s | %16s | %16s |\n", title, "pre-training /", "LoRA", "inference");
    char lora[32], inf[32];
    snprintf(lora, sizeof(lora), "rank %d", lora_rank);
    snprintf(inf, sizeof(inf), "%d x %d tokens", B, T);
    printf("| %-42s | %16s | %16s | %16s |\n", "", "full fine-tuning", lora, inf);
    printf("+--------------------------------------------+------------------+------------------+------------------+\n");
    if (c->measure) {
        double train_tok_s, decode_tok_s;
        measure_cpu(cfg, B, T, (uint64_t)c->seed, &train_tok_s, &decode_tok_s);
        BillColumn cols[3] = {bill_cpu_train(cfg, B, T, shards),
                              bill_lora(cfg, B, T, shards, lora_rank, 0, 0, 0),
                              bill_inference(cfg, B, T, 0)};
        // LoRA: the measured FLOP rate applied to LoRA's FLOPs (computed)
        double rate = train_tok_s * cols[0].flops_per_token;
        double s[3] = {N / train_tok_s, N * cols[1].flops_per_token / rate,
                       decode_tok_s > 0 ? (double)B * T / decode_tok_s : 0.0};
        long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
        double memory = pages > 0 && page > 0 ? (double)pages * (double)page : 0.0;
        char device[96];
        snprintf(device, sizeof(device), "this CPU, %d threads (memory %.0f GiB)", num_threads(),
                 memory / (1 << 30));
        time_row(device, s, cols, memory);
        snprintf(cpu_note, sizeof(cpu_note), "this CPU: measured training %.1f tokens/s (%.3g "
                 "GFLOP/s), decoding %.1f tokens/s; LoRA and inference times computed from them\n",
                 train_tok_s, rate * 1e-9, decode_tok_s);
    }
    if (c->gpu != NULL) {
        BillColumn cols[3] = {bill_gpu_train(cfg, B, T, shards, c->recompute),
                              bill_lora(cfg, B, T, shards, lora_rank, 0, 1, c->recompute),
                              bill_inference(cfg, B, T, 1)};
        char list[512];
        if (strlen(c->gpu) >= sizeof(list)) { die("--gpu: the list is longer than %zu characters", sizeof(list) - 1); }
        snprintf(list, sizeof(list), "%s", c->gpu);
        int rows = 0;
        for (char *save = NULL, *item = strtok_r(list, ",", &save); item != NULL;
             item = strtok_r(NULL, ",", &save)) {
            char *colon = strchr(item, ':');
            double gib = 0.0;
            if (colon != NULL) {
                *colon = '\0';
                char *end = NULL;
                gib = strtod(colon + 1, &end);
                if (end == colon + 1 || *end != '\0' || !(gib > 0) || gib > 1e6) {
                    die("--gpu: '%s' is not NAME:GiB with GiB a positive number", colon + 1);
                }
            }
            while (*item == ' ') { item++; }
            const GpuPeak *p = find_gpu(item);
            if (p == NULL) {
                die("--gpu: '%s' is not in the peak table (gpu_peaks.h: e.g. H100, A100, "
                    "RTX 4090, RTX 4060 Laptop)", item);
            }
            double flops = p->tflops_bf16 * 1e12 * c->mfu, bw = p->bandwidth_gbs * 1e9;
            double step = fmax((double)B * cols[2].flops_per_decode / flops,
                               (double)(cols[2].weights + cols[2].kv_cache) / bw);
            double s[3] = {N * cols[0].flops_per_token / flops, N * cols[1].flops_per_token / flops,
                           (double)T * step};
            char device[96];
            if (gib > 0) {
                snprintf(device, sizeof(device), "%s (%g GiB), MFU %.0f%%", p->name, gib, 100 * c->mfu);
            } else {
                snprintf(device, sizeof(device), "%s, MFU %.0f%%", p->name, 100 * c->mfu);
            }
            time_row(device, s, cols, gib * (double)(1 << 30));
            rows++;
        }
        if (rows == 0) { die("--gpu '%s' names no GPU: give NAME[:GiB],... (e.g. \"H100:80\")", c->gpu); }
        snprintf(gpu_note, sizeof(gpu_note), "GPU times computed: FLOPs / (MFU x the bf16 peak); "
                 "a decoded token at least reads the bf16 weights and the KV cache%s\n",
                 c->recompute ? "; --recompute 1" : "");
    }
    if (!c->measure && c->gpu == NULL) {
        printf("| %-42s | %16s | %16s | %16s |\n", "(--measure: this CPU; --gpu NAME[:GiB])", "-", "-", "-");
    }
    printf("+--------------------------------------------+------------------+------------------+------------------+\n");
    printf("%s%s", cpu_note, gpu_note);
}

// --dry-run: the configuration and the bill without training (the shape
// from the model file's header or the preset), and with --tokens the time
static int dry_run(const RunConfig *c) {
    Tokenizer tok;
    int have_tok = file_size(c->tokenizer) >= 0;
    if (have_tok) { tokenizer_load(&tok, c->tokenizer); }
    GPT2Config mc;
    model_config_for(&mc, c->model, have_tok ? (int)tok.vocab_size : c->vocab);
    check_config(&mc, c->model);
    if (c->T > mc.max_seq_len) { die("-t %d is longer than the model's maxT=%d", c->T, mc.max_seq_len); }
    if (c->B % c->ranks != 0) {
        die("-b %d does not split over --ranks %d: give a multiple of %d", c->B, c->ranks, c->ranks);
    }
    int B = c->B / c->ranks, shards = c->zero && c->ranks > 1 ? c->ranks : 1;
    size_t BT = (size_t)c->B * c->T, total = c->total_batch == 0 ? BT : (size_t)c->total_batch;
    if (total % BT != 0) { die("-d %d is not a multiple of B*T = %zu", c->total_batch, BT); }
    check_run_size(&mc, NULL, B, c->T, shards, c->measure);
    printf("model %s: L=%d NH=%d C=%d V=%d Vp=%d maxT=%d\n", c->model, mc.num_layers,
           mc.num_heads, mc.channels, mc.vocab_size, mc.padded_vocab_size, mc.max_seq_len);
    if (c->ranks > 1) {
        printf("per rank of %d: B=%d%s\n", c->ranks, B, shards > 1 ? ", ZeRO-1 (moments sharded)" : "");
    }
    int lora_rank = c->lora > 0 ? c->lora : BILL_LORA_RANK;  // the run's --lora R, if given
    print_bill(&mc, B, c->T, (int)(total / BT), shards);
    print_bill_side_by_side(&mc, B, c->T, shards, lora_rank);
    if (c->tokens > 0 || c->measure || c->gpu != NULL) {
        print_time_table(c, &mc, B, c->T, shards, lora_rank);
    }
    if (have_tok) { tokenizer_free(&tok); }
    return 0;
}

// the end of a training run: its memory against the bill of this rank (the
// moments as this rank's ZeRO-1 shard holds them); on the CPU backend the
// bill is the host's memory, on a GPU backend the host's peak alone
static void print_training_memory(const GPT2 *model, int B, int T, int on_cpu) {
    if (!on_cpu) {
        print_run_memory("training, host", 0, 0);
        return;
    }
    if (model->lora.config.rank > 0) {  // LoRA: the frozen base, the adapters and their state
        print_run_memory("LoRA training", model->bytes_allocated,
                         lora_bill(&model->config, &model->lora.config, B, T).total_bytes);
        return;
    }
    BillColumn bill = bill_cpu_train(&model->config, B, T, 1);
    bill.total -= bill.moments;
    bill.total += 2 * (model->opt_end - model->opt_start) * sizeof(float);
    print_run_memory("training", model->bytes_allocated, bill.total);
}
