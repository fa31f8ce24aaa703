"""Training configuration: the common fields every family shares, plus the family's own options.

`TrainConfig` is frozen, with working defaults; `cfg.options` is an instance of the family's
`Options` dataclass. TOML has one table per common group and one table named after the family:

    [model]
    family = "gan"
    [optim]
    lr_d = 0.0002
    [gan]
    loss = "ns"

Flat keys (`--set lr_d=1e-4`, `--set n_critic=5`) go to whichever of the two has them; a key
neither has fails with the valid names. Configs written before families (one flat table set)
still load: their family follows from `model`, and keys of other families are dropped.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from ganstudio.core import options as opt
from ganstudio.core.errors import ConfigError
from ganstudio.core.families import FAMILIES, family_of_legacy_model, on_register
from ganstudio.core.options import option
from ganstudio.core.registry import Registry

__all__ = ["ConfigError", "TrainConfig", "PRESETS", "apply_overrides", "validate", "to_toml", "from_toml", "load_toml",
           "field_info", "GROUP_ORDER"]


@dataclass(frozen=True)
class TrainConfig:
    # --- data
    dataset: str = option("mnist", "data", "A built-in dataset name (see `ganstudio datasets`) or a path to an image folder, IDX file or .npz.")
    image_size: int = option(0, "data", "Side of the square images the models see; 0 keeps the dataset's native size.", minimum=0)
    channels: int = option(0, "data", "1 for grayscale, 3 for colour; 0 keeps the dataset's own.", choices=(0, 1, 3))
    # --- the GAN system; its own options are in `options`
    family: str = option("gan", "model", "The GAN system: each family has its own networks, losses and options.", choices="family")
    # --- optimisation
    optimizer: str = option("adam", "optim", "Adam for most GANs; RMSprop for weight-clipped WGAN, where momentum destabilises the critic.", choices=("adam", "rmsprop"))
    lr_g: float = option(2e-4, "optim", "Generator learning rate; separate from D's (TTUR, Heusel et al. 2017) so D can learn faster.", minimum=0.0, live=True)
    lr_d: float = option(2e-4, "optim", "Discriminator learning rate (TTUR: often 2-4x G's).", minimum=0.0, live=True)
    beta1: float = option(0.5, "optim", "Adam β1: 0.5 (DCGAN) or 0 (WGAN-GP) damps the momentum that makes GAN training oscillate.", minimum=0.0, below=1.0)
    beta2: float = option(0.999, "optim", "Adam β2: how long the average of squared gradients remembers; 0.99-0.999.", minimum=0.0, below=1.0)
    batch_size: int = option(128, "optim", "Real images per D step.", minimum=1)
    lr_decay: bool = option(False, "optim", "Decay both learning rates linearly to 0 over the second half of training: sharper final samples.", resume=True)
    grad_clip: float = option(0.0, "optim", "Clip each optimiser's gradient to this total L2 norm before its step: one bad batch cannot throw the weights far. 0 = off.", minimum=0.0, live=True)
    ema: float = option(0.0, "tricks", "Decay of an exponential moving average of G's weights (e.g. 0.999, ramped up from the start of the run); samples from the average are smoother and sharper (Karras et al. 2018). 0 = off.", minimum=0.0, below=1.0)
    # --- run
    steps: int = option(2000, "run", "Total number of G updates; a resumed run continues up to this.", minimum=1, resume=True)
    seed: int = option(0, "run", "Seed of every random number: the same seed and config give the same run.")
    device: str = option("auto", "run", "auto picks CUDA when available.", choices=("auto", "cpu", "cuda"), resume=True)
    threads: int = option(0, "run", "CPU threads for torch; 0 = automatic: the cores not busy with other work when training starts (another job on a shared core slows every step), one for tiny 2-D models.", minimum=0, resume=True)
    amp: str = option("auto", "speed", "Mixed precision: matrix maths in 16 bits, about twice as fast on recent GPUs. auto = bf16 on GPUs that have it, else fp16 with a gradient scaler (so small gradients do not underflow); off on the CPU. Penalties (GP, R1) stay in 32 bits.", choices=("auto", "off", "bf16", "fp16"), resume=True)
    channels_last: str = option("auto", "speed", "Store image tensors as NHWC, the layout GPU tensor cores convolve fastest; auto = on with CUDA.", choices=("auto", "on", "off"), resume=True)
    cudnn_benchmark: str = option("auto", "speed", "Let cuDNN time its convolution algorithms once and keep the fastest (shapes never change during training); auto = on with CUDA.", choices=("auto", "on", "off"), resume=True)
    pin_memory: str = option("auto", "speed", "Page-locked host memory, so copies to the GPU run asynchronously beside compute; auto = on with CUDA.", choices=("auto", "on", "off"), resume=True)
    log_every: int = option(10, "run", "Steps between metric records (losses are averaged over them).", minimum=1, resume=True)
    sample_every: int = option(200, "run", "Steps between saved sample grids (the timeline); before the first, grids are also drawn at steps 1, 2, 5, 10, 20, 50, ..., so early learning shows at once.", minimum=1, resume=True)
    checkpoint_every: int = option(1000, "run", "Steps between periodic checkpoints (latest.pt is always updated then too).", minimum=1, resume=True)
    sample_count: int = option(64, "run", "Samples in the fixed-noise grid.", minimum=1)
    eval_every: int = option(0, "run", "Steps between background evaluations (Fréchet distance, KID, precision/recall on 1,000 samples, in a separate process on one CPU thread, so training never waits); each keeps a step_N.pt and adds to eval.json. 0 = off.", minimum=0, resume=True)
    keep_best: bool = option(False, "run", "Keep checkpoints/best.pt, the evaluated checkpoint with the family's best score (Fréchet distance for generators, held-out L1 for pix2pix, cycle L1 for CycleGAN): GANs oscillate, and the last step is not always the best (needs eval_every).", resume=True)
    # --- the family's options (an instance of FAMILIES.get(family).Options); None = its defaults
    options: Any = None

    def __post_init__(self):
        if self.options is None and self.family in FAMILIES:
            object.__setattr__(self, "options", FAMILIES.get(self.family).Options())

    def get(self, name: str) -> Any:
        """A common field or a family option by name."""
        return getattr(self, name)

    def __getattr__(self, name: str) -> Any:
        # Reading mirrors writing: `cfg.n_critic` is the family's option as `--set n_critic=5` is.
        # Only reached when `name` is not a common field.
        if name.startswith("__") or name == "options":
            raise AttributeError(name)
        try:
            return getattr(self.options, name)
        except AttributeError:
            raise AttributeError(f"{self.family} config has no field {name!r}") from None

    def to_dict(self) -> dict[str, Any]:
        """Flat: common fields and the family's options side by side (what events and records carry)."""
        out = {f: getattr(self, f) for f in COMMON}
        out.update(dataclasses.asdict(self.options))
        return out


COMMON = tuple(f.name for f in fields(TrainConfig) if f.metadata)
GROUP_ORDER = ("data", "model", "loss", "optim", "tricks", "translation", "run", "speed")
COMMON_GROUPS = ("data", "model", "optim", "tricks", "run", "speed")


def field_info(family: str | None = None) -> dict[str, dict]:
    """Per field, common ones and then `family`'s options: type, default, group, why, choices, min, live.

    What the Setup form, --help and the TOML writer show; groups keep GROUP_ORDER, a family's
    own groups come after them.
    """
    out = opt.info(TrainConfig)
    if family is not None:
        for name, meta in opt.info(FAMILIES.get(family).Options).items():
            out[name] = {**meta, "family": family}
    return out


def groups_of(info: dict[str, dict]) -> list[str]:
    """The groups of `info`'s fields: GROUP_ORDER first, then any a family adds, as they appear."""
    order = [g for g in GROUP_ORDER if any(m["group"] == g for m in info.values())]
    for meta in info.values():
        if meta["group"] not in order:
            order.append(meta["group"])
    return order


def live_fields(family: str) -> tuple[str, ...]:
    """Fields a running loop accepts between steps."""
    return tuple(n for n, m in field_info(family).items() if m["live"])


def resume_fields(family: str) -> frozenset[str]:
    """Fields a resumed run may change; the rest shape the model, data or optimiser state."""
    return frozenset(n for n, m in field_info(family).items() if m["live"] or m["resume"])


def _route(cfg: TrainConfig, key: str) -> str:
    """'common' or 'options' for a flat key; ConfigError naming the valid keys otherwise."""
    if key in COMMON:
        return "common"
    names = [f.name for f in fields(cfg.options)]
    if key in names:
        return "options"
    owners = [n for n, cls in FAMILIES.items() if n != cfg.family and key in {f.name for f in fields(cls.Options)}]
    hint = f" ({key} is an option of {', '.join(owners)}: set family first)" if owners else ""
    close = [k for k in COMMON + tuple(names) if key in k or k in key]
    if close and not owners:
        hint = f" (did you mean {', '.join(close)}?)"
    raise ConfigError(f"unknown config key {key!r} for family {cfg.family}{hint}; valid: {', '.join(COMMON + tuple(names))}")


def apply_overrides(cfg: TrainConfig, overrides: dict[str, Any]) -> TrainConfig:
    """Return cfg with fields replaced; unknown keys and wrong types raise ConfigError.

    Keys may be flat (`n_critic`) or name the family (`gan.n_critic`); `family` is applied first and
    resets the options to the new family's defaults. A format-1 `model` value that is now a family
    (`model=pix2pix`) switches to that family.
    """
    overrides = dict(overrides)
    family = overrides.pop("family", None)
    model = overrides.get("model")
    if family is None and isinstance(model, str):
        moved = family_of_legacy_model(model)
        if moved is not None and moved != cfg.family:
            family = moved
    if family is not None:
        family = opt.coerce("family", family, "")
        if family not in FAMILIES:
            raise ConfigError(f"family: unknown {family!r}; valid: {', '.join(FAMILIES.names())}")
        if family != cfg.family:
            cfg = dataclasses.replace(cfg, family=family, options=FAMILIES.get(family).Options())
        if "model" in overrides and "model" not in {f.name for f in fields(cfg.options)}:
            overrides.pop("model")  # format-1 spelling of the family itself
    common, own = {}, {}
    for key, value in overrides.items():
        prefix, dot, rest = key.partition(".")
        if dot and prefix == cfg.family:
            key = rest
        (common if _route(cfg, key) == "common" else own)[key] = value
    known = {f.name: f.default for f in fields(TrainConfig)}
    changes = {k: opt.coerce(k, v, known[k]) for k, v in common.items()}
    if own:
        changes["options"] = opt.replace_checked(cfg.options, own, cfg.family)
    return dataclasses.replace(cfg, **changes) if changes else cfg


def validate(cfg: TrainConfig) -> TrainConfig:
    """Check values and values that belong together; raise ConfigError naming the field."""
    if cfg.family not in FAMILIES:
        raise ConfigError(f"family: unknown {cfg.family!r}; valid: {', '.join(FAMILIES.names())}")
    family = FAMILIES.get(cfg.family)
    if not isinstance(cfg.options, family.Options):
        raise ConfigError(f"options: a {cfg.family} config needs {family.__name__} options")
    opt.check_fields(cfg, {"family": FAMILIES})
    opt.check_fields(cfg.options, getattr(family, "registries", lambda: {})())
    family.check(cfg)
    return cfg


# ---------------------------------------------------------------- TOML


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v), ensure_ascii=False)  # JSON escapes are valid TOML basic strings


def to_toml(cfg: TrainConfig) -> str:
    """Human-readable TOML: a table per common group and one for the family, each key after its why."""
    lines = ["# GAN Studio training config. Load with: ganstudio train --config THIS_FILE", ""]
    common = opt.info(TrainConfig)
    for group in COMMON_GROUPS:
        lines.append(f"[{group}]")
        for name, meta in common.items():
            if meta["group"] == group:
                lines += [f"# {meta['why']}", f"{name} = {_toml_value(getattr(cfg, name))}"]
        lines.append("")
    family = FAMILIES.get(cfg.family)
    lines += [f"# {family.title}: {family.summary}", f"[{cfg.family}]"]
    for name, meta in opt.info(family.Options).items():
        lines += [f"# {meta['why']}", f"{name} = {_toml_value(getattr(cfg.options, name))}"]
    lines.append("")
    return "\n".join(lines)


def _from_format1(data: dict) -> dict[str, Any]:
    """A format-1 config (every field of every system in flat group tables) as flat overrides."""
    flat = {}
    for key, value in data.items():
        flat.update(value if isinstance(value, dict) else {key: value})
    family = family_of_legacy_model(str(flat.get("model", "dcgan"))) or "gan"
    own = {f.name for f in fields(FAMILIES.get(family).Options)}
    keep = {k: v for k, v in flat.items() if k in COMMON or k in own}
    keep["family"] = family
    return keep


def from_toml(text: str, base: TrainConfig | None = None, source: str = "config") -> TrainConfig:
    """Parse TOML (group tables and a family table, or flat keys) over `base`; errors name the file."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML ({e})") from None
    try:
        flat: dict[str, Any] = {}
        if "translation" in data and isinstance(data["translation"], dict) and not any(
                isinstance(v, dict) and "family" in v for v in data.values()) and "family" not in data:
            flat = _from_format1(data)
        else:
            tables = {k: v for k, v in data.items() if isinstance(v, dict)}
            flat = {k: v for k, v in data.items() if not isinstance(v, dict)}
            families = [k for k in tables if k in FAMILIES]
            for k, v in tables.items():
                if k not in families and k not in GROUP_ORDER:
                    raise ConfigError(f"unknown table [{k}]; tables are {', '.join(COMMON_GROUPS)} and the family's own")
                if k not in families:
                    flat.update(v)
            family = flat.get("family", (base or TrainConfig()).family)
            for k in families:
                if k != family:
                    raise ConfigError(f"table [{k}] is for family {k}, but this config trains {family}")
                flat.update({f"{k}.{name}": value for name, value in tables[k].items()})
        return apply_overrides(base or TrainConfig(), flat)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def load_toml(path: str | Path, base: TrainConfig | None = None) -> TrainConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {p}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read config file {p}: {e}") from None
    return from_toml(text, base, source=str(p))


# ---------------------------------------------------------------- presets


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    family: str
    overrides: dict

    def config(self) -> TrainConfig:
        return apply_overrides(TrainConfig(family=self.family), self.overrides)

    @property
    def dataset(self) -> str:
        return str(self.overrides.get("dataset", TrainConfig().dataset))

    def refit(self, cfg: TrainConfig, explicit: set[str] | frozenset[str] = frozenset()) -> TrainConfig:
        """cfg with the preset's size and channels dropped when it trains on another dataset than the
        preset's own: those values fit the preset's data (pix2pix-edges2fashion's 32 px), and another
        dataset keeps its own size. Keys in `explicit` were the user's choice and stay."""
        if cfg.dataset == self.dataset:
            return cfg
        reset = {k: 0 for k in DATA_FITTED if k in self.overrides and k not in explicit}
        return apply_overrides(cfg, reset) if reset else cfg


PRESETS: Registry[Preset] = Registry("preset")
# a preset's values for these fit its own dataset; see Preset.refit
DATA_FITTED = ("image_size", "channels")
# the recipe a user's own images train with when no preset is named (see families/gan.py)
OWN_IMAGES_PRESET = "own-images"


def default_preset(dataset: str | None, device: str = "auto") -> str:
    """The preset `ganstudio train` (and the studio) uses when none is named: dcgan-mnist for a built-in
    set, the default recipe for a user's own images (its GPU size when a GPU will train it)."""
    from ganstudio.core.data import BUILTIN_DATASETS

    if dataset is None or str(dataset) in BUILTIN_DATASETS:
        return "dcgan-mnist"
    if device != "cpu" and f"{OWN_IMAGES_PRESET}-gpu" in PRESETS and _cuda():
        return f"{OWN_IMAGES_PRESET}-gpu"
    return OWN_IMAGES_PRESET


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _add_presets(family) -> None:
    """A family's presets, whenever it registers (shipped families now, a plug-in's or a test's later)."""
    for name, (summary, overrides) in family.presets.items():
        if name not in PRESETS:
            PRESETS.register(name, Preset(name, summary, family.name, overrides))


on_register(_add_presets)
