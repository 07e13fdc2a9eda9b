/*
train_bill.h: what a run costs, before it runs: the bytes of every group of
tensors the program allocates (parameters, gradients, AdamW moments,
activations and their gradients) and the FLOPs per token and per step. Part
of train.c (included by it, after the model and the flags): printed at the
start of every run and by --dry-run; test_train checks that the bytes it
reports are the bytes allocated.
*/

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
// With ZeRO-1 over `shards` ranks, each keeps at most ceil(N / shards) moments.
static Bill compute_bill(const GPT2Config *cfg, int B, int T, int grad_accum, int shards) {
    Bill b;
    size_t C = cfg->channels, L = cfg->num_layers;
    b.num_parameters = count_parameters(cfg);
    b.param_bytes = b.grad_bytes = b.num_parameters * sizeof(float);
    b.adam_bytes = 2 * ((b.num_parameters + shards - 1) / shards) * sizeof(float);
    b.act_bytes = b.act_grad_bytes = count_activations(cfg, B, T) * sizeof(float);
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

// The bytes a run allocates, computed in double: exact up to 2^53 and, for
// absurd shapes, no wrap-around where size_t would overflow (att alone is
// L*B*NH*T*T floats: past 2^64 bytes for B = 2^16, NH = 64, T = 2^20).
static double run_bytes(const GPT2Config *cfg, int B, int T, int shards) {
    TensorSpec p[NUM_PARAMETER_TENSORS], a[NUM_ACTIVATION_TENSORS];
    parameter_specs(p, cfg);
    activation_specs(a, cfg, B, T);
    double np = 0.0, na = 0.0;
    for (int i = 0; i < NUM_PARAMETER_TENSORS; i++) {
        double n = 1.0;
        for (int d = 0; d < p[i].rank; d++) { n *= (double)p[i].shape[d]; }
        np += n;
    }
    for (int i = 0; i < NUM_ACTIVATION_TENSORS; i++) {
        double n = 1.0;
        for (int d = 0; d < a[i].rank; d++) { n *= (double)a[i].shape[d]; }
        na += n;
    }
    // parameters, gradients, m and v (sharded), activations and their gradients
    return sizeof(float) * (2.0 * np + 2.0 * ceil(np / shards) + 2.0 * na);
}

// Refuses a run whose tensors cannot be addressed, or (check_memory) do not
// fit in this machine's memory, before anything is allocated, naming the
// flags to change instead of failing later in malloc or being killed.
static void check_run_size(const GPT2Config *cfg, int B, int T, int shards, int check_memory) {
    double bytes = run_bytes(cfg, B, T, shards);
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

// the bill without allocating anything: shape from the model header or the preset
static int dry_run(const RunConfig *c) {
    Tokenizer tok;
    int have_tok = file_size(c->tokenizer) >= 0;
    if (have_tok) { tokenizer_load(&tok, c->tokenizer); }
    GPT2Config mc;
    model_config_for(&mc, c->model, have_tok ? (int)tok.vocab_size : c->vocab);
    check_config(&mc, c->model);
    if (c->T > mc.max_seq_len) { die("-t %d is longer than the model's maxT=%d", c->T, mc.max_seq_len); }
    size_t BT = (size_t)c->B * c->T, total = c->total_batch == 0 ? BT : (size_t)c->total_batch;
    if (total % BT != 0) { die("-d %d is not a multiple of B*T = %zu", c->total_batch, BT); }
    check_run_size(&mc, c->B, c->T, 1, 0);
    printf("model %s: L=%d NH=%d C=%d V=%d Vp=%d maxT=%d\n", c->model, mc.num_layers,
           mc.num_heads, mc.channels, mc.vocab_size, mc.padded_vocab_size, mc.max_seq_len);
    print_bill(&mc, c->B, c->T, (int)(total / BT), 1);
    if (have_tok) { tokenizer_free(&tok); }
    return 0;
}
