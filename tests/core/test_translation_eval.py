"""Translation scores: held-out L1, cycle L1 and classifier verdicts, checked against direct computation."""

import pytest
import torch

from ganstudio import cli
from ganstudio.core.classifier import builtin_classifier
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.evaluate import evaluate
from ganstudio.core.evaluation import EvalError
from ganstudio.core.pairs import load_translation_data
from ganstudio.core.train import iter_train
from ganstudio.core.inference import load_translator


def _train(preset, run, **over):
    cfg = apply_overrides(PRESETS.get(preset).config(), {"steps": 2, "batch_size": 2, "threads": 2, **over})
    for _ in iter_train(cfg, run):
        pass
    return run / "checkpoints" / "latest.pt"


def test_cyclegan_scores_match_a_direct_computation(tmp_path):
    ckpt = _train("cyclegan-horse2zebra", tmp_path / "cg", resnet_blocks=1)
    ev = evaluate(ckpt)
    s = ev.values
    data = load_translation_data("horse2zebra")
    G, F = load_translator(str(ckpt), "AtoB")[0], load_translator(str(ckpt), "BtoA")[0]
    a = data.held_out_a
    with torch.inference_mode():
        cycle = (F(G(a).clamp(-1, 1)).clamp(-1, 1) - a).abs().mean().item()
        zebra = (builtin_classifier("animals").predict(G(a).clamp(-1, 1)) == 9).float().mean().item()
    assert "held-out" in ev.subject and ev.n == len(a) == 100
    assert s["cycle_l1_a"] == pytest.approx(cycle, rel=1e-5)
    assert s["cycle_l1"] == pytest.approx((s["cycle_l1_a"] + s["cycle_l1_b"]) / 2)
    assert s["a_to_b_share"] == pytest.approx(zebra)
    assert 0 <= s["b_to_a_share"] <= 1 and s["cycle_l1_b"] > 0
    # Real horses are not zebras to the classifier: the floor a translation has to rise from.
    assert s["a_as_b_before"] <= 0.05


def test_pix2pix_scores_l1_and_class_agreement(tmp_path):
    ckpt = _train("pix2pix-edges2fashion", tmp_path / "p2p", g_width=8, d_width=8)
    ev = evaluate(ckpt)
    s = ev.values
    data = load_translation_data("edges2fashion", 32, 1)
    G = load_translator(str(ckpt), "AtoB")[0]
    with torch.inference_mode():
        l1 = (G(data.held_out_a).clamp(-1, 1) - data.held_out_b).abs().mean().item()
    assert ev.subject.startswith("pix2pix on edges2fashion") and ev.n == 1000
    assert s["l1"] == pytest.approx(l1, rel=1e-5)
    assert 0 <= s["class_agreement"] <= 1
    assert s["real_accuracy"] >= 0.85  # the judge reads the 32 px targets about as well as the 28 px originals


def test_eval_prints_the_familys_table_and_honours_dataset(tmp_path, capsys):
    ckpt = _train("pix2pix-edges2fashion", tmp_path / "p2p", g_width=8, d_width=8)
    assert cli.main(["eval", str(tmp_path / "p2p"), "--metrics", "l1"]) == 0
    out = capsys.readouterr().out
    assert "L1 to the target" in out and "in the target's class" not in out  # only what was asked for
    assert (tmp_path / "p2p" / "eval.json").is_file()
    # a dataset that is not there is refused, not silently replaced by the run's own
    assert cli.main(["eval", str(ckpt), "--dataset", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err
    with pytest.raises(EvalError, match="unknown metric fd for a pix2pix model"):
        evaluate(ckpt, ("fd",))


def test_a_user_folder_is_scored_on_its_held_out_pairs(tmp_path):
    from PIL import Image

    root = tmp_path / "pairs"
    for i in range(30):
        for side, v in (("A", 4 * i), ("B", 255 - 4 * i)):
            (root / side).mkdir(parents=True, exist_ok=True)
            Image.new("L", (32, 32), v).save(root / side / f"{i:02d}.png")
    ckpt = _train("pix2pix-edges2fashion", tmp_path / "p2p", dataset=str(root), g_width=8, d_width=8)
    ev = evaluate(ckpt, ("l1",))
    data = load_translation_data(str(root))
    G = load_translator(str(ckpt), "AtoB")[0]
    with torch.inference_mode():
        l1 = (G(data.held_out_a).clamp(-1, 1) - data.held_out_b).abs().mean().item()
    assert ev.n == 3 and "3 held-out images" in ev.subject
    assert ev.values["l1"] == pytest.approx(l1, rel=1e-5)
