/*
train_flags.h: the command line of ./train and ./train_gpu. Part of train.c
(included by it, after the model); not about how training works.

Every flag is written once, in RUN_FLAGS below: its type, the RunConfig field
it sets, its letter (llm.c's where llm.c has one), its long name, its default,
its range and its help. The RunConfig struct, the defaults, the parser and -h
are all generated from that one list, so they cannot disagree; README's flag
table is checked against -h by test/test_cli.sh.
*/

// FLAG(type, field, letter, long name, default, min, max, help)
//   type: INT (int), FLOAT (float), STRING (const char *), SWITCH (int, set
//   to 1 by the flag alone); min and max bound a number, inclusive; letter
//   is NULL for a flag with a long name only.
#define RUN_FLAGS(FLAG) \
    FLAG(STRING, train_pattern, "-i", "--train", "data/tinyshakespeare/gpt2_train_*.bin", 0, 0, \
         "train token shards (a glob pattern)") \
    FLAG(STRING, val_pattern, "-j", "--val", "data/tinyshakespeare/gpt2_val_*.bin", 0, 0, \
         "val token shards (a glob pattern)") \
    FLAG(STRING, model, "-e", "--model", "d6", 0, 0, \
         "model file, or a preset d6|d12|d24|d36|d48 to train from scratch") \
    FLAG(STRING, tokenizer, "-k", "--tokenizer", "data/gpt2/tokenizer.bin", 0, 0, \
         "tokenizer file: decodes samples, gives V for a preset") \
    FLAG(STRING, output_dir, "-o", "--output", "", 0, 0, \
         "output dir for the log and checkpoints (\"\" = none)") \
    FLAG(INT, B, "-b", "--batch", 4, 1, 65536, "batch size B (sequences per micro-step)") \
    FLAG(INT, T, "-t", "--seq-len", 64, 1, 1 << 20, "sequence length T (at most the model's maxT)") \
    FLAG(INT, total_batch, "-d", "--total-batch", 0, 0, 2147483647.0, \
         "tokens per step, a multiple of B*T: gradient accumulation (0 = B*T)") \
    FLAG(FLOAT, lr, "-l", "--lr", 3e-4f, 0, 10, "learning rate") \
    FLAG(INT, warmup, "-u", "--warmup", 0, 0, 1e9, "warmup steps (linear, from lr/warmup)") \
    FLAG(FLOAT, final_lr_frac, "-q", "--final-lr", 1.0f, 0, 1, \
         "final learning rate as a fraction of -l (cosine decay over the run)") \
    FLAG(FLOAT, weight_decay, "-c", "--weight-decay", 0.0f, 0, 10, \
         "AdamW weight decay (matrices only: rank >= 2 per layer)") \
    FLAG(INT, max_steps, "-x", "--steps", -1, -1, 1e9, "optimizer steps (-1 = one epoch of the train shards)") \
    FLAG(INT, val_every, "-v", "--val-every", 20, 0, 1e9, "val loss every N steps (0 = never)") \
    FLAG(INT, val_batches, "-m", "--val-batches", 20, 1, 1e9, \
         "val batches per evaluation (the same ones every time)") \
    FLAG(INT, sample_every, "-s", "--sample-every", 0, 0, 1e9, "sample every N steps (0 = only at the end)") \
    FLAG(INT, gen_tokens, "-g", "--gen-tokens", 64, 0, 1e6, "tokens per sample (0 = no sampling)") \
    FLAG(INT, ckpt_every, "-n", "--checkpoint-every", 0, 0, 1e9, \
         "checkpoint every N steps (0 = only at the end)") \
    FLAG(INT, resume, "-y", "--resume", 0, 0, 1, "1 = resume from the latest checkpoint in -o") \
    FLAG(FLOAT, grad_clip, NULL, "--clip", 1.0f, 0, 1e9, "clip the global gradient norm to this (0 = off)") \
    FLAG(FLOAT, beta1, NULL, "--beta1", 0.9f, 0, 0.9999999, "AdamW beta1") \
    FLAG(FLOAT, beta2, NULL, "--beta2", 0.95f, 0, 0.9999999, "AdamW beta2") \
    FLAG(FLOAT, eps, NULL, "--eps", 1e-8f, 1e-30, 1, "AdamW epsilon") \
    FLAG(INT, seed, NULL, "--seed", 1337, 0, 2147483647.0, "random seed: initialisation, shuffling, sampling") \
    FLAG(INT, vocab, NULL, "--vocab", 50257, 1, 65536, "V for a preset when there is no tokenizer file") \
    FLAG(INT, shuffle, NULL, "--shuffle", 0, 0, 1, "1 = shuffle shards and batches each epoch (seeded)") \
    FLAG(FLOAT, temperature, NULL, "--temperature", 1.0f, 0, 100, "sampling temperature (0 = greedy)") \
    FLAG(INT, top_k, NULL, "--top-k", 0, 0, 1 << 24, "sample from the k most likely tokens (0 = all)") \
    FLAG(INT, zero, NULL, "--zero", 0, 0, 1, "1 = ZeRO-1: shard the AdamW state over MPI ranks") \
    FLAG(INT, skip_nonfinite, NULL, "--skip-nonfinite", 0, 0, 1e9, \
         "skip the update of a step whose loss or grad norm is NaN or infinite, up to N in a row (0 = stop)") \
    FLAG(SWITCH, profile, NULL, "--profile", 0, 0, 1, \
         "at the end, where a training step's time went: per operation ms, share, GFLOP/s or GB/s") \
    FLAG(SWITCH, dry_run, NULL, "--dry-run", 0, 0, 1, \
         "print the bill (training, LoRA, inference; CPU and GPU), then exit") \
    FLAG(FLOAT, tokens, NULL, "--tokens", 0.0f, 0, 1e15, \
         "with --dry-run: time N tokens of training (with --measure or --gpu)") \
    FLAG(SWITCH, measure, NULL, "--measure", 0, 0, 1, \
         "with --dry-run: time a few steps and decoded tokens of the real model on this CPU") \
    FLAG(STRING, gpu, NULL, "--gpu", NULL, 0, 0, \
         "with --dry-run: time on GPUs of the peak table, NAME[:GiB],... (e.g. \"H100:80\")") \
    FLAG(FLOAT, mfu, NULL, "--mfu", 0.4f, 0.001, 1, "with --dry-run --gpu: the assumed MFU") \
    FLAG(INT, ranks, NULL, "--ranks", 1, 1, 65536, \
         "with --dry-run: data-parallel ranks; the bill is per rank (ZeRO-1 with --zero 1)") \
    FLAG(STRING, prompt, NULL, "--prompt", NULL, 0, 0, \
         "generate: continue this text by -g tokens, then exit (no training)") \
    FLAG(INT, kv_cache, NULL, "--kv-cache", 1, 0, 1, \
         "with --prompt: 0 = rerun the whole context for every token") \
    FLAG(INT, recompute, NULL, "--recompute", 0, 0, 1, \
         "train_gpu: 1 = recompute GELU and layernorm in the backward (less memory)") \
    FLAG(INT, lora, NULL, "--lora", 0, 0, 65536, \
         "LoRA fine-tuning of -e with adapters of rank R, the base frozen (0 = off: train every parameter)") \
    FLAG(FLOAT, lora_alpha, NULL, "--lora-alpha", 0.0f, 0, 1e6, \
         "with --lora: the adapters' update is scaled by alpha/R (0 = R: scale 1)") \
    FLAG(STRING, lora_targets, NULL, "--lora-targets", "qkv,attproj,fc,fcproj", 0, 0, \
         "with --lora: the matrices of each block that get adapters") \
    FLAG(INT, lora_train_norms, NULL, "--lora-train-norms", 0, 0, 1, \
         "with --lora: 1 = the biases and layernorms train too") \
    FLAG(STRING, lora_merge, NULL, "--lora-merge", "", 0, 0, \
         "with --lora: at the end also write this model file, the base with the adapters merged in") \
    FLAG(INT, gelu_fusion, NULL, "--gelu-fusion", 1, 0, 1, \
         "train_gpu: 0 = plain cuBLASLt products + separate bias and GELU kernels, not fused epilogues")

typedef enum { FLAG_INT, FLAG_FLOAT, FLAG_STRING, FLAG_SWITCH } FlagType;

// the C type of each kind of flag
#define FLAG_CTYPE_INT int
#define FLAG_CTYPE_FLOAT float
#define FLAG_CTYPE_STRING const char *
#define FLAG_CTYPE_SWITCH int

// a run's configuration: one field per flag, then what the program sets
typedef struct {
#define FLAG_FIELD(type, field, letter, name, def, lo, hi, help) FLAG_CTYPE_##type field;
    RUN_FLAGS(FLAG_FIELD)
#undef FLAG_FIELD
    const struct Backend *backend;  // NULL: the CPU (train.cu sets its own)
} RunConfig;

typedef struct {
    const char *letter;  // "-b", or NULL
    const char *name;    // "--batch"
    FlagType type;
    size_t offset;       // of the field in RunConfig
    double min, max;     // inclusive range of a number
    const char *help;
} Flag;

static const Flag run_flags[] = {
#define FLAG_ROW(type, field, letter, name, def, lo, hi, help) \
    {letter, name, FLAG_##type, offsetof(RunConfig, field), lo, hi, help},
    RUN_FLAGS(FLAG_ROW)
#undef FLAG_ROW
};
#define NUM_FLAGS (sizeof(run_flags) / sizeof(run_flags[0]))

static void run_config_defaults(RunConfig *c) {
    memset(c, 0, sizeof(*c));
#define FLAG_DEFAULT(type, field, letter, name, def, lo, hi, help) c->field = def;
    RUN_FLAGS(FLAG_DEFAULT)
#undef FLAG_DEFAULT
    c->backend = NULL;
}

// the field a flag sets
static void *flag_value(const Flag *f, RunConfig *c) {
    return (char *)c + f->offset;
}

// -h: every flag with its default; backend names where the binary trains
// ("cpu" for ./train, "cuda bf16" for ./train_gpu)
static void print_usage(FILE *fp, const char *program, const char *backend) {
    RunConfig defaults;
    run_config_defaults(&defaults);
    fprintf(fp, "usage: %s [flags]   (GPT-2 training; backend: %s)\n\n", program, backend);
    for (size_t i = 0; i < NUM_FLAGS; i++) {
        const Flag *f = &run_flags[i];
        const void *v = flag_value(f, &defaults);
        char def[80] = "";
        switch (f->type) {
            case FLAG_INT: snprintf(def, sizeof(def), "%d", *(const int *)v); break;
            case FLAG_FLOAT: snprintf(def, sizeof(def), "%g", *(const float *)v); break;
            case FLAG_STRING:
                if (*(const char *const *)v == NULL) { snprintf(def, sizeof(def), "none"); break; }
                snprintf(def, sizeof(def), "\"%s\"", *(const char *const *)v);
                break;
            case FLAG_SWITCH: snprintf(def, sizeof(def), "off"); break;
        }
        fprintf(fp, "  %-3s %-19s %s (default %s)\n", f->letter != NULL ? f->letter : "",
                f->name, f->help, def);
    }
    fprintf(fp, "  %-3s %-19s %s\n", "-h", "--help", "this help");
}

// parses argv into c; 0 on success, 1 when -h was asked, and an error
// message and exit(1) on an unknown flag or a bad value
static int parse_args(RunConfig *c, int argc, char **argv) {
    run_config_defaults(c);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) { return 1; }
        const Flag *f = NULL;
        for (size_t k = 0; k < NUM_FLAGS; k++) {
            const Flag *g = &run_flags[k];
            if (strcmp(arg, g->name) == 0 || (g->letter != NULL && strcmp(arg, g->letter) == 0)) { f = g; }
        }
        if (f == NULL) { die("unknown flag '%s' (%s -h lists them)", arg, argv[0]); }
        void *value = flag_value(f, c);
        if (f->type == FLAG_SWITCH) {
            *(int *)value = 1;
            continue;
        }
        if (i + 1 >= argc) { die("flag %s needs a value", arg); }
        const char *val = argv[++i];
        char *end = NULL;
        errno = 0;
        if (f->type == FLAG_STRING) {
            *(const char **)value = val;
        } else if (f->type == FLAG_INT) {
            long x = strtol(val, &end, 10);
            if (end == val || *end != '\0' || errno != 0 || x < f->min || x > f->max) {
                die("flag %s: '%s' is not an integer in [%.0f, %.0f]", arg, val, f->min, f->max);
            }
            *(int *)value = (int)x;
        } else {
            float x = strtof(val, &end);
            if (end == val || *end != '\0' || errno != 0 || !isfinite(x) || x < f->min || x > f->max) {
                die("flag %s: '%s' is not a number in [%g, %g]", arg, val, f->min, f->max);
            }
            *(float *)value = x;
        }
    }
    return 0;
}
