// dev/cuda_emu: __nv_bfloat16 is float in the emulation (emu.h)
#include "cuda_runtime.h"
