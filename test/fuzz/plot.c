// Fuzzes dev/plot_loss.c: the input is a ./train log (main.log); the whole
// program runs on it (parse, de-duplicate, axes, SVG to a scratch file).
#include "fuzz.h"
#define main plot_loss_main  // called below with argv {plot_loss, LOG, SVG}
#include "../../dev/plot_loss.c"
#undef main

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc; (void)argv;
    if (freopen("/dev/null", "w", stdout) == NULL) { abort(); }  // plot_loss prints a line
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *log = fuzz_write("main.log", data, size);
    char *argv[] = {(char *)"plot_loss", (char *)log, (char *)fuzz_path("loss.svg"), NULL};
    if (setjmp(die_jump) == 0) {
        plot_loss_main(3, argv);
    } else {
        FUZZ_DIED();
    }
    fuzz_end();
    return 0;
}
