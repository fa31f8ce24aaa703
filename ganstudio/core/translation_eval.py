"""Scores of a trained translation model on its dataset's held-out images: L1, cycle L1 and a classifier's verdicts."""

from __future__ import annotations

from pathlib import Path

import torch

from ganstudio.core.classifier import builtin_classifier
from ganstudio.core.families import FAMILIES
from ganstudio.core.inference import config_from_checkpoint, load_translator, require_kind, signature_of
from ganstudio.core.pairs import TranslationData


@torch.inference_mode()
def _run(G: torch.nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    return torch.cat([G(x[i:i + batch]).clamp(-1, 1) for i in range(0, len(x), batch)])


def _l1(x: torch.Tensor, y: torch.Tensor) -> float:
    return float((x - y).abs().mean())


def evaluate_translation(checkpoint: str | Path, data: TranslationData | None = None, batch: int = 200) -> dict:
    """Score a translation checkpoint (pix2pix, CycleGAN, ...); values in [-1, 1] pixel units, shares in [0, 1].

    Uses the held-out images of built-in sets, otherwise the training images ("on" says which).
    One-way models (paired data): `l1` to the target and, with a classifier for the set, `class_agreement` (share of
    outputs put in the target's class) next to `real_accuracy` (the classifier on the targets).
    Two-way models: `cycle_l1_a` = |F(G(a)) − a|, `cycle_l1_b` = |G(F(b)) − b|, and with a classifier whose
    classes include both domain names, `a_to_b_share` (G(a) called B), `b_to_a_share`, and
    `a_as_b_before` (untranslated A called B: the floor the translation is measured against).
    """
    cfg, state = config_from_checkpoint(checkpoint)
    sig = signature_of(state)
    require_kind(checkpoint, state, sig, "translate")
    if data is None:
        data = FAMILIES.get(cfg.family).load_data(cfg)
    held = data.held_out_a is not None and data.held_out_b is not None
    a, b = (data.held_out_a, data.held_out_b) if held else (data.a, data.b)
    name_a, name_b = data.direction_names
    G = load_translator(str(checkpoint), "AtoB", state=state)[0]
    out = {"model": state["family"], "step": int(state.get("step", 0)), "dataset": data.name,
           "on": "held-out" if held else "training",
           "n_a": len(a), "n_b": len(b)}
    clf = builtin_classifier(data.judge) if data.judge else None
    fake_b = _run(G, a, batch)
    if len(sig.entries) == 1:
        out["l1"] = _l1(fake_b, b[:len(fake_b)])
        labels = data.held_out_labels if held else None
        if clf is not None and labels is not None:
            out["class_agreement"] = float((clf.predict(fake_b) == labels).float().mean())
            out["real_accuracy"] = clf.accuracy(b, labels)
        return out
    F = load_translator(str(checkpoint), "BtoA", state=state)[0]
    fake_a = _run(F, b, batch)
    out["cycle_l1_a"] = _l1(_run(F, fake_b, batch), a)
    out["cycle_l1_b"] = _l1(_run(G, fake_a, batch), b)
    if clf is not None and name_a in clf.classes and name_b in clf.classes:
        ia, ib = clf.classes.index(name_a), clf.classes.index(name_b)
        out["a_to_b_share"] = float((clf.predict(fake_b) == ib).float().mean())
        out["b_to_a_share"] = float((clf.predict(fake_a) == ia).float().mean())
        out["a_as_b_before"] = float((clf.predict(a) == ib).float().mean())
    return out
