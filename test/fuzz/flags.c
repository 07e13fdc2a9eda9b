// Fuzzes ./train's flag parser (train_flags.h: parse_args): the input is split
// into argv at NUL bytes (argv[0] is "train").
#include "fuzz.h"
#define TRAIN_NO_MAIN
#include "../../train.c"

#define MAX_ARGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = (char *)malloc(size + 1);  // tracked: freed by fuzz_end
    memcpy(text, data, size);
    text[size] = '\0';
    char *argv[MAX_ARGS + 1] = {(char *)"train", text};
    int argc = 2;
    for (size_t i = 0; i < size && argc < MAX_ARGS; i++) {
        if (text[i] == '\0') { argv[argc++] = text + i + 1; }  // each NUL starts an argument
    }
    argv[argc] = NULL;
    RunConfig c;
    if (setjmp(die_jump) == 0) {
        parse_args(&c, argc, argv);
    } else {
        FUZZ_DIED();
    }
    fuzz_end();
    return 0;
}
