"""One rank of a test job (started by tests/core/test_distributed.py under torchrun; not a test module).

    torchrun --standalone --nproc_per_node=2 tests/core/dist_worker.py OUT_DIR PRESET[,PRESET...]

Trains each preset for a few steps as this rank, then checks what only the ranks together can
see: the weights are the same on every rank, and the ranks read disjoint shards of the data.
Rank 0 writes OUT_DIR/report.json.
"""

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist

from ganstudio.core import distributed, train
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.events import RunFinished

TINY = {"steps": 3, "batch_size": 4, "log_every": 1, "sample_every": 3, "checkpoint_every": 100, "threads": 1,
        "sample_count": 16}

captured = {}
_run_loop = train._run_loop


def _capture(cfg, run, control, trainer, *args):
    captured["trainer"] = trainer
    yield from _run_loop(cfg, run, control, trainer, *args)


train._run_loop = _capture


def weights_digest(trainer) -> torch.Tensor:
    return torch.cat([p.detach().double().flatten() for m in trainer.nets.values() for p in m.parameters()])


def main() -> None:
    out, names = Path(sys.argv[1]), sys.argv[2].split(",")
    ctx = distributed.from_env()
    distributed.setup(ctx, "cpu")
    report = {}
    for name in names:
        cfg = apply_overrides(PRESETS.get(name).config(), TINY)
        finished = None
        for ev in train.iter_train(cfg, out / name, ctx=ctx):
            if isinstance(ev, RunFinished):
                finished = ev
        t = captured.pop("trainer")
        w = weights_digest(t)
        ws = [torch.zeros_like(w) for _ in range(ctx.world)]
        dist.all_gather(ws, w)
        sampler = t.family.parts()["sampler"]
        if hasattr(sampler, "_shard"):  # index batches: each rank reads its shard of one shuffle
            perm = sampler._shard(0)
            perms = [torch.zeros_like(perm) for _ in range(ctx.world)]
            dist.all_gather(perms, perm)
            overlap, sizes, n = len(set(perms[0].tolist()) & set(perms[1].tolist())), [len(p) for p in perms], sampler.n
        else:  # random patches (super-resolution): each rank draws its own
            patches = sampler.next().flatten(1).float()
            gathered = [torch.zeros_like(patches) for _ in range(ctx.world)]
            dist.all_gather(gathered, patches)
            overlap = sum(bool((a == b).all()) for a in gathered[0] for b in gathered[1])
            sizes, n = [len(g) for g in gathered], 2 * len(patches)
        report[name] = {
            "reason": finished.reason, "step": finished.step, "checkpoint": finished.checkpoint,
            "max_weight_diff": max(float((x - ws[0]).abs().max()) for x in ws),
            "shard_overlap": overlap, "shard_sizes": sizes, "n": n,
        }
    if ctx.main:
        (out / "report.json").write_text(json.dumps(report))
    distributed.shutdown(together=True)


if __name__ == "__main__":
    main()
