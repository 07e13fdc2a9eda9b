// Fuzzes the token-shard loader (train_files.h: loader_init, loader_seek,
// loader_next). Input: 8 bytes of settings, then the shard file:
//   [0] B-1 (1..4)  [1] T-1 (1..8)  [2..3] vocab size (little-endian, 1..65536)
//   [4] shuffle (bit 0)  [5] batches to read  [6] a position's shard, [7] its
//   batch: where a resumed run would seek (both usually out of range).
#include "fuzz.h"
#define TRAIN_NO_MAIN
#include "../../train.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 8) { return 0; }
    int B = 1 + data[0] % 4, T = 1 + data[1] % 8, V = 1 + (data[2] | data[3] << 8);
    const char *path = fuzz_write("shard_000.bin", data + 8, size - 8);
    DataLoader dl;
    if (setjmp(die_jump) == 0) {
        loader_init(&dl, path, B, T, V, data[4] & 1, 1337);
        for (int i = 0; i < data[5] % 16; i++) { loader_next(&dl); }
        LoaderPosition pos = {1, data[6] % 3, data[7]};
        loader_seek(&dl, pos);
        loader_next(&dl);
        loader_free(&dl);
    } else {
        FUZZ_DIED();
    }
    fuzz_end();
    return 0;
}
