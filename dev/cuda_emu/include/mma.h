// dev/cuda_emu: nvcuda::wmma is emulated in emu.h
#include "cuda_runtime.h"
