"""Using a trained model: read any checkpoint (upgrading old formats), and rebuild the network of
one of its family's inference entries. Sampling, Explore, Translate, evaluation and export start here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ganstudio.core.checkpoint import load_checkpoint, nonfinite_tensors
from ganstudio.core.codes import CodeLayout, load_names
from ganstudio.core.errors import CheckpointError
from ganstudio.core.families import FAMILIES, Entry, Signature, family_of_legacy_model
from ganstudio.core.sampling import conditional_labels


def upgrade(state: dict, source: str = "checkpoint") -> dict:
    """A format-1 checkpoint (one Trainer per kind of model) in today's layout; newer ones as they are."""
    if state.get("format_version", 1) >= 2:
        return state
    family = family_of_legacy_model(str(state.get("model_name", "")))
    if family is None:
        raise CheckpointError(f"{source}: a format-1 checkpoint of an unknown model {state.get('model_name')!r}")
    try:
        parts = FAMILIES.get(family).upgrade_v1(state)
        log = {"sums": {}, "counts": {}, "steps": int(state.get("acc_n", 0))}
        acc, n = state.get("acc"), int(state.get("acc_n", 0))
        if acc is not None and n:
            for key, v in zip(("loss/d", "loss/g", "d/real", "d/fake"), acc.tolist()):
                log["sums"][key], log["counts"][key] = torch.tensor(v, dtype=torch.float64), n
            for key, v in state.get("extra_acc", {}).items():
                log["sums"][key], log["counts"][key] = v.double(), n
    except (KeyError, TypeError, AttributeError, ValueError) as e:
        raise CheckpointError(f"{source}: an incomplete or malformed format-1 checkpoint ({str(e)[:120] or type(e).__name__})") from None
    return {
        "format_version": 2, "kind": state["kind"], "family": family, "config_toml": state.get("config_toml", ""),
        "step": int(state.get("step", 0)), "rng": state.get("rng", {}), "amp_scalers": state.get("amp_scalers"),
        "log": log, "dataset": state.get("dataset", {}), **parts,
    }


def _tensors(v) -> bool:
    """A dict of tensors, nested dicts of them, or lists of them (optimiser state)."""
    if isinstance(v, torch.Tensor):
        return True
    if isinstance(v, dict):
        return all(isinstance(k, (str, int)) and _tensors(x) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return all(_tensors(x) for x in v)
    return isinstance(v, (int, float, bool, str)) or v is None


# field → (what it must be, the check); read once here so no caller meets a malformed value
_FIELDS = {
    "family": ("a family name", lambda v: isinstance(v, str) and v != ""),
    "step": ("a whole number ≥ 0", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0),
    "config_toml": ("the run's config as TOML text", lambda v: isinstance(v, str)),
    "meta": ("a table of the networks' shape", lambda v: isinstance(v, dict)),
    "nets": ("network name → weights", lambda v: isinstance(v, dict) and v != {}
             and all(isinstance(w, dict) and all(isinstance(t, torch.Tensor) for t in w.values()) for w in v.values())),
    "ema": ("network name → averaged weights", lambda v: isinstance(v, dict)
            and all(isinstance(w, dict) and all(isinstance(t, torch.Tensor) for t in w.values()) for w in v.values())),
    "opts": ("optimiser states", lambda v: isinstance(v, dict) and _tensors(v)),
    "parts": ("sampler and pool states", lambda v: isinstance(v, dict) and _tensors(v)),
    "fixed": ("the preview inputs", lambda v: v is None or (isinstance(v, dict) and all(isinstance(t, torch.Tensor) for t in v.values()))),
    "rng": ("random number generator states", lambda v: isinstance(v, dict) and isinstance(v.get("torch"), torch.Tensor)
            and v["torch"].dtype == torch.uint8),
    "log": ("log sums and counts", lambda v: isinstance(v, dict) and isinstance(v.get("sums"), dict)
            and isinstance(v.get("counts"), dict) and isinstance(v.get("steps"), int)),
}


def check_fields(state: dict, path) -> None:
    """Every field of a format-2 state has the type it must have; CheckpointError naming the first that does not."""
    for name, (what, ok) in _FIELDS.items():
        if name not in state:
            raise CheckpointError(f"{path}: malformed checkpoint: no {name!r} ({what})")
        v = state[name]
        if not ok(v):
            shown = repr(v) if isinstance(v, (str, int, float, bool)) or v is None else type(v).__name__
            raise CheckpointError(f"{path}: malformed checkpoint: {name!r} is {shown[:60]}, not {what}")


def read_checkpoint(path: str | Path) -> dict:
    """A checkpoint's state in today's layout (see loop.Session.state_dict), its fields checked; CheckpointError otherwise."""
    state = upgrade(load_checkpoint(path), str(path))
    check_fields(state, path)
    if state.get("family") not in FAMILIES:
        raise CheckpointError(f"{path}: trained by family {state.get('family')!r}, which this GAN Studio does not have; "
                              f"it has {', '.join(FAMILIES.names())}")
    return state


def config_from_checkpoint(path: str | Path):
    """(the TrainConfig a checkpoint was trained with, its state in today's layout)."""
    from ganstudio.core.config import from_toml

    state = read_checkpoint(path)
    if not state.get("config_toml"):
        raise CheckpointError(f"{path}: checkpoint has no config")
    return from_toml(state["config_toml"], source=str(path)), state


def signature_of(state: dict) -> Signature:
    return FAMILIES.get(state["family"]).signature(state["meta"])


def require_kind(path, state: dict, sig: Signature, kind: str) -> None:
    """CheckpointError unless the family's signature is of `kind`, saying what the model is for."""
    if sig.kind == kind:
        return
    what = {"generate": "a generator of samples from noise", "translate": "an image-translation model"}
    todo = {"generate": "sample or explore it instead", "translate": "translate images with it instead"}
    raise CheckpointError(f"{path}: holds {what.get(sig.kind, sig.kind)} ({state['family']}), not "
                          f"{what.get(kind, kind)}; {todo.get(sig.kind, 'use it elsewhere')}")


@dataclass
class Loaded:
    """One entry's network, rebuilt on the CPU in eval mode, with its description."""
    net: torch.nn.Module
    entry: Entry
    family: str
    meta: dict
    step: int
    state: dict


def load_entry(path: str | Path, entry: str | None = None, kind: str | None = None, state: dict | None = None) -> Loaded:
    """The network of `entry` (default: the family's first), EMA weights where the run kept them.

    `kind` ("generate" or "translate") refuses a checkpoint whose family offers something else, with
    a message saying what it is for.
    """
    state = state if state is not None else read_checkpoint(path)
    family = FAMILIES.get(state["family"])
    try:
        sig = family.signature(state["meta"])
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: checkpoint does not match its model ({str(e).splitlines()[0][:120]})") from None
    if kind is not None:
        require_kind(path, state, sig, kind)
    e = sig.entry(entry)
    try:
        # Built on the meta device: no weight initialisation, so no draw from the global RNG that a
        # training thread in the same process may be using (exact resume depends on it).
        with torch.device("meta"):
            net = family.entry_network(state["meta"], e)
        weights = state.get("ema", {}).get(e.net) or state["nets"][e.net]
        net.load_state_dict(weights, assign=True)
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        raise CheckpointError(f"{path}: checkpoint does not match its model ({str(err).splitlines()[0][:120]})") from None
    bad = nonfinite_tensors(weights)
    if bad:  # written by a version that saved diverged states, or edited: it would draw NaN everywhere
        raise CheckpointError(f"{path}: {e.net}'s weights hold NaN or infinite values ({len(bad)} tensors, e.g. {bad[0]}): "
                              "training had diverged when this was saved; use an earlier checkpoint of the run")
    return Loaded(net.eval(), e, state["family"], state["meta"], int(state.get("step", 0)), state)


# ---------------------------------------------------------------- generators (signature kind "generate")


@dataclass
class LoadedGenerator:
    """A generator rebuilt from a checkpoint, with what is needed to sample it."""

    G: torch.nn.Module
    z_dim: int
    kind: str
    num_classes: int
    classes: tuple[str, ...]
    centers: np.ndarray | None
    sigma: float | None
    step: int
    codes: CodeLayout | None = None  # latent codes carried in z (InfoGAN), with the names given to them

    @torch.inference_mode()
    def sample(self, n: int, seed: int = 0, label: int | None = None, psi: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | None]:
        """n samples from the seed's stream of latents (sample 0 is `seed_to_z(seed)`), truncated by ψ."""
        g = torch.Generator().manual_seed(seed)
        z = torch.randn(n, self.z_dim, generator=g) * psi
        y = None
        if self.num_classes:
            if label is None:
                y = conditional_labels(self.num_classes, n)[:n] if n >= self.num_classes else torch.arange(n) % self.num_classes
            else:
                y = torch.full((n,), label, dtype=torch.long)
        elif label is not None:
            raise CheckpointError("this model was trained without labels; --class needs a conditional model")
        return self.G(z, y), y


def load_generator(path: str | Path, state: dict | None = None) -> LoadedGenerator:
    """Rebuild G (EMA weights when the run kept them) from a checkpoint, in eval mode on the CPU."""
    ld = load_entry(path, kind="generate", state=state)
    ports = {p.kind: p for p in ld.entry.inputs}
    out = ld.entry.outputs[0]
    meta = ld.meta
    classes = tuple(meta.get("classes") or ())
    num_classes = ports["class"].choices if "class" in ports else 0
    centers = meta.get("centers")
    return LoadedGenerator(
        G=ld.net, z_dim=ports["noise"].shape[0], kind="points" if out.kind == "points" else "image",
        num_classes=num_classes, classes=classes, centers=None if centers is None else np.asarray(centers, np.float64),
        sigma=meta.get("sigma"), step=ld.step, codes=_codes(path, meta),
    )


def _codes(path, meta: dict) -> CodeLayout | None:
    try:
        layout = CodeLayout.from_meta(meta.get("codes"))
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: malformed code layout in the checkpoint ({str(e)[:100]})") from None
    return load_names(path, layout) if layout is not None and path is not None else layout


# ---------------------------------------------------------------- translators (signature kind "translate")


def load_translator(path: str | Path, direction: str = "AtoB", state: dict | None = None):
    """(generator, image size, input channels, (A, B) domain names) of a translation entry, on the CPU in eval mode."""
    if direction not in ("AtoB", "BtoA"):
        raise CheckpointError(f"direction must be AtoB or BtoA, not {direction}")
    state = state if state is not None else read_checkpoint(path)
    sig = signature_of(state)
    require_kind(path, state, sig, "translate")
    names = [e.name for e in sig.entries]
    if direction not in names:
        raise CheckpointError(f"{path}: a {state['family']} model translates one way only ({', '.join(names)})")
    ld = load_entry(path, direction, state=state)
    image = ld.entry.inputs[0]
    return ld.net, image.shape[-1], image.shape[0], (sig.entries[0].source, sig.entries[0].target)
