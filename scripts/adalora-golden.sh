#!/usr/bin/env bash
# Regenerates Tests/ModelTests/Fixtures/golden/adalora_steps.json from PEFT's AdaLoRA (six steps
# on all-MiniLM-L6-v2; see scripts/adalora_golden.py) in a scratch virtual environment. PEFT is never
# a dependency of lorabook or its tests: the JSON is committed and the test reads it.
#
#   scripts/adalora-golden.sh                 # venv in .venv-peft (git-ignored)
#   PEFT_VENV=/some/venv scripts/adalora-golden.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/peft-venv.sh
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 "$venv/bin/python" scripts/adalora_golden.py "${LORABOOK_MODEL:-models/minilm-l6}" \
  Tests/ModelTests/Fixtures/golden/adalora_steps.json
