#!/usr/bin/env bash
# N JAX processes on this machine, talking over loopback (gloo collectives):
# the multi-host code path (per-process data slices, global batches, Orbax)
# without a cluster. Usage:
#   launch/multiprocess_cpu.sh 2 experiments/markov.py:arch=two_stream runs/mp [--config.x=y ...]
set -euo pipefail
n=$1; config=$2; workdir=$3; shift 3
port=${AOARM_PORT:-$((20000 + RANDOM % 20000))}
pids=()
for ((i = 0; i < n; i++)); do
  JAX_PLATFORMS=cpu "${PYTHON:-python}" -m aoarm.main --config="$config" --workdir="$workdir" \
    --coordinator="127.0.0.1:$port" --num_processes="$n" --process_id="$i" "$@" \
    > >(sed "s/^/[process $i] /") 2>&1 &
  pids+=($!)
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit $status
