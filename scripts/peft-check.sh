#!/usr/bin/env bash
# lorabook against HF transformers + PEFT in a scratch virtual environment (docs/interop.md):
# adapters lorabook trains and exports load in PEFT with lorabook's logits, and adapters PEFT makes
# load in lorabook with PEFT's logits. Not part of the test suite (PEFT is never a dependency).
#
#   scripts/peft-check.sh            # venv in .venv-peft (git-ignored), work files in a temporary folder
#   PEFT_VENV=/some/venv scripts/peft-check.sh
#
# torch comes from /opt/wheels when a CPU wheel is there, else from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/peft-venv.sh
swift build -c release --product lorabook >/dev/null
lorabook="$(swift build -c release --show-bin-path)/lorabook"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
model="${LORABOOK_MODEL:-models/minilm-l6}"

# lorabook trains small runs with pooled heads and exports them as PEFT folders
"$lorabook" train --task sst --mode lora --rank 4 --targets attention --head pooled --limit 96 --batch 16 --seed 1 --no-store --save "$work/lb-lora-r4-qv" --format peft >/dev/null
"$lorabook" train --task sst --mode dora --rank 2 --targets query,key,value,attention-output,intermediate,output,pooler --head pooled --limit 96 --batch 16 --seed 2 --no-store --save "$work/lb-dora-r2-all" --format peft >/dev/null
"$lorabook" train --task sst2 --mode lora --rank 3 --rslora --targets output,pooler --head pooled --limit 96 --batch 16 --seed 3 --no-store --save "$work/lb-lora-r3-output-pooler" --format peft >/dev/null

# and an AdaLoRA run whose budget is cut from 6 to 2 per module (PEFT's layout: only the kept triplets)
"$lorabook" train --task sst --mode adalora --rank 6 --target-rank 2 --targets attention --head pooled --limit 96 --batch 16 --seed 4 --no-store --save "$work/lb-adalora-r6-t2" --format peft >/dev/null

HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$venv/bin/python" scripts/peft_check.py "$lorabook" "$model" "$work" \
  "$work/lb-lora-r4-qv" "$work/lb-dora-r2-all" "$work/lb-lora-r3-output-pooler" "$work/lb-adalora-r6-t2"
