"""Bad input, damaged files, diverging runs, full and read-only disks, and kills: a table of
case → expected → got, with the counts that must all be full.

Every case runs the real command line (in this process, so an escaping exception is a traceback
the user would have seen) or the real training loop, on real files:

- damaged checkpoints: every first byte followed by random bytes, truncations, 4 KB flipped in the
  middle of a real checkpoint, malformed fields; in sample, eval, export and --resume;
- diverging runs (learning rates of 1e6): every checkpoint kept holds only finite numbers, and the
  tools refuse a NaN model;
- a size the model refuses, and one that would not fit in memory (peak memory measured);
- read-only and full filesystems (tmpfs mounts of 2 MB and 100 MB; needs root, else skipped and said);
- out-of-range settings, refused resumes that must write nothing, file modes under a umask;
- 20 SIGKILLs at random moments of training: the run's checkpoint still loads and the run resumes.

    python benchmarks/robustness.py [--kills 20] [--seed 0]

Goal: every count full (refused cleanly = tried; survivals = kills; finite kept checkpoints = NaN runs).
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import json
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ganstudio import cli  # noqa: E402
from ganstudio.core.checkpoint import load_checkpoint, nonfinite_tensors, save_checkpoint  # noqa: E402
from ganstudio.core.config import PRESETS, apply_overrides  # noqa: E402
from ganstudio.core.events import Control, Paused  # noqa: E402
from ganstudio.core.inference import read_checkpoint  # noqa: E402
from ganstudio.core.train import iter_train  # noqa: E402

ROWS: list[tuple[str, str, str, bool]] = []
TINY = dict(batch_size=16, log_every=1, sample_every=1000, checkpoint_every=1000, sample_count=16, threads=1)


def row(case: str, expected: str, got: str, ok: bool) -> bool:
    ROWS.append((case, expected, got, ok))
    return ok


def run_cli(args: list[str]) -> tuple[int | str, str, str]:
    """(exit code, or 'traceback: ...' when an exception escaped; stdout; stderr) of one in-process command."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(args)
        except SystemExit as e:
            code = e.code
        except BaseException as e:  # noqa: BLE001  what a user would have seen as a traceback
            code = f"traceback: {type(e).__name__}: {str(e)[:80]}"
    return code, out.getvalue(), err.getvalue()


def clean_refusal(args: list[str], needs: str = "") -> tuple[bool, str]:
    """Exit 2 with one error line (containing `needs`), no traceback."""
    code, _, err = run_cli(args)
    lines = [ln for ln in err.strip().splitlines() if ln.startswith("ganstudio: error:")]
    ok = code == 2 and len(lines) == 1 and "Traceback" not in err and needs in lines[0]
    got = lines[0][len("ganstudio: error: "):] if lines else (str(code) if not isinstance(code, int) else f"exit {code}: {err.strip()[-100:]}")
    return ok, got


def tree(folder: Path) -> dict:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def train(preset: str, run: Path, **over) -> Path:
    for _ in iter_train(apply_overrides(PRESETS.get(preset).config(), {**TINY, **over}), run):
        pass
    return run / "checkpoints" / "latest.pt"


def tool_commands(ck: Path, tmp: Path) -> list[tuple[str, list[str]]]:
    return [("sample", ["sample", str(ck), "-n", "4", "-o", str(tmp / "s.png")]),
            ("eval", ["eval", str(ck), "-n", "100", "--no-save"]),
            ("export", ["export", str(ck), "-o", str(tmp / "g.pt")])]


# ------------------------------------------------------------------ damaged checkpoints


def damaged(tmp: Path, rng: random.Random) -> dict:
    ring = train("ring8", tmp / "ring", steps=2)
    dcgan = train("dcgan-mnist", tmp / "dcgan", steps=2)
    counts = {"tried": 0, "refused": 0}

    def count(ok: bool):
        counts["tried"] += 1
        counts["refused"] += ok

    path = tmp / "r.pt"
    escaped = []
    for first in range(256):
        path.write_bytes(bytes([first]) + rng.randbytes(1000))
        ok, got = clean_refusal(["sample", str(path), "-o", str(tmp / "s.png")], str(path))
        count(ok)
        if not ok:
            escaped.append(f"{first}: {got}")
    row("random bytes after each of 256 first bytes (sample)", "256 refused, one line each",
        f"{256 - len(escaped)} refused" + (f"; escaped: {escaped[:2]}" if escaped else ""), not escaped)

    data = ring.read_bytes()
    cuts = sorted({int(len(data) * k / 40) for k in range(1, 40)})
    bad = []
    for cut in cuts:
        path.write_bytes(data[:cut])
        ok, got = clean_refusal(["sample", str(path), "-o", str(tmp / "s.png")], str(path))
        count(ok)
        if not ok:
            bad.append(f"{cut}: {got}")
    row(f"{len(cuts)} truncations of a real checkpoint (sample)", "all refused", f"{len(cuts) - len(bad)} refused", not bad)

    blob = bytearray(dcgan.read_bytes())
    mid = len(blob) // 2
    for i in range(mid, mid + 4096):
        blob[i] ^= 0xFF
    xor = tmp / "xor" / "checkpoints" / "latest.pt"
    xor.parent.mkdir(parents=True)
    xor.write_bytes(bytes(blob))
    for name, args in tool_commands(xor, tmp) + [("--resume", ["train", "--resume", str(xor.parent.parent), "--steps", "4"])]:
        ok, got = clean_refusal(args, "checksum")
        count(ok)
        row(f"4 KB flipped mid-checkpoint ({name})", "refused: a part fails its checksum", got, ok)

    state = load_checkpoint(ring)
    fields = {"step": "abc", "nets": [1, 2], "meta": "x", "rng": {"torch": "seed"}, "config_toml": 7}
    for field, value in fields.items():
        broken = dict(state, **{field: value})
        mpath = tmp / f"m_{field}.pt"
        save_checkpoint(mpath, {k: v for k, v in broken.items() if k not in ("format_version", "kind")})
        for name, args in tool_commands(mpath, tmp):
            ok, got = clean_refusal(args, "malformed")
            count(ok)
            if not ok:
                row(f"malformed {field} = {value!r} ({name})", "refused: malformed, field named", got, ok)
    row(f"{len(fields)} malformed fields × sample, eval, export", "all refused naming the field",
        "see rows above" if any(r[0].startswith("malformed ") and not r[3] for r in ROWS) else f"{3 * len(fields)} refused",
        not any(r[0].startswith("malformed ") and not r[3] for r in ROWS))

    kind = tmp / "kind.pt"
    torch.save({"kind": "ganstudio-train"}, kind)
    msgs = set()
    all_ok = True
    for name, args in tool_commands(kind, tmp) + [("translate", ["translate", str(kind), str(tmp), "-o", str(tmp / "o")])]:
        ok, got = clean_refusal(args, "incomplete checkpoint")
        count(ok)
        all_ok &= ok
        msgs.add(got)
    row("a file holding only {kind} (sample, eval, export, translate)", "the same 'incomplete checkpoint' line",
        f"{len(msgs)} distinct message(s): {sorted(msgs)[0][:70]}", all_ok and len(msgs) == 1)
    return counts


# ------------------------------------------------------------------ divergence


def divergence(tmp: Path) -> dict:
    nan_runs = {"runs": 0, "finite": 0}
    for preset in ("dcgan-mnist", "cgan-mnist", "ring8"):
        run = tmp / f"nan-{preset}"
        code, _, err = run_cli(["train", "--preset", preset, "--steps", "60", "--log-every", "1", "--checkpoint-every", "1",
                                "--set", "lr_d=1e6", "--set", "lr_g=1e6", "--threads", "2", "--run-dir", str(run)])
        files = glob.glob(str(run / "checkpoints" / "*.pt"))
        bad = [f for f in files if nonfinite_tensors(load_checkpoint(f))]
        nan_runs["runs"] += 1
        nan_runs["finite"] += bool(files) and not bad
        said = "ends here" in err and "paused" not in err
        row(f"CLI train {preset}, lr 1e6, checkpoint every step", "every kept checkpoint finite; says the run ended",
            f"exit {code}; {len(files)} checkpoints, {len(bad)} non-finite; {'says it ended' if said else 'wording wrong'}",
            code == 1 and not bad and bool(files) and said)
    # the studio's path: a NaN pauses; the user stops
    run = tmp / "nan-studio"
    control = Control()
    cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), {**TINY, "steps": 60, "checkpoint_every": 1, "lr_d": 1e6, "lr_g": 1e6})
    paused = False
    for ev in iter_train(cfg, run, control):
        if isinstance(ev, Paused) and ev.reason == "diverged":
            paused = True
            control.stop()
    files = glob.glob(str(run / "checkpoints" / "*.pt"))
    bad = [f for f in files if nonfinite_tensors(load_checkpoint(f))]
    nan_runs["runs"] += 1
    nan_runs["finite"] += bool(files) and not bad
    row("studio loop dcgan-mnist, lr 1e6", "pauses at the divergence; every kept checkpoint finite",
        f"{'paused' if paused else 'did not pause'}; {len(files)} checkpoints, {len(bad)} non-finite", paused and not bad)

    # a NaN model that reaches the tools (an older version's file, or an edited one)
    ck = tmp / "nan-model.pt"
    state = load_checkpoint(tmp / "dcgan" / "checkpoints" / "latest.pt")
    for w in (state["nets"]["G"], *state["ema"].values()):
        for t in w.values():
            if t.is_floating_point():
                t.fill_(float("nan"))
    save_checkpoint(ck, {k: v for k, v in state.items() if k not in ("format_version", "kind")})
    counts = {"tried": 0, "refused": 0}
    for name, args in tool_commands(ck, tmp):
        ok, got = clean_refusal(args, "NaN")
        counts["tried"] += 1
        counts["refused"] += ok
        row(f"NaN generator weights ({name})", "refused: NaN named", got, ok)
    return {**nan_runs, **counts}


# ------------------------------------------------------------------ sizes, settings, resumes, modes


def inputs(tmp: Path) -> dict:
    counts = {"tried": 0, "refused": 0}

    def count(ok):
        counts["tried"] += 1
        counts["refused"] += ok

    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "ganstudio", "train", "--preset", "dcgan-mnist", "--set", "image_size=1024",
                           "--run-dir", str(tmp / "big")], capture_output=True, text=True, timeout=300)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # MB (Linux reports KB)
    ok = proc.returncode == 2 and "image_size" in proc.stderr and peak < 2000
    count(ok)
    row("dcgan-mnist --set image_size=1024", "refused before loading data, < 2 GB",
        f"exit {proc.returncode} in {time.perf_counter() - t0:.1f} s, peak {peak:.0f} MB: {proc.stderr.strip()[-80:]}", ok)
    proc = subprocess.run([sys.executable, "-m", "ganstudio", "train", "--preset", "gan-mlp-mnist", "--set", "image_size=1024",
                           "--steps", "1", "--run-dir", str(tmp / "big2")], capture_output=True, text=True, timeout=600)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    ok = proc.returncode in (0, 2) and (proc.returncode == 0 or "memory" in proc.stderr)
    count(ok)
    row("gan-mlp-mnist --set image_size=1024 (any size; 21 GB of data)", "loads only if it fits, else one line",
        f"exit {proc.returncode}, peak {peak:.0f} MB: {proc.stderr.strip().splitlines()[-1][-90:] if proc.stderr.strip() else ''}", ok)

    for setting in ("beta1=2", "beta2=1", "beta1=-0.5", "ema=1", "label_smoothing=1.5", "lr_g=-1", "n_critic=0"):
        ok, got = clean_refusal(["train", "--preset", "gan-mlp-mnist", "--set", setting, "--run-dir", str(tmp / "bad")],
                                setting.split("=")[0])
        ok &= not (tmp / "bad").exists()
        count(ok)
        row(f"--set {setting}", "refused, field named, nothing written", got, ok)

    for damage in ("reshaped weights", "step = 'abc'"):
        run = tmp / f"refused-{damage[:4]}"
        ck = train("ring8", run, steps=2)
        state = load_checkpoint(ck)
        if damage == "reshaped weights":
            state["nets"]["G"][next(iter(state["nets"]["G"]))] = torch.zeros(3, 3, 3)
        else:
            state["step"] = "abc"
        save_checkpoint(ck, {k: v for k, v in state.items() if k not in ("format_version", "kind")})
        before = tree(run)
        ok, got = clean_refusal(["train", "--resume", str(run), "--steps", "4"])
        ok &= tree(run) == before
        count(ok)
        row(f"--resume of a checkpoint with {damage}", "refused; nothing written (no .lock)", got, ok)

    old = os.umask(0o002)
    try:
        run = tmp / "umask"
        train("ring8", run, steps=2)
        run_cli(["sample", str(run), "-n", "4", "-o", str(tmp / "um.png")])
    finally:
        os.umask(old)
    modes = {oct(p.stat().st_mode & 0o777) for p in (run / "config.toml", run / "checkpoints" / "latest.pt", tmp / "um.png")}
    count(modes == {"0o664"})
    row("files written under umask 002", "mode 664, as any program's", ", ".join(sorted(modes)), modes == {"0o664"})
    return counts


# ------------------------------------------------------------------ disks


def disks(tmp: Path) -> dict:
    counts = {"tried": 0, "refused": 0}

    def mount(path: Path, size: str) -> bool:
        path.mkdir(parents=True, exist_ok=True)
        return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                              capture_output=True).returncode == 0

    def umount(path: Path):
        subprocess.run(["umount", str(path)], capture_output=True)

    ro = tmp / "ro"
    if not mount(ro, "50m"):
        row("read-only and full filesystems", "tested on tmpfs mounts", "skipped: mounting needs root", False)
        return {**counts, "skipped": True}
    try:
        run = ro / "run"
        train("ring8", run, steps=3)
        subprocess.run(["mount", "-o", "remount,ro", str(ro)], check=True)
        for case, args, needs in (
            ("--resume on a read-only filesystem", ["train", "--resume", str(run), "--steps", "6"], "Read-only file system"),
            ("sample -o into a read-only folder", ["sample", str(run), "-n", "4", "-o", str(ro / "s.png")], "Read-only file system"),
            ("eval, then writing eval.json fails", ["eval", str(run), "-n", "100"], "not recorded"),
            ("export to a read-only filesystem", ["export", str(run), "-o", str(ro / "g.pt")], "read-only file system"),
        ):
            ok, got = clean_refusal(args, needs)
            counts["tried"] += 1
            counts["refused"] += ok
            row(case, "one line naming the path and the cause, exit 2", got, ok)
    finally:
        umount(ro)
    for size in ("2m", "100m"):
        full = tmp / f"full{size}"
        if not mount(full, size):
            continue
        try:
            run = full / "run"
            ok, got = clean_refusal(["train", "--preset", "dcgan-mnist", "--steps", "400", "--checkpoint-every", "20",
                                     "--sample-every", "20", "--threads", "2", "--run-dir", str(run)], "No space left on device")
            latest = run / "checkpoints" / "latest.pt"
            kept = "no checkpoint fits"
            if latest.exists():
                try:
                    kept = f"latest.pt (step {read_checkpoint(latest)['step']}) loads"
                except Exception as e:  # noqa: BLE001
                    ok, kept = False, f"latest.pt unreadable: {e}"
            ok &= not glob.glob(str(run / "**" / "*.tmp"), recursive=True)
            counts["tried"] += 1
            counts["refused"] += ok
            row(f"disk fills while training ({size.upper()}B tmpfs)", "one line, last checkpoint intact", f"{got}; {kept}", ok)
        finally:
            umount(full)
    return counts


# ------------------------------------------------------------------ kills


def kills(tmp: Path, n: int, rng: random.Random) -> dict:
    survived = 0
    for i in range(n):
        run = tmp / f"kill{i}"
        proc = subprocess.Popen([sys.executable, "-m", "ganstudio", "train", "--preset", "dcgan-mnist", "--steps", "100000",
                                 "--checkpoint-every", str(rng.choice((1, 2, 5))), "--sample-every", "3", "--log-every", "1",
                                 "--threads", "1", "--run-dir", str(run)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(3.0, 9.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        latest = run / "checkpoints" / "latest.pt"
        try:
            step = read_checkpoint(latest)["step"] if latest.exists() else None
            if step is None:  # killed before the first checkpoint: nothing to lose
                ok = True
            else:
                code = subprocess.run([sys.executable, "-m", "ganstudio", "train", "--resume", str(run), "--steps", str(step + 2),
                                       "--threads", "1"], capture_output=True, timeout=300).returncode
                ok = code == 0 and read_checkpoint(latest)["step"] == step + 2
        except Exception:  # noqa: BLE001
            ok = False
        survived += ok
        shutil.rmtree(run, ignore_errors=True)
    row(f"{n} SIGKILLs at random moments of dcgan-mnist training", "checkpoint loads and the run resumes every time",
        f"{survived}/{n} survived", survived == n)
    return {"kills": n, "survived": survived}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    rng = random.Random(args.seed)
    torch.set_num_threads(2)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        dmg = damaged(tmp, rng)
        div = divergence(tmp)
        inp = inputs(tmp)
        dsk = disks(tmp)
        kil = kills(tmp, args.kills, rng)
        width = max(len(r[0]) for r in ROWS)
        print(f"{'case':<{width}}  {'expected':<52}  got (TMP: the scratch folder)")
        for case, expected, got, ok in ROWS:
            print(f"{case:<{width}}  {expected:<52}  {'ok ' if ok else 'BAD'} {got.replace(str(tmp), 'TMP')[:130]}")
    tried = dmg["tried"] + div["tried"] + inp["tried"] + dsk["tried"]
    refused = dmg["refused"] + div["refused"] + inp["refused"] + dsk["refused"]
    print(f"\nrefused cleanly {refused}/{tried}; survivals {kil['survived']}/{kil['kills']}; "
          f"NaN runs with finite kept checkpoints {div['finite']}/{div['runs']}; rows ok {sum(r[3] for r in ROWS)}/{len(ROWS)}; "
          f"{time.perf_counter() - t0:.0f} s")
    result = {"benchmark": "robustness", "refused_cleanly": refused, "tried": tried, "survivals": kil["survived"],
              "kills": kil["kills"], "nan_runs_finite": div["finite"], "nan_runs": div["runs"],
              "rows_ok": sum(r[3] for r in ROWS), "rows": len(ROWS), "disk_cases_skipped": bool(dsk.get("skipped")),
              "goals": {"refused_cleanly": tried, "survivals": kil["kills"], "nan_runs_finite": div["runs"], "rows_ok": len(ROWS)}}
    result["goal_met"] = refused == tried and kil["survived"] == kil["kills"] and div["finite"] == div["runs"] \
        and result["rows_ok"] == len(ROWS)
    print(json.dumps(result))
    return 0 if result["goal_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
