"""Build the runnable folder with PyInstaller, smoke-test it and print its size.

    pip install pyinstaller
    python packaging/build_app.py [--dist DIR] [--work DIR]

The result is DIR/ganstudio/ (default dist/ganstudio/): run DIR/ganstudio/ganstudio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SPEC = HERE / "pyinstaller" / "ganstudio.spec"


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dist", default=str(HERE.parent / "dist"))
    ap.add_argument("--work", default=str(HERE.parent / "build" / "pyinstaller"))
    args = ap.parse_args(argv)
    try:
        import PyInstaller.__main__ as pyinstaller
    except ImportError:
        print("build_app: error: PyInstaller is not installed: pip install pyinstaller", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    pyinstaller.run([str(SPEC), "--noconfirm", "--distpath", args.dist, "--workpath", args.work])
    app = Path(args.dist) / "ganstudio"
    exe = app / ("ganstudio.exe" if sys.platform == "win32" else "ganstudio")
    def run(*cmd: str) -> subprocess.CompletedProcess:
        return subprocess.run([str(exe), *cmd], capture_output=True, text=True, timeout=600)

    version = run("--version")
    checks = {"version": version.returncode == 0, "datasets": "fashion" in run("datasets").stdout}
    with tempfile.TemporaryDirectory() as tmp:  # train, then export both ways: the paths that need bundled sources
        checks["train"] = run("train", "--preset", "ring8", "--steps", "3", "--run-dir", f"{tmp}/run").returncode == 0
        for fmt, name in (("onnx", "g.onnx"), ("torchscript", "g.pt")):
            r = run("export", f"{tmp}/run", "--format", fmt, "-o", f"{tmp}/{name}")
            checks[fmt] = r.returncode == 0
            if r.returncode:
                print(f"export to {fmt} failed in the built app: {r.stderr.strip()[-300:]}", file=sys.stderr)
    ok = all(checks.values())
    size = folder_size(app)
    print(f"built {app} in {time.perf_counter() - t0:.0f} s: {size / 2**20:,.0f} MiB; "
          f"`ganstudio --version` → {version.stdout.strip() or version.stderr.strip()[-200:]}")
    print(json.dumps({"build": "pyinstaller", "folder_mib": round(size / 2**20), "checks": checks, "runs": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
