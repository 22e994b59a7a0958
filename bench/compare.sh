#!/usr/bin/env bash
# pgrepl apply vs. the bare tutorial script (bench/tutorial.sh), each on a freshly built lab,
# ROUNDS times (default 5). Prints each run, the medians and the ratio. Needs root.
#   bash bench/compare.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-5}
name=bench prefix=10.77.9
dir=/var/lib/pgrepl-lab/$name
cargo build --release -q
bin=${CARGO_TARGET_DIR:-$PWD/target}/release/pgrepl
state=$(mktemp -d)
trap '"$bin" lab down --name $name >/dev/null 2>&1; rm -rf "$state" "$state.log"' EXIT

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
fresh_lab() { "$bin" lab up --name $name --subnet $prefix.0/24 >/dev/null; }

script_times=() pgrepl_times=()
for i in $(seq "$rounds"); do
    fresh_lab
    t0=$(now); bash bench/tutorial.sh "$dir" $prefix.10 $prefix.11 $prefix.0/24 >/dev/null; t1=$(now)
    script_times+=("$(awk "BEGIN {print $t1 - $t0}")")
    fresh_lab
    rm -rf "${state:?}"/*
    t0=$(now)
    if ! PGREPL_STATE_DIR=$state PGREPL_REPLICA_PASSWORD=bench "$bin" apply --config "$dir/pgrepl.toml" --yes >"$state.log" 2>&1; then
        echo "round $i: pgrepl apply failed:" >&2
        tail -n 40 "$state.log" >&2
        exit 1
    fi
    t1=$(now)
    pgrepl_times+=("$(awk "BEGIN {print $t1 - $t0}")")
    printf 'round %d: script %.2fs  pgrepl %.2fs\n' "$i" "${script_times[-1]}" "${pgrepl_times[-1]}"
done
s=$(printf '%s\n' "${script_times[@]}" | median)
p=$(printf '%s\n' "${pgrepl_times[@]}" | median)
printf 'median: script %.2fs  pgrepl %.2fs  ratio script/pgrepl %.2fx\n' "$s" "$p" "$(awk "BEGIN {print $s / $p}")"
