// Fuzzes import_hf.c: the safetensors header (length, JSON, dtypes, shapes,
// offsets, layout) and the whole import behind it. Input: one byte giving
// --heads (0 = GPT-2's table, else 1..8), then the safetensors file; the
// model file is written to a scratch path.
#include "fuzz.h"
#define main import_hf_main  // import_hf.c's main is not used
#include "../../import_hf.c"
#undef main

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    if (freopen("/dev/null", "w", stdout) == NULL) { abort(); }  // import_hf prints a line
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) { return 0; }
    const char *in = fuzz_write("model.safetensors", data + 1, size - 1);
    const char *out = fuzz_path("model.bin");
    if (setjmp(die_jump) == 0) {
        import_hf(in, out, data[0] % 9);
    } else {
        FUZZ_DIED();
    }
    fuzz_end();
    return 0;
}
