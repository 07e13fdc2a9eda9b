// Fuzzes the tokenizer-file loader (tokenizer.h: tokenizer_load, then
// tokenizer_build_encoder): the input is a tokenizer file. A file that loads
// must then encode a fixed text and decode it back to the same bytes.
#include "fuzz.h"
#define TOKENIZER_NO_MAIN
#include "../../tokenizer.c"

static const char TEXT[] = "Hello world, it's 2024!\n\xe2\x82\xac \xff\xfe  <|endoftext|>";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("tok.bin", data, size);
    Tokenizer t;
    if (setjmp(die_jump) == 0) {
        tokenizer_load(&t, path);
        tokenizer_build_encoder(&t);
        Encoder e;
        encoder_init(&e, &t);
        IdVec ids = {0};
        encode_ordinary(&e, (const uint8_t *)TEXT, sizeof(TEXT) - 1, &ids);
        size_t pos = 0;
        for (size_t i = 0; i < ids.n; i++) {
            if (ids.ids[i] >= t.vocab_size) { abort(); }
            size_t len = token_len(&t, ids.ids[i]);
            if (pos + len > sizeof(TEXT) - 1 || memcmp(TEXT + pos, token_bytes(&t, ids.ids[i]), len) != 0) {
                abort();  // decode(encode(x)) != x
            }
            pos += len;
        }
        if (pos != sizeof(TEXT) - 1) { abort(); }
        free(ids.ids);
        encoder_free(&e);
        tokenizer_free(&t);
    } else {
        FUZZ_DIED();
    }
    fuzz_end();
    return 0;
}
