#!/usr/bin/env python3
"""lorabook against HF transformers + PEFT, both ways (docs/interop.md; run by scripts/peft-check.sh).

1. export: adapters lorabook trained and saved with --format peft load with
   PeftModel.from_pretrained(BertForSequenceClassification.from_pretrained(base), folder)
   and give lorabook's logits (lorabook predict --json) within the tolerance.
2. import: adapters PEFT makes here (ranks, targets, DoRA, rsLoRA, layers_to_transform that no
   test of lorabook's suite uses), moved away from their initial values and saved by PEFT, give
   PEFT's logits in lorabook predict.

Usage: peft_check.py LORABOOK MODEL_DIR WORK_DIR EXPORTED_DIR...   (exit 0: every case matched)
Not a dependency of lorabook or its tests: it needs torch, transformers and peft.
"""
import json
import subprocess
import sys
from pathlib import Path

import torch
from peft import AdaLoraConfig, LoraConfig, PeftModel, get_peft_model
from transformers import AutoTokenizer, BertForSequenceClassification

TOLERANCE = 1e-4
TEXTS = [
    "a gripping , beautifully made film .",
    "The plot is thin and the acting worse.",
    "It's neither good nor bad; it simply exists.",
    "Über-stylish, but hollow at its core !!",
    "an odd , quiet little movie that sneaks up on you",
]


def peft_logits(base_dir, folder, labels):
    base = BertForSequenceClassification.from_pretrained(base_dir, num_labels=labels)
    model = PeftModel.from_pretrained(base, folder).eval()
    tok = AutoTokenizer.from_pretrained(base_dir)
    batch = tok(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    with torch.no_grad():
        return model(**batch).logits.tolist()


def lorabook_logits(lorabook, folder):
    out = subprocess.run([lorabook, "predict", "--adapter", str(folder), "--json", *TEXTS],
                         check=True, capture_output=True, text=True).stdout
    return [json.loads(line)["logits"] for line in out.splitlines()]


def classes(folder):
    """The number of labels of a folder's saved classifier."""
    from safetensors import safe_open
    with safe_open(str(folder / "adapter_model.safetensors"), "pt") as f:
        return f.get_tensor("base_model.model.classifier.weight").shape[0]


def compare(name, ours, theirs):
    worst = max(abs(a - b) for ra, rb in zip(ours, theirs) for a, b in zip(ra, rb))
    ok = len(ours) == len(theirs) and worst <= TOLERANCE
    print(f"{'ok  ' if ok else 'FAIL'} {name}: max |lorabook - PEFT| = {worst:.2e} over {len(ours)} texts")
    return ok


def main():
    lorabook, base_dir, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    exported = [Path(p) for p in sys.argv[4:]]
    torch.manual_seed(0)
    ok = True
    for folder in exported:
        ok &= compare(f"export {folder.name}", lorabook_logits(lorabook, folder), peft_logits(base_dir, str(folder), classes(folder)))

    cases = {
        "lora-r3-qkv-rslora": dict(r=3, lora_alpha=5, target_modules=["query", "key", "value"], use_rslora=True),
        "lora-r6-ffn-layers-1-4": dict(r=6, lora_alpha=12, target_modules=["intermediate.dense", "output.dense"], layers_to_transform=[1, 4]),
        "dora-r5-regex": dict(r=5, lora_alpha=3, target_modules=r".*\.(attention\.self\.value|attention\.output\.dense|pooler\.dense)", use_dora=True),
        "dora-r1-all-linear": dict(r=1, lora_alpha=16, target_modules="all-linear", use_dora=True),
        "lora-r4-rank-alpha-pattern": dict(r=4, lora_alpha=8, target_modules=["query", "value", "pooler.dense"],
                                           rank_pattern={"query": 2, "layer.5.attention.self.value": 7},
                                           alpha_pattern={"value": 3, "pooler.dense": 20}),
    }
    for name, kwargs in cases.items():
        labels = 3
        base = BertForSequenceClassification.from_pretrained(base_dir, num_labels=labels)
        model = get_peft_model(base, LoraConfig(task_type="SEQ_CLS", modules_to_save=["classifier"], **kwargs))
        with torch.no_grad():
            for n, p in model.named_parameters():
                if p.requires_grad:
                    p.add_(torch.randn_like(p) * 0.05)
        folder = work / name
        model.save_pretrained(str(folder))
        model.eval()
        tok = AutoTokenizer.from_pretrained(base_dir)
        with torch.no_grad():
            theirs = model(**tok(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")).logits.tolist()
        ok &= compare(f"import {name}", lorabook_logits(lorabook, folder), theirs)

    # AdaLoRA: PEFT trains ten steps with its budget cut from 4 to 2 per module (so the folder holds
    # only the kept triplets and a rank_pattern of true/false), on all linear layers but the pooler
    name = "adalora-r4-t2-all-linear"
    base = BertForSequenceClassification.from_pretrained(base_dir, num_labels=5)
    model = get_peft_model(base, AdaLoraConfig(task_type="SEQ_CLS", init_r=4, target_r=2, lora_alpha=6, total_step=10, tinit=1, tfinal=2,
                                               target_modules=["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]))
    tok = AutoTokenizer.from_pretrained(base_dir)
    batch = tok(TEXTS, padding=True, truncation=True, max_length=128, return_tensors="pt")
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=2e-2)
    for t in range(10):
        model(**batch, labels=torch.tensor([4, 0, 2, 3, 1])).loss.backward()
        opt.step()
        model.base_model.update_and_allocate(t)
        opt.zero_grad()
    folder = work / name
    model.save_pretrained(str(folder))
    model.eval()
    with torch.no_grad():
        theirs = model(**batch).logits.tolist()
    ok &= compare(f"import {name}", lorabook_logits(lorabook, folder), theirs)
    ok &= compare(f"reload {name} in PEFT", peft_logits(base_dir, str(folder), 5), theirs)

    # lorabook continues training the patterned adapter and exports it: per-module ranks and alphas
    # go back out as PEFT's rank_pattern and alpha_pattern
    again = work / "lb-continued-rank-alpha-pattern"
    subprocess.run([lorabook, "train", "--adapter", str(work / "lora-r4-rank-alpha-pattern"), "--task", "sst", "--limit", "48",
                    "--batch", "16", "--dev-limit", "16", "--no-store", "--save", str(again), "--format", "peft"],
                   check=True, capture_output=True)
    ok &= compare(f"export {again.name}", lorabook_logits(lorabook, again), peft_logits(base_dir, str(again), classes(again)))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
