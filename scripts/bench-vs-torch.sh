#!/usr/bin/env bash
# lorabook against PyTorch + HF transformers + PEFT, side by side in one run: for every configuration
# and precision, alternate `lorabook bench train` and the anchor's PyTorch child process
# (../shared/anchors/torch/train_bench.py --child), ROUNDS times, and print the medians and ratios.
#
#   scripts/bench-vs-torch.sh [ROUNDS]            # default 2 rounds, 10 timed steps each
#
# Needs a Python with torch, transformers, peft and safetensors: $TORCH_PYTHON (default: python3),
# for example a virtual environment made with
#   python3 -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch transformers peft safetensors
# (the default torch wheel pulls several GB of CUDA libraries that the CPU run does not use).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
rounds="${1:-2}"
py="${TORCH_PYTHON:-python3}"
anchors="${LORABOOK_ANCHORS:-$root/../shared/anchors}"
export MINILM_DIR="${MINILM_DIR:-$root/models/minilm-l6}"
export MINBERT_DATA="${MINBERT_DATA:-${LORABOOK_DATA:-$root/../shared/data}}"
"$py" -c "import torch, transformers, peft" 2>/dev/null || { echo "error: $py cannot import torch, transformers and peft (set TORCH_PYTHON)" >&2; exit 1; }
swift build -c release >/dev/null
lb=.build/release/lorabook
out="$(mktemp -d)"
# name in the anchor | lorabook flags
configs=(
  "full|--mode full"
  "lora_r1_qv|--mode lora --rank 1"
  "lora_r8_qv|--mode lora --rank 8"
  "lora_r8_all|--mode lora --rank 8 --targets all-linear"
  "dora_r8_qv|--mode dora --rank 8"
)
for ((r = 1; r <= rounds; r++)); do
  for c in "${configs[@]}"; do
    name="${c%%|*}"; flags="${c#*|}"
    for prec in fp32 bf16; do
      amp=""; [ "$prec" = bf16 ] && amp="--amp"
      echo "round $r: $name $prec" >&2
      # shellcheck disable=SC2086
      "$lb" bench train $flags $amp --steps 10 --warmup 3 --json 2>/dev/null | sed "s/^/$name $prec lorabook /" >> "$out/results"
      "$py" "$anchors/torch/train_bench.py" --child "$name" "$prec" --warmup 3 --steps 10 2>/dev/null \
        | grep '^RESULT ' | sed "s/^RESULT /$name $prec torch /" >> "$out/results"
    done
  done
done
python3 - "$out/results" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, prec, who, js = line.split(" ", 3)
    d = json.loads(js)
    sps = d.get("seq_per_s")
    rss = d.get("peak_rss_mb")
    rows.setdefault((name, prec), {}).setdefault(who, []).append((sps, rss))
print("| configuration | precision | lorabook seq/s | PyTorch seq/s | ratio | lorabook peak RSS MB | PyTorch peak RSS MB |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
for (name, prec), who in rows.items():
    l = [x[0] for x in who.get("lorabook", []) if x[0]]; t = [x[0] for x in who.get("torch", []) if x[0]]
    lr = [x[1] for x in who.get("lorabook", []) if x[1]]; tr = [x[1] for x in who.get("torch", []) if x[1]]
    ml = statistics.median(l) if l else float("nan"); mt = statistics.median(t) if t else float("nan")
    print(f"| {name} | {prec} | {ml:.1f} | {mt:.1f} | {ml / mt:.2f}× | {statistics.median(lr) if lr else float('nan'):.0f} | {statistics.median(tr) if tr else float('nan'):.0f} |")
EOF
echo "raw results: $out/results" >&2
