// Fuzzes the training-state loader (train_files.h: state_load): the input is
// a state file, read for a fixed tiny model (maxT 8, V 16, L 1, NH 2, C 8,
// Vp 32) resumed with -b 2 -t 4 --seed 1337; the first byte picks --shuffle
// and whether the AdamW moments are sharded (ZeRO-1: a middle slice only).
#include "fuzz.h"
#define TRAIN_NO_MAIN
#include "../../train.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) { return 0; }
    const char *path = fuzz_write("state.bin", data + 1, size - 1);
    GPT2Config cfg = {.max_seq_len = 8, .vocab_size = 16, .padded_vocab_size = 32,
                      .num_layers = 1, .num_heads = 2, .channels = 8};
    GPT2 model;
    TrainState s = {.B = 2, .T = 4, .shuffle = data[0] & 1, .seed = 1337};
    if (setjmp(die_jump) == 0) {
        gpt2_init(&model, &cfg);
        if (data[0] & 2) { gpt2_shard_optimizer(&model, 10, model.num_parameters - 10); }
        state_load(path, &model, &s);
        gpt2_free(&model);
    } else {
        FUZZ_DIED();
    }
    fuzz_end();
    return 0;
}
