#!/usr/bin/env bash
# A Cloud TPU pod slice: the same command on every host; JAX finds the pod.
#   launch/tpu_pod.sh my-tpu us-central2-b \
#     experiments/text8.py:arch=two_stream,seq_len=1024,path=/data/text8.zip gs://bucket/runs/t8_1024
# Assumes the repository and a virtual environment at ~/aoarm/.venv on every
# host (install with: pip install -e . "jax[tpu]").
set -euo pipefail
tpu=$1; zone=$2; config=$3; workdir=$4; shift 4
gcloud compute tpus tpu-vm ssh "$tpu" --zone="$zone" --worker=all --command="
  cd ~/aoarm && .venv/bin/python -m aoarm.main --distributed \
    --config='$config' --workdir='$workdir' $*"
