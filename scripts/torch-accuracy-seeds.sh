#!/usr/bin/env bash
# PyTorch + PEFT's SST-5 dev accuracy over several seeds, with the anchor's own script
# (../shared/anchors/torch/accuracy_anchor.py, which fixes seed 0): a copy with the seed taken from
# $SEED runs once per seed. Compare with `lorabook train --task sst --mode M --rank R --seed S --json`.
#
#   scripts/torch-accuracy-seeds.sh MODE RANK "SEEDS" [--bf16]    e.g. scripts/torch-accuracy-seeds.sh lora 1 "0 1 2"
#
# Needs TORCH_PYTHON (default python3) with torch, transformers and peft; see scripts/bench-vs-torch.sh.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mode="$1"; rank="$2"; seeds="$3"; shift 3
py="${TORCH_PYTHON:-python3}"
anchors="${LORABOOK_ANCHORS:-$root/../shared/anchors}"
export MINILM_DIR="${MINILM_DIR:-$root/models/minilm-l6}"
export MINBERT_DATA="${MINBERT_DATA:-${LORABOOK_DATA:-$root/../shared/data}}"
tmp="$(mktemp -d)"
cp "$anchors/torch/common.py" "$tmp/"
sed 's/torch.manual_seed(0); random.seed(0)/torch.manual_seed(int(os.environ.get("SEED", "0"))); random.seed(int(os.environ.get("SEED", "0")))/' \
  "$anchors/torch/accuracy_anchor.py" > "$tmp/accuracy_anchor.py"
grep -q 'os.environ.get("SEED"' "$tmp/accuracy_anchor.py" || { echo "error: the anchor script's seeding line changed; cannot vary the seed" >&2; exit 1; }
for s in $seeds; do
  SEED="$s" "$py" "$tmp/accuracy_anchor.py" "$mode" "$rank" "$@" 2>/dev/null | sed "s/^{/{\"seed\": $s, /"
done
