"""Using a trained model: `ganstudio sample`, `translate` and `export`."""

from __future__ import annotations

import sys
from pathlib import Path

from ganstudio.cli.common import EXIT_BAD_INPUT, UsageError
from ganstudio.cli.progress import Progress


def _parse_class(gen, value: str | None) -> int | None:
    if value is None:
        return None
    if not gen.num_classes:
        raise UsageError("--class needs a conditional model; this one was trained without labels")
    if value in gen.classes:
        return gen.classes.index(value)
    try:
        label = int(value)
    except ValueError:
        raise UsageError(f"--class {value!r}: not a class; classes: {', '.join(gen.classes)}") from None
    if not 0 <= label < gen.num_classes:
        raise UsageError(f"--class {label}: out of range 0..{gen.num_classes - 1} ({', '.join(gen.classes)})")
    return label


def cmd_sample(args) -> int:
    import io

    import numpy as np
    import torch

    from ganstudio.core import latent
    from ganstudio.core.checkpoint import atomic_write_bytes, png_bytes
    from ganstudio.core.inference import load_generator
    from ganstudio.core.sampling import grid_columns, make_grid, scatter_plot

    if args.export_dataset:
        return _export_dataset(args)
    out = Path(args.output)
    suffix = out.suffix.lower()
    if args.traverse is not None and (args.interpolate or args.class_grid):
        raise UsageError("--traverse draws its own grid; it does not combine with --interpolate or --class-grid")
    allowed = (".gif", ".png") if args.interpolate or args.traverse is not None else (".png",) if args.class_grid else (".png", ".npy")
    if suffix not in allowed:
        kinds = {".png": ".png (a picture)", ".npy": ".npy (raw samples)", ".gif": ".gif (an animation)"}
        raise UsageError(f"-o {out}: the output must end in {' or '.join(kinds[a] for a in allowed)}")
    if not out.parent.exists():
        raise UsageError(f"-o {out}: folder {out.parent} does not exist")
    if args.n < 1 or args.frames < 2 or args.seeds < 1:
        raise UsageError("-n and --seeds must be at least 1, --frames at least 2")
    if not 0 <= args.truncation <= 1:
        raise UsageError("--truncation ψ must be in [0, 1] (1 = off, 0 = the mean sample)")
    gen = load_generator(args.checkpoint)
    label = _parse_class(gen, args.class_)

    if args.interpolate:
        if gen.kind == "points":
            raise UsageError("--interpolate needs an image model")
        a, b = args.interpolate
        keys = [latent.truncate(latent.seed_to_z(s, gen.z_dim), args.truncation) for s in (a, b)]
        z = latent.interpolate(keys, args.frames, "slerp" if args.slerp else "lerp")
        y = None
        if gen.num_classes:
            y = torch.full((args.frames,), 0 if label is None else label, dtype=torch.long)
        frames = latent.render(gen, z, y)
        data = latent.gif_bytes(frames, fps=args.fps) if suffix == ".gif" else png_bytes(latent.strip(frames))
        atomic_write_bytes(out, data)
        print(f"wrote {out} ({args.frames} frames, seed {a} → {b}, {'slerp' if args.slerp else 'lerp'}, step {gen.step})")
        return 0
    if args.traverse is not None:
        return _traverse(args, gen, out, suffix)
    if args.class_grid:
        if not gen.num_classes:
            raise UsageError("--class-grid needs a conditional model; this one was trained without labels")
        seeds = list(range(args.seed, args.seed + args.seeds))
        x = latent.class_grid(gen, seeds, psi=args.truncation)
        atomic_write_bytes(out, png_bytes(make_grid(x, ncol=len(seeds))))
        print(f"wrote {out} ({gen.num_classes} classes × {len(seeds)} seeds from {args.seed}, step {gen.step})")
        return 0

    x, _ = gen.sample(args.n, seed=args.seed, label=label, psi=args.truncation)
    if suffix == ".npy":
        buf = io.BytesIO()
        np.save(buf, x.numpy().astype(np.float32))
        atomic_write_bytes(out, buf.getvalue())
    else:
        if gen.kind == "points":
            image = scatter_plot(x.numpy(), gen.centers, sigma=gen.sigma)
        else:
            image = make_grid(x, ncol=grid_columns(args.n, gen.num_classes) if label is None else 0)
        atomic_write_bytes(out, png_bytes(image))
    what = f"class {gen.classes[label] if gen.classes else label}, " if label is not None else ""
    print(f"wrote {out} ({args.n} samples, {what}seed {args.seed}, step {gen.step})")
    return 0


def _traverse(args, gen, out: Path, suffix: str) -> int:
    import torch

    from ganstudio.core import latent
    from ganstudio.core.checkpoint import atomic_write_bytes, png_bytes
    from ganstudio.core.codes import CodeError, traverse
    from ganstudio.core.sampling import make_grid

    if gen.codes is None:
        raise UsageError("--traverse needs a model with latent codes (an infogan run); this one has none")
    try:
        i = gen.codes.index(args.traverse)
    except CodeError as e:
        raise UsageError(f"--traverse: {e}") from None
    code = gen.codes.codes[i]
    if args.values < 2:
        raise UsageError("--values must be at least 2")
    if args.range is not None and code.kind == "categorical":
        raise UsageError(f"--range: {code.name} is categorical; a traversal shows each of its {code.size} values")
    values = code.values(args.values, tuple(args.range) if args.range else None)
    seeds = list(range(args.seed, args.seed + args.seeds))
    base = torch.stack([latent.truncate(latent.seed_to_z(s, gen.z_dim), args.truncation) for s in seeds])
    x = traverse(gen.G, gen.codes, i, values, base)  # rows values, columns seeds
    if suffix == ".gif":
        per = len(seeds)
        frames = torch.stack([torch.from_numpy(make_grid(x[r * per:(r + 1) * per], ncol=per)) for r in range(len(values))])
        data = latent.gif_bytes(frames.permute(0, 3, 1, 2).float() / 127.5 - 1, fps=max(1, args.fps // 8), scale=2)
    else:
        data = png_bytes(make_grid(x, ncol=len(seeds)))
    atomic_write_bytes(out, data)
    shown = ", ".join(f"{v:g}" for v in values) if code.kind == "continuous" else f"all {code.size} values"
    print(f"wrote {out} ({code.name}: {shown} × seeds {seeds[0]}..{seeds[-1]}, step {gen.step})")
    return 0


def _export_dataset(args) -> int:
    from ganstudio.core.synthetic import export_dataset

    if args.interpolate or args.class_grid or args.class_:
        raise UsageError("--export-dataset writes every class; it does not combine with --interpolate, --class-grid or --class")
    if not 0 <= args.truncation <= 1:
        raise UsageError("--truncation ψ must be in [0, 1] (1 = off, 0 = the mean sample)")
    res = export_dataset(args.checkpoint, args.export_dataset, args.n, seed=args.seed, psi=args.truncation,
                         tstr=not args.no_tstr, progress=lambda msg: print(msg, file=sys.stderr))
    sizes = ", ".join(f"{k} {v}" for k, v in res.counts.items())
    print(f"wrote {sum(res.counts.values()):,} images in {len(res.counts)} class folders to {res.path} "
          f"(step {res.step}, seed {args.seed}; {sizes})")
    if res.tstr is not None:
        print(f"TSTR: a classifier trained on these images scores {100 * res.tstr:.1f}% on real held-out images, "
              f"{100 * res.tstr_augmented:.1f}% when trained with augmentation (trained on real images: {100 * res.tstr_real:.1f}%)")
    elif res.tstr_note:
        print(res.tstr_note)
    return 0


def cmd_export(args) -> int:
    from ganstudio.core.export import FORMATS, export_model, format_for

    out = Path(args.output)
    fmt = args.format or format_for(out)
    if fmt is None:
        raise UsageError(f"-o {out}: say --format {' or '.join(FORMATS)} (or name the file .onnx or .pt)")
    res = export_model(args.checkpoint, fmt, out, direction=args.direction, overwrite=args.overwrite,
                       progress=lambda msg: print(msg + "…", file=sys.stderr))
    print(res.summary())
    for name, desc in res.inputs.items():
        print(f"  input  {name}: {desc}")
    for name, desc in res.outputs.items():
        print(f"  output {name}: {desc}")
    return 0


def cmd_translate(args) -> int:
    from ganstudio.core.translate import collect_inputs, default_output_dir, translate_files
    from ganstudio.core.inference import load_translator, read_checkpoint, signature_of
    from ganstudio.core.upscale import upscale_factor

    missing = [p for p in args.inputs if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing[:5])}")
    state = read_checkpoint(args.checkpoint)
    sig = signature_of(state)
    if sig.kind == "translate" and upscale_factor(sig.entry()) > 1:  # a super-resolution model: upscale, streamed
        return _upscale(args, state, scale=None)
    if args.interpolate is not None:
        raise UsageError("--interpolate blends a super-resolution GAN with its PSNR start; this model does not upscale")
    G, size, in_ch, names = load_translator(args.checkpoint, args.direction, state=state)
    out_dir = Path(args.output) if args.output else default_output_dir(args.inputs)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {out_dir}: is a file, not a folder")
    files = collect_inputs(args.inputs, exclude=out_dir)
    if not files:
        raise UsageError("no image files among the inputs")
    a, b = names if args.direction == "AtoB" else names[::-1]
    results = translate_files(files, out_dir, G, size, in_ch, mode="resize" if args.resize else "tile")
    return _report_batch(results, len(files), "translated", f"{a} → {b}", out_dir)


def _report_batch(results, total: int, verb: str, how: str, out_dir: Path, where: str = "") -> int:
    """Progress per file, then the notes, the files skipped with their reasons, and one summary line;
    exit 2 when nothing could be done."""
    progress = Progress(total)
    done, failed, notes = 0, [], []
    for i, r in enumerate(results, 1):
        if r.error:
            failed.append(f"{r.source} ({r.error})")
        else:
            done += 1
            if getattr(r, "note", ""):
                notes.append(f"{r.source}: {r.note}")
        progress.stream.write(f"\r{verb} {i}/{total} {how}" + ("\n" if not progress.tty else ""))
    progress.message("")
    for n in notes:
        print(f"note: {n}", file=sys.stderr)
    for f in failed:
        print(f"skipped: {f}", file=sys.stderr)
    if not done:
        print(f"ganstudio: error: nothing could be {verb} ({len(failed)} files failed)", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"wrote {done} images{where} to {out_dir}" + (f"; {len(failed)} skipped" if failed else ""))
    return 0


# (label, value key, floor key, format, note) rows of the eval table


def cmd_upscale(args) -> int:
    from ganstudio.core.inference import read_checkpoint

    missing = [p for p in args.inputs if not Path(p).exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing[:5])}")
    return _upscale(args, read_checkpoint(args.checkpoint), scale=args.scale)


def _upscale(args, state: dict, scale: int | None) -> int:
    from ganstudio.core.translate import collect_inputs
    from ganstudio.core.upscale import load_upscaler, upscale_files

    alpha = 1.0 if args.interpolate is None else args.interpolate
    if not 0.0 <= alpha <= 1.0:
        raise UsageError(f"--interpolate {alpha}: α must be in [0, 1] (0 = the PSNR model, 1 = the GAN)")
    max_pixels = getattr(args, "max_pixels", None)
    if max_pixels is not None and max_pixels < 1:
        raise UsageError(f"--max-pixels {max_pixels}: must be a positive number of pixels")
    up = load_upscaler(args.checkpoint, alpha=alpha, state=state)
    if scale is not None and scale != up.scale:
        raise UsageError(f"--scale {scale}: this model upscales ×{up.scale}; train a ×{scale} one "
                         f"(--set scale={scale}) or leave --scale out")
    first = Path(args.inputs[0])
    out_dir = Path(args.output) if args.output else (first if first.is_dir() else first.parent) / "upscaled"
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"-o {out_dir}: is a file, not a folder")
    files = collect_inputs(args.inputs, exclude=out_dir)
    if not files:
        raise UsageError("no image files among the inputs")
    kw = {"max_pixels": max_pixels} if max_pixels else {}
    how = f"×{up.scale}" + (f", α {alpha:g}" if up.interpolable else "")
    return _report_batch(upscale_files(files, out_dir, up, **kw), len(files), "upscaled", f"({how})", out_dir, f" ({how})")
