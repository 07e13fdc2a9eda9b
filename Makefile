# Makefile for the GPT-2 trainer in C.
#   make            build ./train and ./tokenizer (OpenMP when the compiler has it)
#   make test       run every offline test (no GPU, no Python, no network)
#   make bench      ./train against PyTorch on this CPU, side by side
# Overridable: CC, OPT (optimisation flags), NO_OMP=1 (build without OpenMP).

ifeq ($(origin CC),default)
  CC = gcc
endif
OPT ?= -O3
WARN = -Wall -Wextra
CFLAGS_BASE = -std=c11 $(WARN) -D_GNU_SOURCE
LDLIBS = -lm

# -march=native when the compiler takes it (not every compiler or target does).
MARCH := $(shell echo 'int main(void){return 0;}' | $(CC) -march=native -x c - -o /dev/null 2>/dev/null && echo -march=native)

# OpenMP: probe by compiling and linking a tiny program that calls the runtime.
ifeq ($(NO_OMP),1)
  OMP_FLAGS :=
else
  OMP_FLAGS := $(shell printf '\043include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
endif
ifeq ($(OMP_FLAGS),)
  # single-threaded: keep the `omp simd` vectorisation hints when the compiler
  # has them, and let it skip the other pragmas quietly
  OMP_FLAGS := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp-simd -x c - -o /dev/null 2>/dev/null && echo -fopenmp-simd) -Wno-unknown-pragmas
  $(info OpenMP: not found, building single-threaded ($(OMP_FLAGS)))
else
  $(info OpenMP: $(OMP_FLAGS))
endif

# -ffp-contract=fast: fuse a*b+c into one FMA instruction (ISO C mode turns
# that off by default); twice the matmul speed, and each FMA rounds once
# instead of twice. The PyTorch parity tests pass at the same tolerances.
CFLAGS = $(CFLAGS_BASE) $(OPT) $(MARCH) -ffp-contract=fast $(OMP_FLAGS)
# The sanitizer build of the tests: address + undefined behaviour, no recovery.
SAN_FLAGS = $(CFLAGS_BASE) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all $(OMP_FLAGS)

.PHONY: all test test-train test-tokenizer test-import test-mutations run bench clean

all: train tokenizer

# train.c includes tokenizer.c (the encoder for --prompt, the checked helpers)
TRAIN_SRC = train.c tokenizer.c tokenizer_unicode.h

train: $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

# ---- tokenizer ---------------------------------------------------------------
# tokenizer: encode/decode/shard/train/import (tokenizer_unicode.h is generated
# by dev/tiktoken/gen_unicode.js and committed).
# test-tokenizer: test/test_tokenizer.sh with the optimised build, a sanitizer
# build (address + undefined) and a sanitizer build whose BPE takes the heap
# path for every piece; offline, uses ../shared/data when present.
# bench-tokenizer: encode MB/s of ./tokenizer and of tiktoken (npm, in node),
# side by side, one thread each (needs: cd dev/tiktoken && npm install).
# data: GPT-2's vocabulary and tinyshakespeare as GPT-2 token shards (data/prepare.sh).
.PHONY: bench-tokenizer data
TOKENIZER_SRC = tokenizer.c tokenizer_unicode.h
TOKENIZER_TEST_BINS = tmp/tokenizer_asan tmp/tokenizer_asan_heap tmp/tokenizer_testgen tmp/tokenizer_train_check

tokenizer: $(TOKENIZER_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

tmp/tokenizer_asan: $(TOKENIZER_SRC)
	@mkdir -p tmp
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)

tmp/tokenizer_asan_heap: $(TOKENIZER_SRC)
	@mkdir -p tmp
	$(CC) $(SAN_FLAGS) -DBPE_SMALL_MAX=1 $< -o $@ $(LDLIBS)

tmp/tokenizer_testgen: test/tokenizer_testgen.c
	@mkdir -p tmp
	$(CC) $(CFLAGS_BASE) -O2 $< -o $@

tmp/tokenizer_train_check: test/tokenizer_train_check.c $(TOKENIZER_SRC)
	@mkdir -p tmp
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

test-tokenizer: tokenizer $(TOKENIZER_TEST_BINS)
	bash test/test_tokenizer.sh ./tokenizer $(TOKENIZER_TEST_BINS)

bench-tokenizer: tokenizer
	bash dev/tiktoken/bench.sh

data: tokenizer
	bash data/prepare.sh

# ---- train tests ---------------------------------------------------------------
# test_train: PyTorch parity, finite differences, overfit, resume, files, bill.
# test_cli.sh: ./train as a program (bad input, dry run, checkpoints, resume).
# Both run twice: optimised, and built with address + undefined sanitizers.
# The CLI's error paths exit() on purpose without freeing, so leak checks are
# off there (they stay on for test_train).
FIXTURE = test/fixtures/gpt2_tiny.bin

test/test_train: test/test_train.c $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

test/test_train_asan: test/test_train.c $(TRAIN_SRC)
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)

test/train_asan: $(TRAIN_SRC)
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)

dev/cpu/matmul: dev/cpu/matmul.c $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

test-train: test/test_train test/test_train_asan train test/train_asan dev/cpu/matmul
	./test/test_train $(FIXTURE)
	./test/test_train_asan $(FIXTURE)
	./dev/cpu/matmul 100 50 70 1    # the kernel against its plain loops: partial tiles,
	./dev/cpu/matmul 130 300 1100 1 # several k blocks and column groups
	bash test/test_cli.sh ./train
	ASAN_OPTIONS=detect_leaks=0 bash test/test_cli.sh ./test/train_asan

# ---- import of Hugging Face GPT-2 weights ----------------------------------------
# import_hf: model.safetensors (gpt2 .. gpt2-xl; F32/F16/BF16) -> model file.
# test-import: the imported fixtures' logits against PyTorch's (fixtures from
# dev/reference.py --hf), then bad input through a sanitizer build.
import_hf: import_hf.c $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

test/test_import_hf: test/test_import_hf.c $(TRAIN_SRC)
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

tmp/import_hf_asan: import_hf.c $(TRAIN_SRC)
	@mkdir -p tmp
	$(CC) $(SAN_FLAGS) $< -o $@ $(LDLIBS)

test-import: import_hf test/test_import_hf tmp/import_hf_asan
	bash test/test_import_hf.sh ./import_hf ./test/test_import_hf tmp/import_hf_asan

# mutation check: breaks each backward (and AdamW) in a copy of train.c and
# shows that test_train then fails; slow, so not part of `make test`
test-mutations:
	bash dev/mutation_check.sh

test: test-train test-tokenizer test-import

# ---- the quick start and the benchmark -------------------------------------------
# run: data, then a small GPT-2 (d6 shape, GPT-2 vocabulary) trained for a few
# minutes on the CPU, with val loss and a sample; model and state in out/run
RUN_STEPS ?= 150
run: train data
	./train -e d6 -b 4 -t 64 -x $(RUN_STEPS) -l 1e-3 -u 10 -q 0.1 -v 50 -m 10 -g 128 -o out/run

# bench: ./train against PyTorch (Debian's python3-torch) on this CPU, same
# shapes, same threads, side by side (dev/bench_cpu.sh)
bench: train
	bash dev/bench_cpu.sh

clean:
	rm -f train tokenizer test/test_train test/test_train_asan test/train_asan dev/cpu/matmul
	rm -f import_hf test/test_import_hf
	rm -rf tmp
