"""Scores of a translation model on its dataset's held-out images: L1, cycle L1 and a classifier's verdicts.

pix2pix and CycleGAN declare these as their metrics (`PAIRED_*`, `UNPAIRED_*`) and score with
`score_translator`; any image → image family can do the same.
"""

from __future__ import annotations

import torch

from ganstudio.core.classifier import builtin_classifier
from ganstudio.core.evaluation import EvalError, Evaluation, Score

CLASSES = "the classifier of the dataset's domain names the outputs' classes (built-in sets)"
PAIRED_METRICS = {"l1": "mean |G(a) − b| over held-out pairs, in [-1, 1] pixel units", "classes": CLASSES}
UNPAIRED_METRICS = {"cycle": "|F(G(a)) − a| and |G(F(b)) − b|: how much of an image survives the round trip",
                    "classes": CLASSES}
PAIRED_SCORES = (
    Score("l1", "L1 to the target", "{:.4f}", "lower is better, in [-1, 1] pixel units", short="L1", lower_is_better=True),
    Score("class_agreement", "in the target's class", "{:.4f}",
          "share of outputs the classifier puts in the target's class; reference: the classifier on the real targets",
          reference="real_accuracy", short="in the target's class"),
)
UNPAIRED_SCORES = (
    Score("cycle_l1", "cycle L1", "{:.4f}", "mean of both directions, lower is better", short="cycle L1", lower_is_better=True),
    Score("cycle_l1_a", "cycle L1, A", "{:.4f}", "|F(G(a)) − a|, lower is better", lower_is_better=True),
    Score("cycle_l1_b", "cycle L1, B", "{:.4f}", "|G(F(b)) − b|, lower is better", lower_is_better=True),
    Score("a_to_b_share", "A → B called B", "{:.4f}",
          "share of translated A images the classifier calls B; reference: untranslated A called B (the floor)",
          reference="a_as_b_before", short="A → B called B"),
    Score("b_to_a_share", "B → A called A", "{:.4f}", "share of translated B images the classifier calls A"),
)


@torch.inference_mode()
def _run(G: torch.nn.Module, x: torch.Tensor, batch: int) -> torch.Tensor:
    out = torch.cat([G(x[i:i + batch]) for i in range(0, len(x), batch)])
    if not torch.isfinite(out).all():
        raise EvalError("the translator's outputs hold NaN or infinite values (its weights have diverged); "
                        "evaluate an earlier checkpoint of the run")
    return out.clamp(-1, 1)


def _l1(x: torch.Tensor, y: torch.Tensor) -> float:
    return float((x - y).abs().mean())


def score_translator(req, batch: int = 200) -> Evaluation:
    """Score a translation checkpoint; values in [-1, 1] pixel units, shares in [0, 1].

    Uses the held-out images of built-in sets, otherwise the training images (`subject` says which).
    One-way models (one entry, paired data): `l1` to the target and, with a classifier for the set,
    `class_agreement` (share of outputs put in the target's class) next to `real_accuracy` (the
    classifier on the targets). Two-way models: `cycle_l1_a` = |F(G(a)) − a|, `cycle_l1_b` = |G(F(b)) − b|
    and their mean `cycle_l1`; with a classifier whose classes include both domain names,
    `a_to_b_share` (G(a) called B), `b_to_a_share`, and `a_as_b_before` (untranslated A called B:
    the floor the translation is measured against).
    """
    data = req.data()
    held = data.held_out_a is not None and data.held_out_b is not None
    a, b = (data.held_out_a, data.held_out_b) if held else (data.a, data.b)
    name_a, name_b = data.direction_names
    on = "held-out" if held else "training"
    out = Evaluation(checkpoint=req.checkpoint, step=req.step, n=len(a),
                     subject=f"{req.cfg.family} on {data.name}, {len(a):,} {on} images")
    clf = builtin_classifier(data.judge) if data.judge and "classes" in req.metrics else None
    if clf is not None:
        out.judge = f"the built-in {data.judge} classifier"
    elif "classes" in req.metrics:
        out.unavailable["classes"] = f"no classifier for {data.name} (built-in sets only)"
    G = req.translator("AtoB")
    fake_b = _run(G, a, batch)
    if len(req.signature.entries) == 1:
        if "l1" in req.metrics:
            out.values["l1"] = _l1(fake_b, b[:len(fake_b)])
        labels = data.held_out_labels if held else None
        if clf is not None and labels is not None:
            out.values["class_agreement"] = float((clf.predict(fake_b) == labels).float().mean())
            out.values["real_accuracy"] = clf.accuracy(b, labels)
        elif clf is not None:
            out.unavailable["classes"] = "needs held-out images with labels"
        return out
    F = req.translator("BtoA")
    fake_a = _run(F, b, batch)
    if "cycle" in req.metrics:
        out.values["cycle_l1_a"] = _l1(_run(F, fake_b, batch), a)
        out.values["cycle_l1_b"] = _l1(_run(G, fake_a, batch), b)
        out.values["cycle_l1"] = (out.values["cycle_l1_a"] + out.values["cycle_l1_b"]) / 2
    if clf is not None and name_a in clf.classes and name_b in clf.classes:
        ia, ib = clf.classes.index(name_a), clf.classes.index(name_b)
        out.values["a_to_b_share"] = float((clf.predict(fake_b) == ib).float().mean())
        out.values["b_to_a_share"] = float((clf.predict(fake_a) == ia).float().mean())
        out.values["a_as_b_before"] = float((clf.predict(a) == ib).float().mean())
    elif clf is not None:
        out.unavailable["classes"] = f"the {data.judge} classifier has no classes named {name_a} and {name_b}"
    return out
