"""Train the domain classifiers shipped in resources/classifiers/ and print their held-out accuracy against the floors.

Each built-in image set is split with `evaluation_split` (10% of every class held out, the
same rows the translation sets hold out), a small CNN is trained on the rest, and its
accuracy on the held-out rows is stored inside the weights file.

    python benchmarks/train_classifiers.py [--datasets mnist,fashion,animals] [--epochs 30] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

FLOORS = {"mnist": 0.98, "fashion": 0.89, "animals": 0.90}


def main() -> None:
    from ganstudio.core.classifier import MIRROR_SAFE, classifier_path, save_classifier, train_classifier
    from ganstudio.core.data import evaluation_split, load_dataset

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default=",".join(FLOORS))
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None, help="folder for NAME.pt (default: resources/classifiers)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    result = {"benchmark": "classifiers"}
    goals = {}
    met = True
    for name in args.datasets.split(","):
        ds = load_dataset(name)
        train, held = evaluation_split(ds.labels)
        t0 = time.perf_counter()

        def report(epoch, loss, acc, name=name):
            print(f"{name:8s} epoch {epoch:3d}  loss {loss:.4f}  held-out accuracy {acc:.4f}", flush=True)

        clf = train_classifier(ds.x[train], ds.labels[train], ds.classes, dataset=name, epochs=args.epochs,
                               mirror=MIRROR_SAFE[name], seed=args.seed,
                               held_out=(ds.x[held], ds.labels[held]), progress=report)
        clf.meta["command"] = f"python benchmarks/train_classifiers.py --datasets {name} --epochs {args.epochs} --seed {args.seed}"
        path = (args.out / f"{name}.pt") if args.out else classifier_path(name)
        save_classifier(clf, path)
        acc = clf.held_out_accuracy
        print(f"{name}: held-out accuracy {acc:.4f} on {len(held)} images (floor {FLOORS[name]})  "
              f"trained on {len(train)} in {time.perf_counter() - t0:.0f} s  → {path}", flush=True)
        result[f"{name}_accuracy"] = round(acc, 4)
        goals[f"{name}_accuracy"] = FLOORS[name]
        met &= acc >= FLOORS[name]
    result["goals"] = goals
    result["goal_met"] = bool(met)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
