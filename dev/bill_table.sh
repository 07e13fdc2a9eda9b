#!/usr/bin/env bash
# README's table of what GPT-2 costs: memory and time of pre-training on 10B
# tokens, full and LoRA fine-tuning on 10M tokens, and inference of 1,024
# tokens, for GPT-2 124M, 350M, 774M and 1558M (d12, d24, d36, d48), on this
# CPU, a laptop GPU (RTX 4060 Laptop, 8 GiB) and an H100 (80 GiB). Every
# number comes from ./train --dry-run (the bill, and the GPU times at an
# assumed MFU from the peak table); the CPU's speed is measured once, on d12
# at B=4, T=64 (--measure: a few timed steps), and the CPU times of every
# model are computed from it. Prints a markdown table.
#   bash dev/bill_table.sh [path/to/train]     (about a minute on 2 cores)
# Shapes: training and fine-tuning at B=4, T=1024 (one micro-batch; more
# tokens per step by accumulation cost no memory); inference of one
# sequence of 1,024 tokens with the KV cache.
set -eu
TRAIN=${1:-./train}
[ -x "$TRAIN" ] || { echo "$TRAIN not built (make train)" >&2; exit 1; }
GPUS="RTX 4060 Laptop:8,H100:80"
MFU=${MFU:-0.4}
TMP=$(mktemp -d /tmp/bill_table.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
common=(--vocab 50257 -k "$TMP/none" --dry-run)

# the CPU's speed: d12 at B=4, T=64 (the Speed table's shape), a few timed
# steps and decoded tokens. On a busy machine, CPU_TOK_S and CPU_DEC_TOK_S
# give rates measured earlier at that shape instead (the footnote says so).
"$TRAIN" -e d12 "${common[@]}" -b 4 -t 64 --measure > "$TMP/measure"
line=$(grep 'this CPU: measured training' "$TMP/measure")
cpu_flops=$(echo "$line" | sed -E 's/.*tokens\/s \(([0-9.e+]+) GFLOP\/s\).*/\1/')
cpu_tok=$(echo "$line" | sed -E 's/.*measured training ([0-9.]+) tokens\/s.*/\1/')
cpu_dec=$(echo "$line" | sed -E 's/.*decoding ([0-9.]+) tokens\/s.*/\1/')
source_note="measured by this script"
if [ -n "${CPU_TOK_S:-}" ] && [ -n "${CPU_DEC_TOK_S:-}" ]; then
    cpu_flops=$(awk -v r="$CPU_TOK_S" -v o="$cpu_tok" -v f="$cpu_flops" 'BEGIN { printf "%.3g", f * r / o }')
    cpu_tok=$CPU_TOK_S
    cpu_dec=$CPU_DEC_TOK_S
    source_note="given as CPU_TOK_S and CPU_DEC_TOK_S (measured earlier)"
fi
threads=$(grep -m1 -oE 'this CPU, [0-9]+ threads' "$TMP/measure" | grep -oE '[0-9]+')
mem_gib=$(grep -m1 -oE 'memory [0-9]+ GiB' "$TMP/measure" | grep -oE '[0-9]+')
d12_infer=$(awk -F'|' '/CPU fp32/ { on = 1 } on && $2 ~ /^ weights/ { print $5; exit }' "$TMP/measure")

# cell VALUE_COLUMN_OF_A_ROW: helpers over the dry-run tables
table_cell() {  # table_cell FILE TABLE ROW FIELD: the FIELD-th |-field of ROW in TABLE
    awk -F'|' -v t="$2" -v r="$3" -v f="$4" '$0 ~ t { on = 1 } on && $2 ~ "^ " r " *$" { gsub(/^ +| +$/, "", $f); print $f; exit }' "$1"
}
time_cell() {   # time_cell FILE DEVICE FIELD
    awk -F'|' -v d="$2" -v f="$3" 'index($2, " " d " (") == 1 { gsub(/^ +| +$/, "", $f); print $f; exit }' "$1"
}
to_gib() {      # "1.23 GiB" or "512.00 MiB" -> GiB
    echo "$1" | awk '{ print ($2 == "GiB") ? $1 : $1 / 1024 }'
}
duration() {    # seconds -> "42 s", "3.5 min", "7.1 h", "12 d", "3.4 y", as train_bill.h prints
    awk -v s="$1" 'BEGIN { if (s < 120) printf "%.3g s", s; else if (s < 7200) printf "%.3g min", s / 60;
        else if (s < 3 * 86400) printf "%.3g h", s / 3600; else if (s < 2 * 365.25 * 86400) printf "%.3g d", s / 86400;
        else printf "%.3g y", s / (365.25 * 86400) }'
}
mem() { awk -v g="$(to_gib "$1")" 'BEGIN { printf "%.1f GiB", g }'; }

echo "| model | device | pre-training, 10B tokens | full fine-tuning, 10M tokens | LoRA r 8 fine-tuning, 10M tokens | inference, 1,024 tokens |"
echo "|---|---|---|---|---|---|"
for m in "d12 124M" "d24 350M" "d36 774M" "d48 1558M"; do
    set -- $m
    "$TRAIN" -e "$1" "${common[@]}" -b 4 -t 1024 --tokens 1e10 --mfu "$MFU" --gpu "$GPUS" > "$TMP/pre"
    "$TRAIN" -e "$1" "${common[@]}" -b 4 -t 1024 --tokens 1e7 --mfu "$MFU" --gpu "$GPUS" > "$TMP/ft"
    "$TRAIN" -e "$1" "${common[@]}" -b 1 -t 1024 --mfu "$MFU" --gpu "$GPUS" > "$TMP/inf"
    # CPU: memory from the bill (fp32), time from the measured FLOP rate (training)
    # and the measured d12 decoding speed scaled by the weights (decoding reads
    # every weight once per token: memory-bound)
    cpu_pre=$(table_cell "$TMP/pre" "CPU fp32" "total" 3)
    cpu_lora=$(table_cell "$TMP/pre" "CPU fp32" "total" 4)
    cpu_inf=$(table_cell "$TMP/inf" "CPU fp32" "total" 5)
    fpt=$(table_cell "$TMP/pre" "CPU fp32" "FLOPs per token" 3)
    fpt_lora=$(table_cell "$TMP/pre" "CPU fp32" "FLOPs per token" 4)
    weights=$(table_cell "$TMP/inf" "CPU fp32" "weights" 5)
    t_pre=$(awk -v f="$fpt" -v r="$cpu_flops" 'BEGIN { print 1e10 * f / (r * 1e9) }')
    t_ft=$(awk -v f="$fpt" -v r="$cpu_flops" 'BEGIN { print 1e7 * f / (r * 1e9) }')
    t_lora=$(awk -v f="$fpt_lora" -v r="$cpu_flops" 'BEGIN { print 1e7 * f / (r * 1e9) }')
    t_inf=$(awk -v d="$cpu_dec" -v w="$(to_gib "$weights")" -v w12="$(to_gib "$d12_infer")" 'BEGIN { print 1024 / d * w / w12 }')
    fits() { awk -v g="$(to_gib "$1")" -v m="$mem_gib" 'BEGIN { exit !(g <= m) }'; }
    cpu_cell() {  # cpu_cell TOTAL SECONDS
        if fits "$1"; then echo "$(mem "$1"), $(duration "$2") (c)"; else echo "$(mem "$1"): does not fit"; fi
    }
    echo "| GPT-2 $2 | this CPU ($threads threads, $mem_gib GiB) | $(cpu_cell "$cpu_pre" "$t_pre") | $(cpu_cell "$cpu_pre" "$t_ft") | $(cpu_cell "$cpu_lora" "$t_lora") | $(cpu_cell "$cpu_inf" "$t_inf") |"
    for g in "RTX 4060 Laptop" "H100"; do
        gpu_pre=$(table_cell "$TMP/pre" "GPU bf16" "total" 3)
        gpu_lora=$(table_cell "$TMP/pre" "GPU bf16" "total" 5)
        gpu_inf=$(table_cell "$TMP/inf" "GPU bf16" "total" 6)
        gcell() {  # gcell TOTAL TIME
            if [ "$2" = "does not fit" ]; then echo "$(mem "$1"): does not fit"; else echo "$(mem "$1"), $2 (c)"; fi
        }
        label=$([ "$g" = H100 ] && echo "H100 SXM (80 GiB)" || echo "laptop GPU: RTX 4060 Laptop (8 GiB)")
        echo "| GPT-2 $2 | $label | $(gcell "$gpu_pre" "$(time_cell "$TMP/pre" "$g" 3)") | $(gcell "$gpu_pre" "$(time_cell "$TMP/ft" "$g" 3)") | $(gcell "$gpu_lora" "$(time_cell "$TMP/ft" "$g" 4)") | $(gcell "$gpu_inf" "$(time_cell "$TMP/inf" "$g" 5)") |"
    done
done
echo
load=$(cut -d' ' -f1 /proc/loadavg 2>/dev/null || echo "?")
echo "This CPU: d12 (B=4, T=64) trains at $cpu_tok tokens/s ($cpu_flops GFLOP/s) and decodes at $cpu_dec tokens/s on $threads threads,"
echo "$source_note (load average $load when the table was made: on a shared machine the CPU times move with it);"
echo "(c) = computed from that (CPU) or at ${MFU} MFU of the peak table (GPU). Generated by dev/bill_table.sh."
