"""`ganstudio eval`: a checkpoint scored by its family's metrics, printed as a table and added to RUN/eval.json."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from ganstudio.cli.common import UsageError


def format_evaluation(ev, scores, reference: str = "reference") -> str:
    """A plain-text table of an Evaluation: score, value, its reference (real vs real, a ceiling or a floor), what it means."""
    v = ev.values
    rows = [("metric", "value", reference, "")]
    for s in scores:
        if s.key in v:
            ref = s.fmt.format(v[s.reference]) if s.reference in v else ""
            try:
                note = s.note.format(**v)
            except (KeyError, IndexError, ValueError):
                note = s.note
            rows.append((s.label, s.fmt.format(v[s.key]), ref, note))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:>{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]}".rstrip() for r in rows]
    by_reason: dict[str, list[str]] = {}
    for metric, why in ev.unavailable.items():
        by_reason.setdefault(why, []).append(metric)
    for why, names in by_reason.items():
        lines.append(f"{', '.join(names)}: not computed: {why}")
    return "\n".join(lines)


def cmd_eval(args) -> int:
    import torch

    from ganstudio.core.checkpoint import RunDir
    from ganstudio.core.evaluate import evaluate, record
    from ganstudio.core.families import FAMILIES

    if args.threads:
        torch.set_num_threads(args.threads)
    target = Path(args.checkpoint)
    if args.n < 10:
        raise UsageError(f"-n must be at least 10, not {args.n}")
    ckpt = RunDir(target).latest_checkpoint if target.is_dir() else target
    if not ckpt.is_file():
        raise UsageError(f"{target}: no checkpoint here (give a .pt file, or a run folder with checkpoints/latest.pt)")
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else None
    if args.nearest and Path(args.nearest).exists():
        raise UsageError(f"--nearest {args.nearest}: the file exists; give a new name")
    t0 = time.perf_counter()
    ev = evaluate(ckpt, args.metrics, args.n, seed=args.seed, dataset=args.dataset, cache_dir=run_dir,
                  progress=lambda msg: print(msg + "…", file=sys.stderr))
    print(f"{ckpt} (step {ev.step}), {ev.subject}" + (f"; judged by {ev.judge}" if ev.judge else ""))
    family = FAMILIES.get(ev.family)
    print(format_evaluation(ev, family.scores, family.reference_column))
    print(f"took {time.perf_counter() - t0:.1f} s")
    if args.nearest:
        from ganstudio.core.checkpoint import atomic_write_bytes, png_bytes
        from ganstudio.core.evaluate import nearest_images

        grid = nearest_images(ckpt, seed=args.seed, dataset=args.dataset, cache_dir=run_dir)
        try:
            atomic_write_bytes(args.nearest, png_bytes(grid))
        except OSError as e:
            from ganstudio.core.errors import os_error_line

            raise UsageError(os_error_line(e)) from None
        print(f"nearest training images: {args.nearest} (each row: a sample, then its 4 nearest training images)")
    if run_dir is not None and not args.no_save:
        try:
            print(f"wrote {record(run_dir, ev)}")
        except OSError as e:  # the scores are printed above; the file keeps what it held
            from ganstudio.core.errors import os_error_line

            raise UsageError(f"{os_error_line(e)}; the scores above are not recorded (--no-save skips the file)") from None
    return 0
