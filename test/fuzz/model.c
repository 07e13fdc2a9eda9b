// Fuzzes the model-file loader (train_files.h: read_model_header, gpt2_load):
// the input is a model file, fp32 (version 3) or bf16 (version 5).
#include "fuzz.h"
#define TRAIN_NO_MAIN
#include "../../train.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("model.bin", data, size);
    GPT2 model;
    if (setjmp(die_jump) == 0) {
        gpt2_load(&model, path);
        gpt2_free(&model);
    } else {
        FUZZ_DIED();
    }
    fuzz_end();
    return 0;
}
