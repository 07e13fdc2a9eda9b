// Fuzzes `./tokenizer import` (tokenizer.c: cmd_import: the encoder.json
// reader and the vocab.bpe check). The input is split at its first NUL byte:
// encoder.json before it, vocab.bpe after (no NUL: an empty vocab.bpe). An
// import that succeeds must write a tokenizer file that loads and can encode.
#include "fuzz.h"
#define TOKENIZER_NO_MAIN
#include "../../tokenizer.c"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    if (freopen("/dev/null", "w", stdout) == NULL) { abort(); }  // cmd_import prints a line
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = (const uint8_t *)memchr(data, 0, size);
    size_t json_n = nul != NULL ? (size_t)(nul - data) : size;
    const char *json = fuzz_write("encoder.json", data, json_n);
    const char *bpe = fuzz_write("vocab.bpe", nul != NULL ? nul + 1 : data + size,
                                 nul != NULL ? size - json_n - 1 : 0);
    const char *out = fuzz_path("imported.bin");
    if (setjmp(die_jump) == 0) {
        cmd_import(json, bpe, out);
        Tokenizer t;  // what import wrote must load, and encode every byte
        tokenizer_load(&t, out);
        tokenizer_build_encoder(&t);
        tokenizer_free(&t);
    } else {
        FUZZ_DIED();
    }
    fuzz_end();
    return 0;
}
