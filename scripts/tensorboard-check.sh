#!/usr/bin/env bash
# lorabook's TensorBoard logs read by TensorBoard's own reader (EventAccumulator), in a scratch
# virtual environment (docs/training.md#tensorboard-logs). Not part of the test suite.
#
#   scripts/tensorboard-check.sh          # venv in .venv-peft (shared with scripts/peft-check.sh)
#   PEFT_VENV=/some/venv scripts/tensorboard-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${PEFT_VENV:-.venv-peft}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import tensorboard" 2>/dev/null || "$venv/bin/pip" install -q tensorboard
swift build -c release --product lorabook >/dev/null
lorabook="$(swift build -c release --show-bin-path)/lorabook"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
"$lorabook" train --task sst --mode lora --rank 2 --limit 96 --batch 16 --epochs 2 --eval-every epoch --eval-limit 40 \
  --no-store --log-dir "$work/logs" >/dev/null 2>&1
"$venv/bin/python" - "$work/logs/lora-r2-s0" <<'PY'
import sys
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
acc = EventAccumulator(sys.argv[1])
acc.Reload()
tags = acc.Tags()["scalars"]
print("tags:", ", ".join(sorted(tags)))
loss = acc.Scalars("train/loss")
evals = acc.Scalars("eval/accuracy")
print(f"train/loss: {len(loss)} steps ({loss[0].step}..{loss[-1].step}), first {loss[0].value:.4f}, last {loss[-1].value:.4f}")
print("eval/accuracy:", [(e.step, round(e.value, 4)) for e in evals])
ok = len(loss) == 12 and [e.step for e in evals] == [6, 12] and {"train/learning_rate", "train/epoch_loss", "eval/train_loss"} <= set(tags)
print("ok" if ok else "FAIL")
sys.exit(0 if ok else 1)
PY
