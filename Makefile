# Makefile for the GPT-2 trainer in C.
#   make            build ./train and ./tokenizer (OpenMP when the compiler has it)
#   make test       run every offline test (no GPU, no Python, no network)
#   make bench      ./train against PyTorch on this CPU, side by side
# Overridable: CC, OPT (optimisation flags), NO_OMP=1 (build without OpenMP).

CC ?= gcc
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
  OMP_FLAGS := $(shell printf '\#include <omp.h>\nint main(void){return omp_get_max_threads() < 1;}\n' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo -fopenmp)
endif
ifeq ($(OMP_FLAGS),)
  $(info OpenMP: not found, building single-threaded)
else
  $(info OpenMP: $(OMP_FLAGS))
endif

CFLAGS = $(CFLAGS_BASE) $(OPT) $(MARCH) $(OMP_FLAGS)
# The sanitizer build of the tests: address + undefined behaviour, no recovery.
SAN_FLAGS = $(CFLAGS_BASE) -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all $(OMP_FLAGS)

.PHONY: all test test-train test-tokenizer bench clean

all: train tokenizer

train: train.c
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

# ---- tokenizer ---------------------------------------------------------------
tokenizer: tokenizer.c
	$(CC) $(CFLAGS) $< -o $@ $(LDLIBS)

test-tokenizer: tokenizer
	@echo "tokenizer tests: not yet written"

# ---- train tests ---------------------------------------------------------------
test-train: train
	@echo "train tests: not yet written"

test: test-train test-tokenizer

clean:
	rm -f train tokenizer test/test_train test/test_train_asan
