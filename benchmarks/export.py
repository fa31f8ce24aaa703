"""Export every kind of generator to ONNX and TorchScript; parity with PyTorch and inference speed.

For each preset below, a model is trained for a few steps (parity does not depend on training),
exported in both formats, and checked at batch sizes 1 and 3 (the export's own check) and again
here at batch 64, where inference speed is also timed: images/s of onnxruntime and of the
TorchScript module next to the PyTorch model itself, one thread each.

    python benchmarks/export.py [--presets dcgan-mnist,cgan-mnist,...]

Goal: max |exported - PyTorch| ≤ 1e-4 for every model and format.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ganstudio.core import export as E  # noqa: E402
from ganstudio.core.config import PRESETS, apply_overrides  # noqa: E402
from ganstudio.core.events import RunFinished  # noqa: E402
from ganstudio.core.train import iter_train  # noqa: E402

CASES = (("dcgan-mnist", "AtoB"), ("cgan-mnist", "AtoB"), ("ring8", "AtoB"), ("pix2pix-edges2fashion", "AtoB"),
         ("cyclegan-horse2zebra", "AtoB"), ("cyclegan-horse2zebra", "BtoA"))
GOAL = E.PARITY_TOLERANCE
BATCH = 64


def throughput(fn, inputs, repeats: int = 5) -> float:
    fn(*inputs)  # warm-up
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn(*inputs)
    return repeats * len(inputs[0]) / (time.perf_counter() - t0)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", help="comma-separated subset of " + ", ".join(dict.fromkeys(c for c, _ in CASES)))
    args = ap.parse_args(argv)
    wanted = set(args.presets.split(",")) if args.presets else None
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore", category=FutureWarning)  # torch.jit.load announces its deprecation
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    rows, worst = [], 0.0
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for preset, direction in CASES:
            if wanted and preset not in wanted:
                continue
            if preset not in runs:
                cfg = apply_overrides(PRESETS.get(preset).config(), dict(steps=3, batch_size=4, log_every=1, threads=1,
                                                                          sample_every=10**9, checkpoint_every=10**9))
                runs[preset] = [e for e in iter_train(cfg, Path(tmp) / preset) if isinstance(e, RunFinished)][-1].checkpoint
            ckpt = runs[preset]
            ex = E.load_exportable(ckpt, direction)
            inputs = ex.make_inputs(BATCH)
            with torch.no_grad():
                want = ex.module(*inputs)
                eager = throughput(lambda *a: ex.module(*a), inputs)
            row = {"model": preset + ("" if direction == "AtoB" else " (BtoA)"), "eager_per_s": round(eager)}
            for fmt in E.FORMATS:
                out = Path(tmp) / f"{preset}-{direction}.{'onnx' if fmt == 'onnx' else 'pt'}"
                res = E.export_model(ckpt, fmt, out, direction=direction)
                if fmt == "onnx":
                    s = ort.InferenceSession(str(out), opts, providers=["CPUExecutionProvider"])
                    names = [i.name for i in s.get_inputs()]

                    def run(*a, s=s, names=names):
                        return torch.from_numpy(s.run(None, {n: t.numpy() for n, t in zip(names, a)})[0])
                else:
                    m = torch.jit.load(str(out))

                    def run(*a, m=m):
                        with torch.no_grad():
                            return m(*a)
                diff = max(res.max_diff, float((run(*inputs) - want).abs().max()))
                worst = max(worst, diff)
                row[f"{fmt}_max_diff"] = diff
                row[f"{fmt}_per_s"] = round(throughput(run, inputs))
                row[f"{fmt}_export_s"] = round(res.seconds, 2)
            rows.append(row)
            print(f"{row['model']:<32} ONNX diff {row['onnx_max_diff']:.1e} ({row['onnx_per_s']:,}/s, export "
                  f"{row['onnx_export_s']} s) | TorchScript diff {row['torchscript_max_diff']:.1e} "
                  f"({row['torchscript_per_s']:,}/s) | PyTorch {row['eager_per_s']:,}/s  [goal diff ≤ {GOAL:g}]")
    print(json.dumps({"benchmark": "export", "max_diff": worst, "models": len(rows), "rows": rows,
                      "goals": {"max_diff": GOAL}, "goal_met": worst <= GOAL}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
