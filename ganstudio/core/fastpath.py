"""GPU fast paths, switchable in the config and on by default with CUDA: mixed precision (bf16,
or fp16 with a gradient scaler), channels-last tensors, cuDNN autotuning and pinned host memory.

The same calls run on the CPU (bf16 autocast works there too; the others become no-ops), so the
code paths a GPU takes are the ones the tests exercise.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from ganstudio.core.config import ConfigError


def _switch(value: str, cuda: bool) -> bool:
    return value == "on" or (value == "auto" and cuda)


@dataclass
class FastPath:
    device: torch.device
    amp_dtype: torch.dtype | None = None  # None: full precision
    channels_last: bool = False
    pin_memory: bool = False
    scalers: dict[str, torch.amp.GradScaler] = field(default_factory=dict)

    @property
    def amp(self) -> str:
        return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(self.amp_dtype, "off")

    def autocast(self):
        """The forward passes and losses run under this; backward passes and optimiser steps outside it."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp_dtype)

    def full_precision(self):
        """Gradient penalties need their double backward in 32 bits: fp16 would under- or overflow."""
        if self.amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, enabled=False)

    def images(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.ndim == 4 else x

    def backward(self, loss: torch.Tensor, key: str) -> None:
        s = self.scalers.get(key)
        (s.scale(loss) if s is not None else loss).backward()

    def unscale(self, opt: torch.optim.Optimizer, key: str) -> None:
        """Before reading or clipping gradients: bring them back to their true size."""
        s = self.scalers.get(key)
        if s is not None:
            s.unscale_(opt)

    def step(self, opt: torch.optim.Optimizer, key: str) -> None:
        s = self.scalers.get(key)
        if s is None:
            opt.step()
        else:
            s.step(opt)  # skipped when the scaled gradients overflowed; the scale then shrinks
            s.update()

    def state_dict(self) -> dict:
        return {k: s.state_dict() for k, s in self.scalers.items()}

    def load_state_dict(self, state: dict | None) -> None:
        for k, s in self.scalers.items():
            if state and state.get(k):
                s.load_state_dict(state[k])


def resolve(cfg, device: torch.device, modules: list[torch.nn.Module], image: bool, scaler_keys=("d", "g")) -> FastPath:
    """The fast paths `cfg` asks for on `device`; converts `modules` to channels-last when that is on."""
    cuda = device.type == "cuda"
    if cfg.amp == "fp16" and not cuda:
        raise ConfigError("amp: fp16 needs a CUDA GPU (its gradient scaler is CUDA's); use bf16 or off on the CPU")
    if cfg.amp == "auto":
        dtype = (torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16) if cuda else None
    else:
        dtype = {"off": None, "bf16": torch.bfloat16, "fp16": torch.float16}[cfg.amp]
    fp = FastPath(device, dtype, image and _switch(cfg.channels_last, cuda), cuda and _switch(cfg.pin_memory, cuda))
    if dtype is torch.float16:
        fp.scalers = {k: torch.amp.GradScaler("cuda") for k in scaler_keys}
    if fp.channels_last:
        for m in modules:
            m.to(memory_format=torch.channels_last)
    if cuda:
        torch.backends.cudnn.benchmark = _switch(cfg.cudnn_benchmark, cuda)
    return fp
