/*
test_import_hf.c: the logits of a model file that ./import_hf wrote, against
PyTorch's logits for the same weights (dev/reference.py --hf wrote both the
safetensors file and the logits):
    test/test_import_hf MODEL.bin test/fixtures/hf_NAME.logits.bin
Prints `OK|FAIL name maxabs maxrel` and exits non-zero on a mismatch. Run by
test/test_import_hf.sh.
*/
#define TRAIN_NO_MAIN
// only the model half of train.c is used here
#pragma GCC diagnostic ignored "-Wunused-function"
#include "../train.c"

#define HF_LOGITS_MAGIC 20261201
// fp32 against fp32 PyTorch: only the order of float sums differs (as in
// test_train's fixture logits); the absolute part scales with max|logit|
#define TOL_SCALED_ATOL 1e-5
#define TOL_RTOL 1e-5

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s MODEL.bin hf_NAME.logits.bin\n", argv[0]);
        return 2;
    }
    int h[HEADER_INTS];
    read_header(h, argv[2], HF_LOGITS_MAGIC, "logits fixture");
    int B = h[2], T = h[3], V = h[4];
    GPT2 model;
    gpt2_load(&model, argv[1]);
    const GPT2Config *cfg = &model.config;
    if (h[1] != 1 || B < 1 || T < 1 || T > cfg->max_seq_len || V != cfg->vocab_size || h[5] != cfg->num_heads) {
        die("'%s' (B=%d T=%d V=%d NH=%d) does not fit the model '%s' (maxT=%d V=%d NH=%d)", argv[2],
            B, T, V, h[5], argv[1], cfg->max_seq_len, cfg->vocab_size, cfg->num_heads);
    }
    size_t BT = (size_t)B * T, Vp = cfg->padded_vocab_size;
    if (file_size(argv[2]) != (int64_t)(HEADER_INTS * 4 + BT * 4 + BT * V * 4)) {
        die("'%s' has the wrong size", argv[2]);
    }
    int *inputs = (int *)mallocCheck(BT * sizeof(int));
    float *ref = (float *)mallocCheck(BT * V * sizeof(float));
    FILE *fp = fopenCheck(argv[2], "rb");
    fseekCheck(fp, HEADER_INTS * sizeof(int), SEEK_SET);
    freadCheck(inputs, sizeof(int), BT, fp);
    freadCheck(ref, sizeof(float), BT * V, fp);
    fcloseCheck(fp);
    gpt2_alloc_activations(&model, B, T);
    gpt2_forward(&model, inputs, B, T);
    double maxabs = 0.0, maxrel = 0.0, atol = 0.0;
    for (size_t i = 0; i < BT * V; i++) { atol = fmax(atol, TOL_SCALED_ATOL * fabs((double)ref[i])); }
    int ok = 1;
    for (size_t i = 0; i < BT; i++) {
        for (int v = 0; v < V; v++) {
            double r = ref[i * V + v], d = fabs((double)model.acts.logits[i * Vp + v] - r);
            if (!(d <= atol + TOL_RTOL * fabs(r))) { ok = 0; }
            if (d > maxabs) { maxabs = d; }
            if (fabs(r) > atol && d / fabs(r) > maxrel) { maxrel = d / fabs(r); }
        }
    }
    // the padding rows of wte must be zero (an import leaves them so)
    for (size_t i = (size_t)V * cfg->channels; i < Vp * cfg->channels; i++) {
        if (model.params.wte[i] != 0.0f) { ok = 0; }
    }
    printf("%s import L=%d NH=%d C=%d V=%d: logits vs PyTorch maxabs %.3e maxrel %.3e (atol %.1e rtol %.0e)\n",
           ok ? "OK  " : "FAIL", cfg->num_layers, cfg->num_heads, cfg->channels, V, maxabs, maxrel,
           atol, TOL_RTOL);
    free(inputs);
    free(ref);
    gpt2_free(&model);
    return ok ? 0 : 1;
}
