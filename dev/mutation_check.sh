#!/usr/bin/env bash
# Shows that test/test_train can fail: breaks one backward (or the optimizer)
# at a time in a copy of train.c, rebuilds the test against the copy and
# expects it to FAIL. A mutation the tests do not catch is reported as
# SURVIVED and the script exits non-zero.
#   bash dev/mutation_check.sh        (make test-mutations)
set -u
cd "$(dirname "$0")/.."
TMP=$(mktemp -d /tmp/mutation.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$TMP/test"
cp test/test_train.c "$TMP/test/"
FIXTURE=$PWD/test/fixtures/gpt2_tiny.bin
CC=${CC:-gcc}
survived=0; total=0

# mutate NAME 'exact line fragment' 'replacement'
mutate() {
    local name=$1 from=$2 to=$3
    total=$((total + 1))
    python3 - "$from" "$to" > "$TMP/train.c" <<'EOF' || { echo "BROKEN $name: fragment not found"; survived=$((survived + 1)); return; }
import sys
src = open("train.c").read()
frm, to = sys.argv[1], sys.argv[2]
if src.count(frm) != 1:
    sys.exit(1)
sys.stdout.write(src.replace(frm, to))
EOF
    # -I the repository: the mutated train.c includes its companions (util.h, train_*.h)
    if ! $CC -std=c11 -D_GNU_SOURCE -O2 -fopenmp -I "$PWD" "$TMP/test/test_train.c" -o "$TMP/t" -lm 2> "$TMP/cc.err"; then
        echo "BROKEN $name: does not compile"; survived=$((survived + 1)); return
    fi
    if "$TMP/t" "$FIXTURE" > "$TMP/out" 2>&1; then
        echo "SURVIVED $name"; survived=$((survived + 1))
    else
        echo "KILLED   $name: $(grep -c '^FAIL' "$TMP/out") checks fail, e.g. $(grep -m1 '^FAIL' "$TMP/out" | tr -s ' ' | cut -c1-70)"
    fi
}

mutate "encoder_backward drops dwpe" \
    'dwpe_t[c] = (first ? 0.0f : dwpe_t[c]) + dout_bt[c];' ''
mutate "layernorm_backward drops the rstd term" \
    'dx[c] += rstd[i] * (g - g_mean - n * gn_mean);' 'dx[c] += rstd[i] * (g - g_mean);'
mutate "layernorm_backward dweight unnormalised" \
    'dw[j] += (x[j] - mean[i]) * rstd[i] * d[j];' 'dw[j] += (x[j] - mean[i]) * d[j];'
mutate "layernorm_backward dbias off by 0.1%" \
    'db[j] += d[j];' 'db[j] += 1.001f * d[j];'
mutate "matmul_backward dinp misses the last output channel" \
    'matmul_accumulate(dinp, (size_t)C, NULL, dout, (size_t)OC, 1, weight, (size_t)C, 1, (int)N, C, OC);' \
    'matmul_accumulate(dinp, (size_t)C, NULL, dout, (size_t)OC, 1, weight, (size_t)C, 1, (int)N, C, OC - 1);'
mutate "matmul_backward dweight misses the last row" \
    'matmul_product(dweight, (size_t)C, overwrite, NULL, dbias, dout, 1, (size_t)OC, inp, (size_t)C, 1, OC, C, (int)N);' \
    'matmul_product(dweight, (size_t)C, overwrite, NULL, dbias, dout, 1, (size_t)OC, inp, (size_t)C, 1, OC, C, (int)N - 1);'
mutate "matmul kernel: half the columns 0.1% off" \
    'acc[r][1] += ak[r * a_rs] * b1;' 'acc[r][1] += 1.001f * ak[r * a_rs] * b1;'
mutate "matmul_backward dbias off by 0.1%" \
    'row_sums[m] = (overwrite ? 0.0f : row_sums[m]) + sums[m];' 'row_sums[m] = (overwrite ? 0.0f : row_sums[m]) + 1.001f * sums[m];'
mutate "layernorm_backward adds into the stale gradients after zero_grad" \
    'dbias[c0 + j] = (overwrite ? 0.0f : dbias[c0 + j]) + db[j];' 'dbias[c0 + j] += db[j];'
mutate "the first backward leaves wpe's rows past T stale" \
    'zero_floats(g->wpe + (size_t)T * C, (size_t)(cfg->max_seq_len - T) * C);' ''
mutate "attention_backward skips the softmax correction" \
    '{ dr[t2] = ar[t2] * (dr[t2] - dot) * scale; }' '{ dr[t2] = ar[t2] * dr[t2] * scale; }'
mutate "attention_backward forgets the 1/sqrt(hs) scale" \
    '{ dr[t2] = ar[t2] * (dr[t2] - dot) * scale; }' '{ dr[t2] = ar[t2] * (dr[t2] - dot); }'
mutate "attention_backward dv misses each block's last query" \
    $'(size_t)C, 1,\n                                  keys, hs, rows);' \
    $'(size_t)C, 1,\n                                  keys, hs, rows - 1);'
mutate "gelu_backward wrong tanh derivative" \
    'float grad = s + 2.0f * x * s * (1.0f - s) * du;' \
    'float grad = s + 2.0f * x * (1.0f - s) * du;'
mutate "residual_backward second input off by 0.1%" \
    'dinp2[i] += dout[i];' 'dinp2[i] += 1.001f * dout[i];'
mutate "softmax_crossentropy_backward target term off by 0.1%" \
    'dl[targets[i]] -= g;' 'dl[targets[i]] -= 1.001f * g;'
mutate "softmax_crossentropy_forward saves 1/sum off by 0.1% (the backward's probs)" \
    'linv[i] = 1.0f / sum;' 'linv[i] = 1.0f / (1.001f * sum);'
mutate "AdamW without the second bias correction" \
    'float bc2 = (float)(1.0 - pow(args->beta2, args->t));' 'float bc2 = 1.0f;'
mutate "weight decay on every tensor" \
    'return s->rank - s->per_layer >= 2;' 'return 1;'
mutate "clipping ignored" \
    'return clip > 0.0f && norm > clip ? clip / norm : 1.0f;' 'return 1.0f;'
mutate "cosine decay ignored" \
    'return min_lr + coeff * (c->lr - min_lr);' 'return c->lr;'
mutate "warmup ignored" \
    'if (step < c->warmup) { return c->lr * (float)(step + 1) / (float)c->warmup; }' ''
mutate "lora_backward forgets the scale" \
    'dh[i] *= scale;' 'dh[i] *= 1.0f;'
mutate "lora_backward drops dB" \
    'matmul_backward(dh, dlora_b, NULL, dout, h, lora_b, B, T, R, OC, 0);' \
    'matmul_backward(dh, NULL, NULL, dout, h, lora_b, B, T, R, OC, 0);'
mutate "LoRA AdamW without the second bias correction" \
    'float bc2 = (float)(1.0 - pow(args->beta2, (double)args->t));' 'float bc2 = 1.0f;'
mutate "lora_merge forgets the scale" \
    'scaled[i] = s->scale * b[i];' 'scaled[i] = b[i];'

echo "$([ $survived = 0 ] && echo PASS || echo FAIL): $((total - survived)) of $total mutations caught"
[ $survived = 0 ]
