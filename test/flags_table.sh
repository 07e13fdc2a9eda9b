#!/usr/bin/env bash
# test/flags_table.sh TRAIN: README's flag table, made from `TRAIN -h` (the
# flags' one source is RUN_FLAGS in train_flags.h). test/test_cli.sh checks
# that README.md holds exactly this table; after changing a flag, paste the
# output of `bash test/flags_table.sh ./train` into README.md.
set -euo pipefail
echo "| flag | long name | default | meaning |"
echo "|---|---|---|---|"
"$1" -h | sed -n 's/^  //p' | while IFS= read -r line; do
    letter=${line:0:3}; letter=${letter// /}
    rest=${line:4}
    name=${rest%% *}
    text=${rest#"$name"}; text=${text#"${text%%[! ]*}"}
    default=""
    if [[ $text =~ ^(.*)\ \(default\ (.*)\)$ ]]; then text=${BASH_REMATCH[1]}; default=${BASH_REMATCH[2]}; fi
    text=${text//|/\\|}
    printf '| %s | `%s` | %s | %s |\n' "${letter:+\`$letter\`}" "$name" "${default:+\`$default\`}" "$text"
done
