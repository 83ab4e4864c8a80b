# Sourced by the PEFT scripts: makes the scratch virtual environment with torch, transformers, peft
# and safetensors (never a dependency of lorabook or its tests) and sets $venv to it.
#   PEFT_VENV=/some/venv to use another; torch comes from /opt/wheels when a CPU wheel is there.
venv="${PEFT_VENV:-.venv-peft}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  wheel="$(ls /opt/wheels/torch-*cpu*.whl 2>/dev/null | head -n 1 || true)"
  "$venv/bin/pip" install -q ${wheel:-torch} transformers peft safetensors
fi
