"""Training across processes with PyTorch's own engine: `torchrun ... -m ganstudio train ...`.

torchrun starts one process per GPU (or CPU slot) and tells each its place through the
environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT); nothing here launches processes.
Every rank builds the same models from the same seed, DistributedDataParallel averages the
gradients, each rank reads its own shard of every epoch (DistributedSampler), and only rank 0
touches the run directory. Decisions that end the loop (stop, divergence, setup errors) are
agreed by all ranks through a collective, so no rank is left waiting in one.
"""

from __future__ import annotations

import datetime
import inspect
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

# A rank that dies or never arrives must not leave the others waiting forever.
TIMEOUT = datetime.timedelta(minutes=10)


@dataclass(frozen=True)
class Dist:
    """This process's place in the job: rank `rank` of `world` (one process when world == 1)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


SINGLE = Dist()


def from_env() -> Dist:
    """The job torchrun describes in the environment, or SINGLE outside torchrun."""
    try:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local = int(os.environ.get("LOCAL_RANK", "0"))
    except ValueError:
        return SINGLE
    return Dist(rank, world, local) if world > 1 else SINGLE


def setup(ctx: Dist, device_name: str) -> torch.device:
    """Join the process group (NCCL on CUDA, gloo on CPU) and pick this rank's device."""
    if not ctx.active:
        raise ValueError("setup() is for a distributed job")
    want_cuda = device_name == "cuda" or (device_name == "auto" and torch.cuda.is_available())
    if want_cuda and not torch.cuda.is_available():
        from ganstudio.core.config import ConfigError

        raise ConfigError("device: cuda was asked for but no CUDA GPU is available (use --device cpu or auto)")
    if want_cuda:
        device = torch.device("cuda", ctx.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group("nccl" if want_cuda else "gloo", timeout=TIMEOUT,
                                **({"device_id": device} if want_cuda else {}))
    return device


def initialized() -> bool:
    return dist.is_available() and dist.is_initialized()


def seed_rank(ctx: Dist, seed: int, offset: int = 0) -> None:
    """Reseed the global RNG so this rank draws noise (and dropout) of its own, unlike the others."""
    torch.manual_seed(seed + 1000 * (ctx.rank + 1) + offset)


def shutdown(together: bool = False) -> None:
    """Leave the process group. `together` (a run every rank finished) first waits for all ranks:
    one that tears down its connections while another still uses them can make gloo abort that
    process (std::terminate) at exit. After an error no rank waits, since a peer may never come."""
    if dist.is_available() and dist.is_initialized():
        if together:
            try:
                dist.barrier()
            except RuntimeError:
                pass  # a peer already gone: nothing left to wait for
        dist.destroy_process_group()


def _flag_device() -> torch.device:
    # NCCL reduces only CUDA tensors; gloo only CPU ones.
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def any_rank(ctx: Dist, flag: bool) -> bool:
    """True on every rank when `flag` is true on any: the agreement that ends a loop together."""
    if not ctx.active:
        return flag
    t = torch.tensor([1 if flag else 0], dtype=torch.int32, device=_flag_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def first_error(ctx: Dist, error):
    """The lowest failing rank's `error` (None when every rank is fine), on all ranks."""
    if not ctx.active:
        return error
    errors: list = [None] * ctx.world
    dist.all_gather_object(errors, error)
    return next((e for e in errors if e), None)


def broadcast(ctx: Dist, obj):
    """Rank 0's `obj` on every rank (the checkpoint a resumed job starts from: only rank 0 reads files)."""
    if not ctx.active:
        return obj
    box = [obj if ctx.main else None]
    dist.broadcast_object_list(box, src=0, device=_flag_device())
    return box[0]


def wrap(module: nn.Module, ctx: Dist, device: torch.device) -> nn.Module:
    """DistributedDataParallel around `module` (its gradients are averaged over the ranks), or the module itself.

    SyncBatchNorm only on CUDA: on CPU ranks the extra all-reduce per BatchNorm layer costs more
    than per-rank statistics are worth. Buffers are not re-broadcast on every forward: D runs
    several forwards before one backward, and an in-place broadcast between them would break
    autograd; each rank's BatchNorm keeps its own running statistics (rank 0's are saved).
    """
    if not ctx.active:
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    if device.type == "cuda":
        module = nn.SyncBatchNorm.convert_sync_batchnorm(module)
    kwargs = {"device_ids": [device.index]} if device.type == "cuda" else {}
    if "forward_sync_buffers" in inspect.signature(DDP.__init__).parameters:
        kwargs["forward_sync_buffers"] = False  # newer torch: still synced once, at construction
    else:
        kwargs["broadcast_buffers"] = False
    return DDP(module, **kwargs)
