#!/usr/bin/env python3
"""AdaLoRA steps in HF transformers + PEFT, written as a golden file for lorabook's test
(Tests/ModelTests/Fixtures/golden/adalora_steps.json; run by scripts/adalora-golden.sh).

all-MiniLM-L6-v2 as BertModel, PEFT's AdaLoRA on query and value (init_r 4, target_r 2, alpha 8,
tinit 1, tfinal 1, deltaT 1, beta1 = beta2 = 0.85, orth_reg_weight 0.5, total_step 6, no dropout),
a linear 5-class head on the raw [CLS] state, cross-entropy. Initial A, E, B and head weights in
closed form (sin/cos, E non-zero so that every gradient is), so lorabook sets the same values.
Six steps of: loss (PEFT's AdaLoraModel.forward adds the orthogonal term) → backward → AdamW
(lr 1e-3, weight decay 0.01) → update_and_allocate(t) → zero_grad. Recorded per step: the loss
and its orthogonal term, every adapter's gradient norms of A, E, B, and after the allocation the
budget, every triplet's score and the mask.

Usage: adalora_golden.py MODEL_DIR OUT.json     Not a dependency of lorabook or its tests.
"""
import json
import math
import platform
import sys
from types import SimpleNamespace

import peft
import torch
import transformers
from peft import AdaLoraConfig, get_peft_model
from transformers import AutoTokenizer, BertModel

SENTENCES = [
    "a gripping , beautifully made film .",
    "the plot is thin and the acting worse .",
    "it 's neither good nor bad .",
    "an odd , quiet little movie that sneaks up on you",
]
LABELS = [4, 0, 2, 3]
T = 6
INIT_R, TARGET_R, ALPHA = 4, 2, 8


class Classifier(torch.nn.Module):
    """BertModel + a linear head on [CLS]; returns .loss, which AdaLoraModel.forward extends."""

    def __init__(self, bert):
        super().__init__()
        self.bert = bert
        self.head = torch.nn.Linear(384, 5)

    def forward(self, input_ids=None, attention_mask=None, token_type_ids=None, labels=None):
        h = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids).last_hidden_state
        logits = self.head(h[:, 0, :])
        return SimpleNamespace(logits=logits, loss=torch.nn.functional.cross_entropy(logits, labels))


def closed_form(model):
    """The values lorabook's test sets: layer l, module p (0 query, 1 value)."""
    with torch.no_grad():
        for l in range(6):
            for p, name in enumerate(["query", "value"]):
                m = getattr(model.base_model.model.bert.encoder.layer[l].attention.self, name)
                A, E, B = m.lora_A["default"], m.lora_E["default"], m.lora_B["default"]
                for i in range(INIT_R):
                    for j in range(384):
                        A[i, j] = 0.05 * math.sin(1 + 7 * i + 3 * j + 11 * l + 29 * p)
                    E[i, 0] = 0.3 * math.cos(1 + 5 * i + 7 * l + 13 * p)
                for o in range(384):
                    for j in range(INIT_R):
                        B[o, j] = 0.01 * math.cos(2 + 5 * o + 13 * j + 17 * l + 31 * p)
        head = model.base_model.model.head
        for c in range(5):
            for k in range(384):
                head.weight[c, k] = 0.02 * math.sin(3 + 5 * c + 7 * k)
        head.bias.zero_()


def main(model_dir, out):
    torch.manual_seed(0)
    torch.set_num_threads(1)
    bert = BertModel.from_pretrained(model_dir, add_pooling_layer=False, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    config = AdaLoraConfig(target_modules=["query", "value"], init_r=INIT_R, target_r=TARGET_R, lora_alpha=ALPHA, lora_dropout=0.0,
                           tinit=1, tfinal=1, deltaT=1, beta1=0.85, beta2=0.85, orth_reg_weight=0.5, total_step=T)
    model = get_peft_model(Classifier(bert), config)
    for p in model.base_model.model.head.parameters():
        p.requires_grad = True          # the head trains too (its parameters are not "lora_": no importance)
    model.train()
    closed_form(model)
    tok = AutoTokenizer.from_pretrained(model_dir)
    batch = tok(SENTENCES, padding=True, truncation=True, max_length=128, return_tensors="pt")
    labels = torch.tensor(LABELS)
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=1e-3, weight_decay=0.01, eps=1e-8)
    allocator = model.base_model.rankallocator
    layers = model.base_model.model.bert.encoder.layer
    recorded = {}
    original = allocator.mask_to_budget

    def mask_to_budget(net, budget):
        # every triplet's score, as mask_to_budget computes it, just before it masks
        scores = []
        for l, name, _ in modules():
            key = f"bert.encoder.layer.{l}.attention.self.{name}.lora_%s.default"
            sa = allocator._element_score(key % "A").mean(dim=1)
            sb = allocator._element_score(key % "B").mean(dim=0)
            se = allocator._element_score(key % "E").view(-1)
            scores.append((se + sa + sb).tolist())
        recorded["scores"], recorded["budget"] = scores, budget
        return original(net, budget)

    allocator.mask_to_budget = mask_to_budget

    def modules():
        for l in range(6):
            for name in ["query", "value"]:
                yield l, name, getattr(layers[l].attention.self, name)

    steps = []
    for t in range(T):
        out_ = model.base_model(**batch, labels=labels)   # AdaLoraModel.forward adds the orthogonal term
        ce = torch.nn.functional.cross_entropy(out_.logits, labels).item()
        loss = out_.loss
        loss.backward()
        norms = []
        for l, name, m in modules():
            norms.append({"layer": l, "module": name,
                          "A": m.lora_A["default"].grad.norm().item(), "E": m.lora_E["default"].grad.norm().item(),
                          "B": m.lora_B["default"].grad.norm().item()})
        opt.step()
        recorded.clear()
        model.base_model.update_and_allocate(t)
        steps.append({
            "step": t, "loss": loss.item(), "cross_entropy": ce, "orthogonal": (loss.item() - ce) / 0.5,
            "grad_norms": norms, "masked": "budget" in recorded, "budget": recorded.get("budget"),
            "scores": recorded.get("scores"),
            "E": [m.lora_E["default"].view(-1).tolist() for _, _, m in modules()],
        })
        opt.zero_grad()
    golden = {
        "description": __doc__.strip().splitlines()[0] + " Steps of AdaLoRA on all-MiniLM-L6-v2 (query, value).",
        "versions": {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__,
                     "peft": peft.__version__},
        "batch": {"sentences": SENTENCES, "labels": LABELS, "input_ids": batch["input_ids"].tolist()},
        "conventions": {"init_r": INIT_R, "target_r": TARGET_R, "alpha": ALPHA, "tinit": 1, "tfinal": 1, "deltaT": 1, "beta1": 0.85,
                        "beta2": 0.85, "orth_reg_weight": 0.5, "total_step": T, "optimizer": {"lr": 1e-3, "weight_decay": 0.01, "eps": 1e-8},
                        "step_index": "update_and_allocate(t) after optimizer step t = 0 … T-1 (PEFT's examples)",
                        "closed_form": "A[i][j] = 0.05 sin(1+7i+3j+11l+29p); E[i] = 0.3 cos(1+5i+7l+13p); B[o][j] = 0.01 cos(2+5o+13j+17l+31p); "
                                       "head W[c][k] = 0.02 sin(3+5c+7k), b = 0; p = 0 query, 1 value"},
        "steps": steps,
    }
    with open(out, "w") as f:
        json.dump(golden, f, indent=1)
    kept = [sum(1 for row in s["E"] for e in row if e != 0) for s in steps]
    print(f"wrote {out}: {T} steps; budgets {[s['budget'] for s in steps]}; kept {kept}; losses {[round(s['loss'], 5) for s in steps]}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
