/*
train_files.h: everything train.c reads and writes on disk, in the formats of
data/README.md (llm.c's for model files and token shards, our own for the
training state). Part of train.c (included by it, after the model): model
files, the shape behind -e, the token-shard data loader, training-state files
and the names of checkpoints. Every read is checked against the header (magic,
version, size); every write is atomic (util.h's AtomicFile).
*/

// ----------------------------------------------------------------------------
// model files (llm.c's format): header, then every parameter in table order

static void config_to_header(int *header, const GPT2Config *c) {
    header[2] = c->max_seq_len;
    header[3] = c->vocab_size;
    header[4] = c->num_layers;
    header[5] = c->num_heads;
    header[6] = c->channels;
    header[7] = c->padded_vocab_size;
}

// the inverse of config_to_header, checked (source names the file in messages)
static void config_from_header(GPT2Config *c, const int *header, const char *source) {
    c->max_seq_len = header[2];
    c->vocab_size = header[3];
    c->num_layers = header[4];
    c->num_heads = header[5];
    c->channels = header[6];
    c->padded_vocab_size = header[7];
    check_config(c, source);
}

// reads and checks a model file's header: magic, version, shape, and that the
// file holds exactly the parameters the header implies. Returns the version.
static int read_model_header(GPT2Config *cfg, const char *path) {
    int header[HEADER_INTS];
    read_header(header, path, MODEL_MAGIC, "model file");
    int version = header[1];
    if (version != MODEL_VERSION_FP32 && version != MODEL_VERSION_BF16) {
        die("model file '%s' has version %d; this trainer reads %d (fp32) and %d (bf16)", path,
            version, MODEL_VERSION_FP32, MODEL_VERSION_BF16);
    }
    config_from_header(cfg, header, path);
    size_t bytes_per = version == MODEL_VERSION_FP32 ? 4 : 2;
    int64_t want = (int64_t)(HEADER_INTS * sizeof(int) + count_parameters(cfg) * bytes_per);
    int64_t got = file_size(path);
    if (got != want) {
        die("model file '%s' is %lld bytes but its header (L=%d C=%d V=%d) implies %lld: "
            "truncated or corrupt", path, (long long)got, cfg->num_layers, cfg->channels,
            cfg->vocab_size, (long long)want);
    }
    return version;
}

// builds the model from a model file (fp32, or bf16 widened to fp32)
static void gpt2_load(GPT2 *model, const char *path) {
    GPT2Config cfg;
    int version = read_model_header(&cfg, path);
    gpt2_init(model, &cfg);
    FILE *fp = fopenCheck(path, "rb");
    fseekCheck(fp, HEADER_INTS * sizeof(int), SEEK_SET);
    if (version == MODEL_VERSION_FP32) {
        freadCheck(model->params_memory, sizeof(float), model->num_parameters, fp);
    } else {
        // bf16 is the top half of an fp32: shift it back into place
        const size_t chunk = 1 << 16;
        uint16_t *buf = (uint16_t *)mallocCheck(chunk * sizeof(uint16_t));
        for (size_t i = 0; i < model->num_parameters; i += chunk) {
            size_t n = model->num_parameters - i < chunk ? model->num_parameters - i : chunk;
            freadCheck(buf, sizeof(uint16_t), n, fp);
            for (size_t j = 0; j < n; j++) {
                uint32_t bits = (uint32_t)buf[j] << 16;
                memcpy(&model->params_memory[i + j], &bits, sizeof(float));
            }
        }
        free(buf);
    }
    fcloseCheck(fp);
}

// writes the model file atomically (fp32, version 3: llm.c reads it as is)
static void gpt2_save(const GPT2 *model, const char *path) {
    int header[HEADER_INTS] = {0};
    header[0] = MODEL_MAGIC;
    header[1] = MODEL_VERSION_FP32;
    config_to_header(header, &model->config);
    AtomicFile out = atomic_open(path);  // PATH.tmp.PID, fsync, rename: never half a file
    atomic_write(&out, header, sizeof(int), HEADER_INTS);
    atomic_write(&out, model->params_memory, sizeof(float), model->num_parameters);
    atomic_commit(&out);
}

// the model's shape for -e: read from a model file's header, or a preset
// with vocabulary size V
static void model_config_for(GPT2Config *cfg, const char *model, int V) {
    if (config_from_preset(cfg, model, V)) { return; }
    if (file_size(model) < 0) {
        die("-e '%s' is neither a model file nor a preset (d6, d12, d24, d36, d48)", model);
    }
    read_model_header(cfg, model);
}

// ----------------------------------------------------------------------------
// data loader: token shards (llm.c's format) matched by a glob pattern, read
// one batch of B*T+1 tokens at a time (inputs are the first B*T, targets the
// same shifted by one). Sequential by default; with shuffling, the order of the
// shards and of the batches inside each shard is a permutation drawn from the
// seed and the epoch, so a position (epoch, shard, batch) is all a checkpoint
// needs to restore.

typedef struct {
    uint64_t epoch;      // full passes over the data so far
    uint64_t shard_pos;  // index into this epoch's shard order
    uint64_t batch_pos;  // index into this shard's batch order: the next batch
} LoaderPosition;

typedef struct {
    int B, T;
    int vocab_size;             // token ids must be below this
    int shuffle;
    uint64_t seed;
    size_t num_shards;
    char **paths;               // (num_shards)
    size_t *shard_batches;      // (num_shards) whole batches in each shard
    size_t total_batches;
    size_t *shard_order;        // (num_shards) this epoch's order of the shards
    size_t *batch_order;        // (max batches in a shard) order of the current shard's batches
    LoaderPosition pos;
    FILE *fp;                   // the current shard
    size_t fp_shard;            // which shard fp has open
    uint16_t *buffer;           // (B*T+1)
    int *inputs;                // (B, T)
    int *targets;               // (B, T)
} DataLoader;

static void permutation(size_t *order, size_t n, int shuffle, uint64_t seed) {
    for (size_t i = 0; i < n; i++) { order[i] = i; }
    if (!shuffle) { return; }
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = n; i > 1; i--) {  // Fisher-Yates
        size_t j = rng_below(&rng, i);
        size_t tmp = order[i - 1];
        order[i - 1] = order[j];
        order[j] = tmp;
    }
}

// puts the loader at a position: the shard order of its epoch, the batch
// order of its shard, and that shard's file open
static void loader_seek(DataLoader *dl, LoaderPosition pos) {
    if (pos.shard_pos >= dl->num_shards) {
        die("data loader position: shard %llu of %zu does not exist (was the checkpoint made "
            "with other data?)", (unsigned long long)pos.shard_pos, dl->num_shards);
    }
    uint64_t epoch_seed = dl->seed * 0x100000001B3ULL + pos.epoch;
    permutation(dl->shard_order, dl->num_shards, dl->shuffle, epoch_seed);
    size_t shard = dl->shard_order[pos.shard_pos];
    if (pos.batch_pos > dl->shard_batches[shard]) {
        die("data loader position: batch %llu is past the end of shard '%s'",
            (unsigned long long)pos.batch_pos, dl->paths[shard]);
    }
    permutation(dl->batch_order, dl->shard_batches[shard], dl->shuffle, epoch_seed * 31 + shard + 1);
    if (dl->fp == NULL || dl->fp_shard != shard) {
        if (dl->fp != NULL) { fcloseCheck(dl->fp); }
        dl->fp = fopenCheck(dl->paths[shard], "rb");
        dl->fp_shard = shard;
    }
    dl->pos = pos;
}

// opens every shard matching pattern, checks each one's header and size, and
// that each holds at least one batch
static void loader_init(DataLoader *dl, const char *pattern, int B, int T, int vocab_size,
                        int shuffle, uint64_t seed) {
    memset(dl, 0, sizeof(*dl));
    dl->B = B;
    dl->T = T;
    dl->vocab_size = vocab_size;
    dl->shuffle = shuffle;
    dl->seed = seed;
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        die("no token shards match '%s' (run `make data`, or give -i / -j)", pattern);
    }
    dl->num_shards = g.gl_pathc;
    dl->paths = (char **)mallocCheck(dl->num_shards * sizeof(char *));
    dl->shard_batches = (size_t *)mallocCheck(dl->num_shards * sizeof(size_t));
    size_t batch_tokens = (size_t)B * T, max_batches = 0;
    for (size_t i = 0; i < dl->num_shards; i++) {
        const char *path = g.gl_pathv[i];
        dl->paths[i] = strdup(path);
        if (dl->paths[i] == NULL) { die("out of memory"); }
        int header[HEADER_INTS];
        read_header(header, path, TOKENS_MAGIC, "token shard");
        if (header[1] != TOKENS_VERSION) {
            die("token shard '%s' has version %d, expected %d", path, header[1], TOKENS_VERSION);
        }
        if (header[2] < 0) { die("token shard '%s' has a negative token count", path); }
        size_t ntok = (size_t)header[2];
        int64_t want = (int64_t)(HEADER_INTS * sizeof(int) + ntok * sizeof(uint16_t));
        if (file_size(path) != want) {
            die("token shard '%s' is %lld bytes but its header says %zu tokens (%lld bytes): "
                "truncated or corrupt", path, (long long)file_size(path), ntok, (long long)want);
        }
        if (ntok < batch_tokens + 1) {
            die("token shard '%s' has %zu tokens, fewer than one batch needs (B*T+1 = %zu); "
                "use a smaller -b or -t", path, ntok, batch_tokens + 1);
        }
        dl->shard_batches[i] = (ntok - 1) / batch_tokens;
        dl->total_batches += dl->shard_batches[i];
        if (dl->shard_batches[i] > max_batches) { max_batches = dl->shard_batches[i]; }
    }
    globfree(&g);
    dl->shard_order = (size_t *)mallocCheck(dl->num_shards * sizeof(size_t));
    dl->batch_order = (size_t *)mallocCheck(max_batches * sizeof(size_t));
    dl->buffer = (uint16_t *)mallocCheck((batch_tokens + 1) * sizeof(uint16_t));
    dl->inputs = (int *)mallocCheck(batch_tokens * sizeof(int));
    dl->targets = (int *)mallocCheck(batch_tokens * sizeof(int));
    LoaderPosition start = {0, 0, 0};
    loader_seek(dl, start);
}

static void loader_reset(DataLoader *dl) {
    LoaderPosition start = {0, 0, 0};
    loader_seek(dl, start);
}

// reads the next batch into dl->inputs and dl->targets, moving on to the
// next shard, and the next epoch, at the ends
static void loader_next(DataLoader *dl) {
    LoaderPosition pos = dl->pos;
    if (pos.batch_pos >= dl->shard_batches[dl->shard_order[pos.shard_pos]]) {
        pos.batch_pos = 0;
        pos.shard_pos++;
        if (pos.shard_pos == dl->num_shards) {
            pos.shard_pos = 0;
            pos.epoch++;
        }
        loader_seek(dl, pos);
    }
    size_t shard = dl->shard_order[dl->pos.shard_pos];
    size_t batch = dl->batch_order[dl->pos.batch_pos];
    size_t n = (size_t)dl->B * dl->T;
    fseekCheck(dl->fp, (int64_t)(HEADER_INTS * sizeof(int) + batch * n * sizeof(uint16_t)), SEEK_SET);
    freadCheck(dl->buffer, sizeof(uint16_t), n + 1, dl->fp);
    for (size_t i = 0; i <= n; i++) {
        if (dl->buffer[i] >= dl->vocab_size) {
            die("token shard '%s': token id %d at position %zu is outside the model's "
                "vocabulary [0, %d): the data was made with another tokenizer?", dl->paths[shard],
                dl->buffer[i], batch * n + i, dl->vocab_size);
        }
    }
    for (size_t i = 0; i < n; i++) {
        dl->inputs[i] = dl->buffer[i];
        dl->targets[i] = dl->buffer[i + 1];
    }
    dl->pos.batch_pos++;
}

static void loader_free(DataLoader *dl) {
    if (dl->fp != NULL) { fcloseCheck(dl->fp); }
    for (size_t i = 0; i < dl->num_shards; i++) { free(dl->paths[i]); }
    free(dl->paths);
    free(dl->shard_batches);
    free(dl->shard_order);
    free(dl->batch_order);
    free(dl->buffer);
    free(dl->inputs);
    free(dl->targets);
    memset(dl, 0, sizeof(*dl));
}

// ----------------------------------------------------------------------------
// training-state files and checkpoints: a checkpoint is model_STEP.bin (the
// parameters, a model file) beside state_STEP.bin (the rest a resumed run
// needs: the header with the run's B, T, step and shuffle; the RNG state,
// the loader position, the parameter count and the seed; then the AdamW
// moments m and v, num_parameters floats each)

typedef struct {
    int B, T, shuffle, seed;  // the run's flags, which a resume must repeat
    int step;                 // optimizer steps done
    uint64_t rng_state;       // the sampler's RNG
    LoaderPosition pos;       // the next train batch
} TrainState;

// the path DIR/NAME, NAME = fmt with the step (e.g. "model_%08d.bin")
static void path_join(char *out, const char *dir, const char *fmt, int step) {
    char name[256];
    snprintf(name, sizeof(name), fmt, step);
    int n = snprintf(out, PATH_MAX_LEN, "%s/%s", dir, name);
    if (n < 0 || n >= PATH_MAX_LEN) { die("path too long: %s/%s", dir, name); }
}

// writes a state file atomically; m_full and v_full are the whole AdamW
// moments (num_parameters each)
static void state_save(const char *path, const GPT2 *m, const TrainState *s, const float *m_full,
                       const float *v_full) {
    int header[HEADER_INTS] = {0};
    header[0] = STATE_MAGIC;
    header[1] = STATE_VERSION;
    config_to_header(header, &m->config);
    header[8] = s->B;
    header[9] = s->T;
    header[10] = s->step;
    header[11] = s->shuffle;
    uint64_t words[6] = {s->rng_state, s->pos.epoch, s->pos.shard_pos, s->pos.batch_pos,
                         (uint64_t)m->num_parameters, (uint64_t)s->seed};
    AtomicFile out = atomic_open(path);
    atomic_write(&out, header, sizeof(int), HEADER_INTS);
    atomic_write(&out, words, sizeof(uint64_t), 6);
    atomic_write(&out, m_full, sizeof(float), m->num_parameters);
    atomic_write(&out, v_full, sizeof(float), m->num_parameters);
    atomic_commit(&out);
}

// reads a state file for model m: checks it against m's shape and s's B, T,
// shuffle and seed, reads m's shard [opt_start, opt_end) of the moments, and
// fills s's step, RNG state and loader position
static void state_load(const char *path, GPT2 *m, TrainState *s) {
    int header[HEADER_INTS], expect[HEADER_INTS] = {0};
    read_header(header, path, STATE_MAGIC, "training state file");
    if (header[1] != STATE_VERSION) {
        die("state file '%s' has version %d, expected %d", path, header[1], STATE_VERSION);
    }
    config_to_header(expect, &m->config);
    if (memcmp(header + 2, expect + 2, 6 * sizeof(int)) != 0) {
        die("state file '%s' belongs to another model shape than its model file", path);
    }
    if (header[8] != s->B || header[9] != s->T || header[11] != s->shuffle) {
        die("state file '%s' was written with -b %d -t %d --shuffle %d; resume with the same "
            "(given: -b %d -t %d --shuffle %d)", path, header[8], header[9], header[11],
            s->B, s->T, s->shuffle);
    }
    size_t n = m->num_parameters;
    int64_t want = (int64_t)(HEADER_INTS * sizeof(int) + 6 * sizeof(uint64_t) +
                             2 * n * sizeof(float));
    if (file_size(path) != want) { die("state file '%s' is truncated or corrupt", path); }
    uint64_t words[6];
    FILE *fp = fopenCheck(path, "rb");
    fseekCheck(fp, HEADER_INTS * sizeof(int), SEEK_SET);
    freadCheck(words, sizeof(uint64_t), 6, fp);
    if (words[4] != n) { die("state file '%s': parameter count differs", path); }
    if (words[5] != (uint64_t)s->seed && s->shuffle) {
        die("state file '%s' was written with --seed %llu; shuffled data needs the same seed",
            path, (unsigned long long)words[5]);
    }
    size_t lo = m->opt_start, count = m->opt_end - m->opt_start;
    int64_t data = (int64_t)(HEADER_INTS * sizeof(int) + 6 * sizeof(uint64_t));
    fseekCheck(fp, data + (int64_t)(lo * sizeof(float)), SEEK_SET);
    freadCheck(m->m_memory, sizeof(float), count, fp);
    fseekCheck(fp, data + (int64_t)((n + lo) * sizeof(float)), SEEK_SET);
    freadCheck(m->v_memory, sizeof(float), count, fp);
    fcloseCheck(fp);
    s->step = header[10];
    s->rng_state = words[0];
    LoaderPosition pos = {words[1], words[2], words[3]};
    s->pos = pos;
}

// ----------------------------------------------------------------------------
// LoRA checkpoints: lora_STEP.bin alone (the base model is the -e file, never
// rewritten): the header (as a state file's, plus [12]=R [13]=targets
// [14]=train_norms [15]=alpha, a float stored bit for bit); the RNG state,
// the loader position, the trainable count, the seed and a hash of the base
// parameters (7 uint64); then the trainable set's values, m and v,
// num_trainable floats each, in the trainable table's order.

// FNV-1a over the base parameters' bytes: a resume with another -e is refused
static uint64_t params_hash(const GPT2 *m) {
    const unsigned char *p = (const unsigned char *)m->params_memory;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < m->num_parameters * sizeof(float); i++) { h = (h ^ p[i]) * 0x100000001b3ULL; }
    return h;
}

static void lora_save(const char *path, GPT2 *m, const TrainState *s, uint64_t base_hash) {
    const LoraState *ls = &m->lora;
    int header[HEADER_INTS] = {0};
    header[0] = LORA_MAGIC;
    header[1] = LORA_VERSION;
    config_to_header(header, &m->config);
    header[8] = s->B;
    header[9] = s->T;
    header[10] = s->step;
    header[11] = s->shuffle;
    header[12] = ls->config.rank;
    header[13] = (int)ls->config.targets;
    header[14] = ls->config.train_norms;
    memcpy(&header[15], &ls->config.alpha, sizeof(float));
    uint64_t words[7] = {s->rng_state, s->pos.epoch, s->pos.shard_pos, s->pos.batch_pos,
                         (uint64_t)ls->num_trainable, (uint64_t)s->seed, base_hash};
    AtomicFile out = atomic_open(path);
    atomic_write(&out, header, sizeof(int), HEADER_INTS);
    atomic_write(&out, words, sizeof(uint64_t), 7);
    for (int k = 0; k < ls->num_specs; k++) {
        atomic_write(&out, lora_values(m, k), sizeof(float), spec_numel(&ls->specs[k]));
    }
    atomic_write(&out, ls->m_memory, sizeof(float), ls->num_trainable);
    atomic_write(&out, ls->v_memory, sizeof(float), ls->num_trainable);
    atomic_commit(&out);
}

// reads a LoRA checkpoint into m (lora_init done with the run's flags):
// checks it against m's shape, LoRA flags and base parameters and s's B, T,
// shuffle and seed; fills the trainable set, m, v and s's step, RNG state
// and loader position
static void lora_load(const char *path, GPT2 *m, TrainState *s, uint64_t base_hash) {
    LoraState *ls = &m->lora;
    int header[HEADER_INTS], expect[HEADER_INTS] = {0};
    read_header(header, path, LORA_MAGIC, "LoRA checkpoint");
    if (header[1] != LORA_VERSION) {
        die("LoRA checkpoint '%s' has version %d, expected %d", path, header[1], LORA_VERSION);
    }
    config_to_header(expect, &m->config);
    if (memcmp(header + 2, expect + 2, 6 * sizeof(int)) != 0) {
        die("LoRA checkpoint '%s' belongs to another model shape than -e", path);
    }
    float alpha;
    memcpy(&alpha, &header[15], sizeof(float));
    if (header[12] != ls->config.rank || header[13] != (int)ls->config.targets ||
        header[14] != ls->config.train_norms || alpha != ls->config.alpha) {
        char targets[64] = "";
        for (int t = 0; t < LORA_NUM_TARGETS; t++) {
            if (!((unsigned)header[13] & (1u << t))) { continue; }
            if (targets[0] != '\0') { strcat(targets, ","); }
            strcat(targets, lora_target_names[t]);
        }
        die("LoRA checkpoint '%s' was trained with --lora %d --lora-alpha %g --lora-targets %s "
            "--lora-train-norms %d; resume with the same", path, header[12], alpha,
            targets[0] != '\0' ? targets : "(none)", header[14]);
    }
    if (header[8] != s->B || header[9] != s->T || header[11] != s->shuffle) {
        die("LoRA checkpoint '%s' was written with -b %d -t %d --shuffle %d; resume with the same "
            "(given: -b %d -t %d --shuffle %d)", path, header[8], header[9], header[11],
            s->B, s->T, s->shuffle);
    }
    size_t n = ls->num_trainable;
    int64_t want = (int64_t)(HEADER_INTS * sizeof(int) + 7 * sizeof(uint64_t) + 3 * n * sizeof(float));
    if (file_size(path) != want) { die("LoRA checkpoint '%s' is truncated or corrupt", path); }
    uint64_t words[7];
    FILE *fp = fopenCheck(path, "rb");
    fseekCheck(fp, HEADER_INTS * sizeof(int), SEEK_SET);
    freadCheck(words, sizeof(uint64_t), 7, fp);
    if (words[4] != n) { die("LoRA checkpoint '%s': trainable count differs", path); }
    if (words[5] != (uint64_t)s->seed && s->shuffle) {
        die("LoRA checkpoint '%s' was written with --seed %llu; shuffled data needs the same seed",
            path, (unsigned long long)words[5]);
    }
    if (words[6] != base_hash) {
        die("LoRA checkpoint '%s' was trained on another base model than -e (its parameters "
            "differ): resume with the same -e", path);
    }
    for (int k = 0; k < ls->num_specs; k++) {
        freadCheck(lora_values(m, k), sizeof(float), spec_numel(&ls->specs[k]), fp);
    }
    freadCheck(ls->m_memory, sizeof(float), n, fp);
    freadCheck(ls->v_memory, sizeof(float), n, fp);
    fcloseCheck(fp);
    s->step = header[10];
    s->rng_state = words[0];
    LoaderPosition pos = {words[1], words[2], words[3]};
    s->pos = pos;
}

// removes the temporary files that killed runs left in dir
// (model_*.bin.tmp.PID and state_*.bin.tmp.PID of a PID no longer running):
// they are never read, only taking space
static void remove_stale_temporaries(const char *dir) {
    char pattern[PATH_MAX_LEN];
    int n = snprintf(pattern, sizeof(pattern), "%s/*_*.bin.tmp.*", dir);
    if (n < 0 || n >= PATH_MAX_LEN) { die("path too long: %s", dir); }
    glob_t g;
    if (glob(pattern, 0, NULL, &g) != 0) { return; }
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *pid_text = strrchr(g.gl_pathv[i], '.') + 1;
        char *end = NULL;
        long pid = strtol(pid_text, &end, 10);
        if (end == pid_text || *end != '\0' || pid <= 0) { continue; }
        if (kill((pid_t)pid, 0) != 0 && errno == ESRCH) { unlink(g.gl_pathv[i]); }
    }
    globfree(&g);
}

// the step of the newest KIND_*.bin in dir (kind "state": a checkpoint;
// "lora": a LoRA checkpoint), or -1 when there is none
static int latest_checkpoint_of(const char *dir, const char *kind) {
    char pattern[PATH_MAX_LEN], scan[64];
    int n = snprintf(pattern, sizeof(pattern), "%s/%s_*.bin", dir, kind);
    snprintf(scan, sizeof(scan), "%s_%%d.bin", kind);
    if (n < 0 || n >= PATH_MAX_LEN) { die("path too long: %s", dir); }
    glob_t g;
    int best = -1;
    if (glob(pattern, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) {
            const char *base = strrchr(g.gl_pathv[i], '/');
            int step = 0;
            if (sscanf(base != NULL ? base + 1 : g.gl_pathv[i], scan, &step) == 1 &&
                step > best) {
                best = step;
            }
        }
        globfree(&g);
    }
    return best;
}

static int latest_checkpoint(const char *dir) {
    return latest_checkpoint_of(dir, "state");
}
