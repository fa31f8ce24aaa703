"""Export a trained generator to ONNX or TorchScript, checked against the checkpoint it came from.

What is exported is the network alone, in eval mode, on the CPU:
- a generator of samples: inputs `z` (N, z_dim) float32 and, for a conditional model, `y` (N,)
  int64 class indices; output `image` (N, C, H, W) in [-1, 1] (or `points` (N, 2) for 2-D models);
- a translation generator (pix2pix, either CycleGAN direction): input `image` (N, C_in, H, W) in
  [-1, 1] at the training size; output `translated` (N, C_out, H, W) in [-1, 1].
The batch axis N is dynamic in both formats. A description of the inputs, the class names and the
value range travels inside the file (ONNX metadata_props; a `ganstudio.json` extra file in
TorchScript), so another tool can use the model without this package.

Every export is verified before it is put in place: the file is loaded back by an independent
runtime (onnxruntime for ONNX, the TorchScript interpreter otherwise) and run on sample inputs at
batch sizes other than the traced one; the largest absolute difference from the PyTorch model must
be at most PARITY_TOLERANCE. Nothing is written at the target path unless the check passes, and an
existing file is never replaced unless the caller says so.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

import ganstudio

from ganstudio.core.checkpoint import create_temp
from ganstudio.core.errors import UserError

FORMATS = ("onnx", "torchscript")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}  # what each format's files are called
# ONNX opset 18 (onnxruntime ≥ 1.14, ONNX ≥ 1.13): covers every op the models use, and is what
# torch's exporter targets natively, so no version conversion step is involved.
ONNX_OPSET = 18
PARITY_TOLERANCE = 1e-4
PARITY_BATCHES = (1, 3)  # checked batch sizes; the graph is traced at batch 2
ONNX_PACKAGES = "pip install 'ganstudio[export]' (onnx, onnxscript, onnxruntime)"


class ExportError(UserError):
    """An export that cannot be done as asked; str(e) is one clear line."""


def format_for(path: str | Path) -> str | None:
    """The format a file name asks for (.onnx → onnx; .pt, .pth, .ts → torchscript), or None."""
    suffix = Path(path).suffix.lower()
    return "onnx" if suffix == ".onnx" else "torchscript" if suffix in (".pt", ".pth", ".ts") else None


@dataclass
class ExportResult:
    path: Path
    format: str
    max_diff: float  # largest |exported - PyTorch| over the parity inputs
    batches: tuple[int, ...]  # batch sizes the parity check ran
    inputs: dict[str, str]  # name -> shape and meaning
    outputs: dict[str, str]
    seconds: float
    opset: int | None = None
    metadata: dict = field(default_factory=dict)

    def summary(self) -> str:
        fmt = f"ONNX opset {self.opset}" if self.format == "onnx" else "TorchScript"
        return (f"wrote {self.path} ({fmt}, {self.path.stat().st_size / 1e6:.1f} MB); parity: max |difference| "
                f"{self.max_diff:.1e} over batches {', '.join(map(str, self.batches))} (tolerance {PARITY_TOLERANCE:g})")


# ---------------------------------------------------------------------------------------------
# What gets exported


class SampleGenerator(nn.Module):
    """G(z[, y]) without the Python-side label checks, so tracing sees only tensor ops."""

    def __init__(self, G: nn.Module):
        super().__init__()
        self.embed = G.embed
        self.body = G.body

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.embed is not None:
            z = torch.cat([z, self.embed(y)], dim=1)  # (N, z_dim + embed_dim)
        return self.body(z)


@dataclass
class Exportable:
    module: nn.Module
    example: tuple[torch.Tensor, ...]  # batch-2 inputs for tracing
    make_inputs: object  # batch size -> inputs tuple, for the parity check
    input_names: tuple[str, ...]
    output_name: str
    inputs: dict[str, str]
    outputs: dict[str, str]
    metadata: dict


def load_exportable(checkpoint: str | Path, direction: str = "AtoB") -> Exportable:
    """The network of a checkpoint (generator or translation model) with its inputs, ready to export."""
    from ganstudio.core.inference import load_generator, load_translator, read_checkpoint, signature_of

    state = read_checkpoint(checkpoint)
    step = int(state.get("step", 0))
    meta = {"producer": f"GAN Studio {ganstudio.__version__}", "step": step, "family": state["family"],
            "model": state["meta"].get("model", state["family"]), "value_range": [-1.0, 1.0]}
    if signature_of(state).kind == "translate":
        G, size, in_ch, names = load_translator(str(checkpoint), direction, state=state)
        out_ch = _out_channels(G, in_ch, size)
        src, dst = (names[0], names[1]) if direction == "AtoB" else (names[1], names[0])
        g = torch.Generator().manual_seed(0)

        def make(n: int) -> tuple[torch.Tensor, ...]:
            return (torch.rand(n, in_ch, size, size, generator=g) * 2 - 1,)

        from ganstudio.core.upscale import upscale_factor

        scale = upscale_factor(signature_of(state).entry(direction))  # super-resolution: the output is larger
        out = size * scale
        ins = {"image": f"(N, {in_ch}, {size}, {size}) float32 in [-1, 1], domain {src}"}
        outs = {"translated": f"(N, {out_ch}, {out}, {out}) float32 in [-1, 1], domain {dst}"}
        meta.update(task="translate", direction=direction, source=src, target=dst, image_size=size,
                    in_channels=in_ch, out_channels=out_ch, **({"scale": scale} if scale > 1 else {}))
        return Exportable(G, make(2), make, ("image",), "translated", ins, outs, meta)

    gen = load_generator(str(checkpoint), state=state)
    module = SampleGenerator(gen.G).eval()
    g = torch.Generator().manual_seed(0)
    k = gen.num_classes

    def make(n: int) -> tuple[torch.Tensor, ...]:
        z = torch.randn(n, gen.z_dim, generator=g)
        return (z, torch.arange(n) % k) if k else (z,)

    ins = {"z": f"(N, {gen.z_dim}) float32, standard normal"}
    if k:
        ins["y"] = f"(N,) int64 class index 0..{k - 1}"
    out_shape = tuple(signature_of(state).entry().outputs[0].shape)
    if gen.kind == "points":
        out_name, outs = "points", {"points": "(N, 2) float32"}
    else:
        out_name, outs = "image", {"image": f"(N, {', '.join(map(str, out_shape))}) float32 in [-1, 1]"}
    meta.update(task="generate", z_dim=gen.z_dim, num_classes=k, classes=list(gen.classes), output_shape=list(out_shape))
    return Exportable(module, make(2), make, tuple(ins), out_name, ins, outs, meta)


def _out_channels(G: nn.Module, in_ch: int, size: int) -> int:
    with torch.inference_mode():
        return int(G(torch.zeros(1, in_ch, size, size)).shape[1])


# ---------------------------------------------------------------------------------------------
# Export and check


def export_model(checkpoint: str | Path, fmt: str, out: str | Path, *, direction: str = "AtoB",
                 overwrite: bool = False, progress=None) -> ExportResult:
    """Export the checkpoint's generator to `out` and verify it; raises ExportError on any failure."""
    say = progress or (lambda _msg: None)
    if fmt not in FORMATS:
        raise ExportError(f"unknown format {fmt!r}; choose {' or '.join(FORMATS)}")
    out = Path(out)
    _check_target(out, overwrite)
    if fmt == "onnx":
        _require_onnx()
    t0 = time.perf_counter()
    ex = load_exportable(checkpoint, direction)
    # The temporary file sits next to the target, so the final rename never crosses filesystems.
    try:
        tmp, fd = create_temp(out)  # mode 0666 less the umask, as the user's other files
        os.close(fd)
    except OSError as e:
        raise ExportError(f"cannot write to {out.parent}: {e.strerror or e}") from None
    try:
        say(f"exporting to {fmt}")
        if fmt == "onnx":
            _export_onnx(ex, tmp)
        else:
            _export_torchscript(ex, tmp)
        say("checking the exported file against the checkpoint")
        diff = _parity(ex, fmt, tmp)
        if not diff <= PARITY_TOLERANCE:  # also catches NaN
            raise ExportError(f"the exported model differs from the checkpoint by up to {diff:.3g} "
                              f"(tolerance {PARITY_TOLERANCE:g}); nothing was written")
        if out.exists() and not overwrite:  # appeared while exporting
            raise ExportError(f"{out} already exists; choose another name (nothing was overwritten)")
        os.replace(tmp, out)
    except OSError as e:
        raise ExportError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, fmt, diff, PARITY_BATCHES, ex.inputs, ex.outputs, time.perf_counter() - t0,
                        ONNX_OPSET if fmt == "onnx" else None, ex.metadata)


def _check_target(out: Path, overwrite: bool) -> None:
    if out.is_dir():
        raise ExportError(f"{out} is a folder; give a file name, e.g. {out / 'generator.onnx'}")
    if out.exists() and not overwrite:
        raise ExportError(f"{out} already exists; choose another name (nothing was overwritten)")
    parent = out.parent
    if not parent.is_dir():
        raise ExportError(f"folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError(f"cannot write to {parent}: {'read-only file system' if _read_only(parent) else 'permission denied'}")


def _read_only(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs (Windows)
        return False


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise ExportError(f"ONNX export needs extra packages: {ONNX_PACKAGES}") from None


def _reason(e: BaseException) -> str:
    """The first line of the innermost cause: the exporters wrap the useful message (which op) in generic ones."""
    while e.__cause__ is not None:
        e = e.__cause__
    return f"{type(e).__name__}: {_first_line(e)}"


def _first_line(e: BaseException) -> str:
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(e))  # the exporter colours its messages for terminals
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[0] if lines else type(e).__name__)[:300]


def _export_onnx(ex: Exportable, path: Path) -> None:
    import onnx

    batch = torch.export.Dim("batch", min=1)
    dynamic = tuple({0: batch} for _ in ex.example)  # positional: the forward's own argument names may differ
    try:
        # The exporter narrates and, on failure, prints whole graphs: keep the terminal to our one line.
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            torch.onnx.export(ex.module, ex.example, str(path), input_names=list(ex.input_names),
                              output_names=[ex.output_name], dynamic_shapes=dynamic, opset_version=ONNX_OPSET,
                              dynamo=True, external_data=False, verbose=False)
    except Exception as e:  # the exporter raises many kinds: unsupported ops, tracing failures
        raise ExportError(f"ONNX export failed: {_reason(e)}") from None
    model = onnx.load(str(path))
    for key, value in ex.metadata.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = f"ganstudio.{key}", json.dumps(value)
    model.producer_name = "ganstudio"
    model.producer_version = ganstudio.__version__
    onnx.save(model, str(path))


def _export_torchscript(ex: Exportable, path: Path) -> None:
    try:
        with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
            warnings.simplefilter("ignore")  # torch.jit.trace announces its own deprecation
            traced = torch.jit.trace(ex.module, ex.example, check_trace=False)
            torch.jit.save(traced, str(path), _extra_files={"ganstudio.json": json.dumps(ex.metadata)})
    except OSError:
        raise
    except Exception as e:
        raise ExportError(f"TorchScript export failed: {_reason(e)}") from None


def _parity(ex: Exportable, fmt: str, path: Path) -> float:
    """max |exported(x) - module(x)| over sample inputs at PARITY_BATCHES."""
    if fmt == "onnx":
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])

        def run(inputs):
            feed = {name: t.numpy() for name, t in zip(ex.input_names, inputs)}
            return torch.from_numpy(session.run([ex.output_name], feed)[0])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.jit.load announces its own deprecation
            loaded = torch.jit.load(str(path), map_location="cpu")
        loaded.eval()

        def run(inputs):
            return loaded(*inputs)

    worst = 0.0
    with torch.no_grad():
        for n in PARITY_BATCHES:
            inputs = ex.make_inputs(n)
            try:
                got = run(inputs)
            except Exception as e:
                raise ExportError(f"the exported file does not run at batch size {n}: {_first_line(e)}") from None
            want = ex.module(*inputs)
            if tuple(got.shape) != tuple(want.shape):
                raise ExportError(f"the exported file gives shape {tuple(got.shape)} at batch size {n}, "
                                  f"expected {tuple(want.shape)}")
            if not torch.isfinite(want).all():  # NaN - NaN is NaN, and max() would quietly drop it
                raise ExportError(f"the checkpoint's network gives NaN or infinite outputs at batch size {n}; "
                                  "it cannot be checked or used (nothing was written)")
            diff = (got.float() - want.float()).abs().max()
            if not torch.isfinite(diff):
                raise ExportError(f"the exported file gives NaN or infinite outputs at batch size {n} where the checkpoint "
                                  "does not (nothing was written)")
            worst = max(worst, float(diff))
    return worst


def read_metadata(path: str | Path) -> dict:
    """The ganstudio description stored in an exported file (ONNX or TorchScript)."""
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        out = {}
        for p in model.metadata_props:
            if p.key.startswith("ganstudio."):
                out[p.key[len("ganstudio."):]] = json.loads(p.value)
        return out
    extra = {"ganstudio.json": ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return json.loads(extra["ganstudio.json"] or "{}")
