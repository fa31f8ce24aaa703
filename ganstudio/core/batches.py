"""Shuffled batches of indices from an in-memory dataset, with their own RNG, saved in checkpoints."""

from __future__ import annotations

import torch


class BatchSampler:
    """Shuffled batches of indices from an in-memory dataset, epoch by epoch, with its own RNG.

    Indexing a tensor already in memory (on the device) is far cheaper than a
    DataLoader's per-sample fetch and collate; the state is small and saved in
    checkpoints so a resumed run sees exactly the batches it would have.

    In a distributed job (`ctx.world` > 1) each epoch's order comes from a DistributedSampler
    seeded alike on every rank and moved on with set_epoch: the ranks read disjoint shards of one
    shuffle, and `batch_size` is per rank. The state is then (epoch, position), which every rank
    recomputes; a checkpoint carried to a different number of processes starts the next epoch.
    """

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device, ctx=None):
        from ganstudio.core.distributed import SINGLE

        self.ctx = ctx or SINGLE
        self.seed = seed
        self.n, self.device = n, device
        self.epoch = 0
        self.pos = 0
        self.pin = False  # page-locked index batches: their copy to the GPU does not block
        if self.ctx.active:
            self.batch_size = max(1, min(batch_size, n // self.ctx.world))
            self.gen = None
            self.perm = self._shard(0)
        else:
            self.batch_size = min(batch_size, n)
            self.gen = torch.Generator().manual_seed(seed)
            self.perm = torch.randperm(n, generator=self.gen)

    def _shard(self, epoch: int) -> torch.Tensor:
        from torch.utils.data import DistributedSampler

        sampler = DistributedSampler(range(self.n), num_replicas=self.ctx.world, rank=self.ctx.rank,
                                     shuffle=True, seed=self.seed, drop_last=True)
        sampler.set_epoch(epoch)
        return torch.tensor(list(sampler), dtype=torch.int64)

    def next(self) -> torch.Tensor:
        if self.pos + self.batch_size > len(self.perm):  # drop the ragged tail: every batch has batch_size samples
            self.epoch += 1
            self.perm = self._shard(self.epoch) if self.gen is None else torch.randperm(self.n, generator=self.gen)
            self.pos = 0
        if self.pin and not self.perm.is_pinned():
            self.perm = self.perm.pin_memory()
        idx = self.perm[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx.to(self.device, non_blocking=True)

    def state_dict(self) -> dict:
        """A snapshot of the state; the permutation is shared, not copied: it is replaced each epoch and
        never changed in place (the loop snapshots this before every step, and 100,000 indices cost a
        copy per step that a 2-D run felt)."""
        if self.gen is None:
            return {"epoch": self.epoch, "pos": self.pos, "world": self.ctx.world}
        return {"gen": self.gen.get_state(), "perm": self.perm, "pos": self.pos, "epoch": self.epoch}

    def load_state_dict(self, s: dict) -> None:
        same_layout = (self.gen is None) == ("gen" not in s) and int(s.get("world", 1)) == self.ctx.world
        if same_layout and self.gen is not None:
            self.gen.set_state(s["gen"])
            self.perm, self.pos, self.epoch = s["perm"].clone(), int(s["pos"]), int(s["epoch"])
        elif same_layout:
            self.epoch, self.pos = int(s["epoch"]), int(s["pos"])
            self.perm = self._shard(self.epoch)
        else:
            # Saved by a job with another number of processes: its batch order cannot continue
            # here; go on with a fresh shuffle from the next epoch (weights, optimisers and step are exact).
            self.epoch, self.pos = int(s.get("epoch", 0)) + 1, 0
            if self.gen is None:
                self.perm = self._shard(self.epoch)
            else:
                self.gen.manual_seed(self.seed + self.epoch)
                self.perm = torch.randperm(self.n, generator=self.gen)
