"""Latent codes carried inside a generator's noise vector (InfoGAN): their layout, priors, and traversals.

A generator with codes takes one standard-normal vector z of `z_dim` entries like any other: the
first `noise` entries are plain noise, and each code owns the slots after them.
- A categorical code of k values owns k slots; its value is the slot that is largest. For
  z ~ N(0, I) every value is equally likely: the code's uniform prior.
- A continuous code owns one slot u; its value is u for a normal prior, or 2Φ(u) − 1 = erf(u/√2)
  for the uniform prior on [−1, 1] (InfoGAN's), which is uniform when u is standard normal.
So sampling, seeds, truncation, interpolation, export and every other tool that draws z ~ N(0, I)
draws the codes from their priors with no special case, and `CodeLayout.set` writes a chosen value
into the slots (the sliders, `sample --traverse`). A family lists its codes in its checkpoint meta as
`meta["codes"]` (plain dicts, see `CodeLayout.from_meta`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

PRIORS = ("uniform", "normal")
MAX_CATEGORIES = 1000
MAX_CODES = 64


class CodeError(ValueError):
    """A code layout that does not fit (a count, size or name)."""


@dataclass(frozen=True)
class Code:
    name: str
    kind: str           # "categorical" or "continuous"
    size: int = 1       # values of a categorical code; 1 for a continuous one
    prior: str = ""     # continuous: "uniform" on [-1, 1] or "normal"

    @property
    def slots(self) -> int:
        return self.size if self.kind == "categorical" else 1

    def values(self, steps: int = 0, span: tuple[float, float] | None = None) -> list[float]:
        """The values a traversal shows: every category, or `steps` evenly spaced over the prior's
        range ([-1, 1] uniform, [-2, 2] normal) or over `span`."""
        if self.kind == "categorical":
            return [float(v) for v in range(self.size)]
        lo, hi = span if span is not None else self.range
        n = steps or 9
        return [lo + (hi - lo) * i / (n - 1) for i in range(n)] if n > 1 else [0.5 * (lo + hi)]

    @property
    def range(self) -> tuple[float, float]:
        return (-1.0, 1.0) if self.prior == "uniform" else (-2.0, 2.0)

    def describe(self) -> str:
        if self.kind == "categorical":
            return f"{self.name}: categorical, {self.size} values"
        return f"{self.name}: continuous, {'uniform on [-1, 1]' if self.prior == 'uniform' else 'standard normal'}"


@dataclass(frozen=True)
class CodeLayout:
    noise: int
    codes: tuple[Code, ...]

    @property
    def z_dim(self) -> int:
        return self.noise + sum(c.slots for c in self.codes)

    @property
    def categorical(self) -> tuple[Code, ...]:
        return tuple(c for c in self.codes if c.kind == "categorical")

    @property
    def continuous(self) -> tuple[Code, ...]:
        return tuple(c for c in self.codes if c.kind == "continuous")

    def offset(self, i: int) -> int:
        return self.noise + sum(c.slots for c in self.codes[:i])

    def index(self, code: str | int) -> int:
        """A code's position from its name or number (0-based, or its name as shown)."""
        if isinstance(code, int) or (isinstance(code, str) and code.strip().isdigit()):
            i = int(code)
            if 0 <= i < len(self.codes):
                return i
            raise CodeError(f"code {i} does not exist; this model has codes 0..{len(self.codes) - 1} "
                            f"({', '.join(c.name for c in self.codes)})")
        for i, c in enumerate(self.codes):
            if c.name == code:
                return i
        raise CodeError(f"no code named {code!r}; this model's codes are {', '.join(c.name for c in self.codes)}")

    def to_meta(self) -> dict:
        return {"noise": self.noise, "codes": [asdict(c) for c in self.codes]}

    @classmethod
    def from_meta(cls, meta: dict | None) -> "CodeLayout | None":
        if not meta:
            return None
        return cls(int(meta["noise"]), tuple(Code(**c) for c in meta["codes"]))

    def renamed(self, names: dict[int, str]) -> "CodeLayout":
        return CodeLayout(self.noise, tuple(Code(names.get(i, c.name), c.kind, c.size, c.prior)
                                            for i, c in enumerate(self.codes)))

    # ------------------------------------------------------------ reading and writing z

    def decode(self, z: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """(category index (N,) int64 per categorical code, continuous values (N, n_continuous))."""
        cats, conts = [], []
        for i, c in enumerate(self.codes):
            s = z[:, self.offset(i):self.offset(i) + c.slots]
            if c.kind == "categorical":
                cats.append(s.argmax(1))
            else:
                conts.append(_continuous(s[:, 0], c.prior))
        cont = torch.stack(conts, 1) if conts else z.new_zeros(len(z), 0)
        return cats, cont

    def set(self, z: torch.Tensor, code: int, value: float) -> torch.Tensor:
        """A copy of z (N, z_dim) whose code `code` reads `value` (a category index, or a continuous value)."""
        c = self.codes[code]
        z = z.clone()
        o = self.offset(code)
        if c.kind == "categorical":
            k = int(round(value))
            if not 0 <= k < c.size:
                raise CodeError(f"{c.name} takes values 0..{c.size - 1}, not {value}")
            z[:, o:o + c.size] = 0.0
            z[:, o + k] = 1.0
        else:
            z[:, o] = _slot(float(value), c.prior)
        return z

    def get(self, z: torch.Tensor, code: int) -> torch.Tensor:
        """Code `code`'s value for each row of z: the category index (as float) or the continuous value."""
        c = self.codes[code]
        o = self.offset(code)
        s = z[:, o:o + c.slots]
        return s.argmax(1).float() if c.kind == "categorical" else _continuous(s[:, 0], c.prior)


def _continuous(u: torch.Tensor, prior: str) -> torch.Tensor:
    return torch.erf(u / math.sqrt(2.0)) if prior == "uniform" else u


def _slot(value: float, prior: str) -> float:
    if prior != "uniform":
        return value
    v = min(max(value, -1 + 1e-6), 1 - 1e-6)  # the uniform prior's support is [-1, 1]
    return math.sqrt(2.0) * float(torch.erfinv(torch.tensor(v)))


def parse_layout(noise: int, categorical: str, continuous: int, prior: str, names: str = "") -> CodeLayout:
    """The layout the options describe, or CodeError saying what does not fit.

    `categorical` is a comma-separated list of category counts ("10", "10,3" or "" for none);
    `names` an optional comma-separated list of code names, categorical codes first.
    """
    sizes = []
    for part in filter(None, (p.strip() for p in categorical.split(","))):
        if not part.isdigit():
            raise CodeError(f"categorical: {part!r} is not a count of values; write e.g. 10 or 10,3 (or nothing for none)")
        k = int(part)
        if k < 2 or k > MAX_CATEGORIES:
            raise CodeError(f"categorical: a code takes 2 to {MAX_CATEGORIES} values, not {k}")
        sizes.append(k)
    if continuous < 0:
        raise CodeError(f"continuous: a count of codes, not {continuous}")
    n = len(sizes) + continuous
    if n == 0:
        raise CodeError("InfoGAN needs at least one code: set categorical (e.g. 10) or continuous (e.g. 2)")
    if n > MAX_CODES:
        raise CodeError(f"{n} codes is more than {MAX_CODES}; each code needs its own slider and its own part of Q's output")
    if prior not in PRIORS:
        raise CodeError(f"continuous_prior: {prior!r} is not one of {', '.join(PRIORS)}")
    given = [s.strip() for s in names.split(",")] if names.strip() else []
    if given and len(given) != n:
        raise CodeError(f"code_names: {len(given)} names for {n} codes ({len(sizes)} categorical, then {continuous} continuous)")
    if len(set(given)) != len(given) or any(not s for s in given):
        raise CodeError("code_names: every code needs its own, non-empty name")
    default = [f"cat{i + 1}" if len(sizes) > 1 else "category" for i in range(len(sizes))] + [f"c{i + 1}" for i in range(continuous)]
    names_ = given or default
    codes = [Code(names_[i], "categorical", k) for i, k in enumerate(sizes)]
    codes += [Code(names_[len(sizes) + j], "continuous", 1, prior) for j in range(continuous)]
    return CodeLayout(noise, tuple(codes))


class CodeInput(nn.Module):
    """The first layer of a generator with codes: z (N, z_dim) → [noise | one-hot categories | continuous values].

    Only tensor operations (a comparison with the slot maximum, erf), so the same module traces to
    ONNX and TorchScript.
    """

    def __init__(self, layout: CodeLayout):
        super().__init__()
        self.noise = layout.noise
        self.parts = [(c.kind, c.slots, c.prior) for c in layout.codes]
        self.out_dim = layout.z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = [z[:, :self.noise]]
        o = self.noise
        for kind, slots, prior in self.parts:
            s = z[:, o:o + slots]
            if kind == "categorical":
                out.append((s >= s.max(1, keepdim=True).values).to(z.dtype))  # one-hot of the largest slot
            elif prior == "uniform":
                out.append(torch.erf(s * (1.0 / math.sqrt(2.0))))
            else:
                out.append(s)
            o += slots
        return torch.cat(out, 1)


def traverse(G: nn.Module, layout: CodeLayout, code: int, values: list[float], base: torch.Tensor) -> torch.Tensor:
    """Images (len(values) · len(base), ...) of code `code` set to each value (rows) for each base latent (columns)."""
    rows = [layout.set(base, code, v) for v in values]
    with torch.inference_mode():
        return G(torch.cat(rows)).float().clamp(-1, 1)


def names_file(checkpoint) -> Path:
    """Where the names a person gave a run's codes are kept: beside its checkpoints, for all of them
    (`checkpoint` is a checkpoint file or a run folder)."""
    p = Path(checkpoint)
    if p.is_dir():
        return (p / "checkpoints" if (p / "checkpoints").is_dir() else p) / "code_names.json"
    return p.parent / "code_names.json"


def load_names(checkpoint, layout: CodeLayout) -> CodeLayout:
    """The layout with the names saved beside the checkpoint, where there are valid ones."""
    path = names_file(checkpoint)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return layout
    if not isinstance(saved, dict):
        return layout
    names = {}
    for k, v in saved.items():
        if str(k).isdigit() and int(k) < len(layout.codes) and isinstance(v, str) and v.strip():
            names[int(k)] = v.strip()[:40]
    return layout.renamed(names)


def save_names(checkpoint, layout: CodeLayout) -> Path:
    """Write the layout's names beside the checkpoint (atomically); OSError if the folder is not writable."""
    path = names_file(checkpoint)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({str(i): c.name for i, c in enumerate(layout.codes)}, indent=1), encoding="utf-8")
    os.replace(tmp, path)
    return path
