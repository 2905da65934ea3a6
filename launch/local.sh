#!/usr/bin/env bash
# One process, all local devices. Usage:
#   launch/local.sh experiments/corpus.py:arch=two_stream,size=tiny runs/local [--config.x=y ...]
# On a CPU-only machine, AOARM_CPU_DEVICES=N splits it into N devices (one per
# core is often fastest: XLA runs batched matmuls on one thread per device).
set -euo pipefail
config=$1; workdir=$2; shift 2
if [[ -n "${AOARM_CPU_DEVICES:-}" ]]; then
  export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=${AOARM_CPU_DEVICES}"
fi
exec "${PYTHON:-python}" -m aoarm.main --config="$config" --workdir="$workdir" "$@"
