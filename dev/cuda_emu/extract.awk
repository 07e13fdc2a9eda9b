# extract.awk: the device code of train.cu for dev/cuda_emu (see emu.h):
# every top-level chunk (a function, struct or declaration, with the comment
# lines before it) from the constants (#define WARP) to the model section,
# except the host launchers (they use <<< >>> or cuBLAS, which g++ cannot
# compile). The kernels' dynamic shared memory becomes the emulator's.
# Braces are counted per character; train.cu has none in strings or comments
# that would unbalance them.
/^#define WARP 32/ { on = 1 }
/^\/\/ the model on the GPU/ { on = 0 }
!on { next }
{
    chunk = chunk $0 "\n"
    n = split($0, ch, "")
    for (i = 1; i <= n; i++) {
        if (ch[i] == "{") depth++
        if (ch[i] == "}") depth--
    }
    # a chunk ends at depth 0 on a line that closes a brace, ends a declaration, or is blank
    if (depth == 0 && ($0 ~ /}[ ;]*$/ || $0 ~ /;[ ]*$/ || $0 ~ /^[ ]*$/)) {
        if (chunk !~ /<<</ && chunk !~ /cublas/ && chunk !~ /(^|\n)static [^(]*_gpu\(/) {
            sub(/extern __shared__ __align__\(128\) unsigned char smem\[\];/, "unsigned char *smem = g_smem;", chunk)
            printf "%s", chunk
        }
        chunk = ""
    }
}
