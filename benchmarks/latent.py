"""Latent explorer speed on dcgan-mnist (CPU): slider → image latency while dragging, and a 60-frame walk export.

The latency of a slider move is the time from the move to the first image on screen that
reflects it (or a later move): superseded renders count as waiting, not as free.

    QT_QPA_PLATFORM=offscreen python benchmarks/latent.py [--seconds 6]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np

GOALS = {"slider_p95_ms": 33.0, "export_60_frames_s": 2.0}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="how long to drag the sliders")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    import torch
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    from ganstudio.core import latent
    from ganstudio.core.config import PRESETS, apply_overrides
    from ganstudio.core.train import iter_train
    from ganstudio.ui.explorer import ExplorerPanel

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        cfg = apply_overrides(PRESETS.get("dcgan-mnist").config(), {"steps": 20, "threads": args.threads})
        for _ in iter_train(cfg, run):
            pass
        torch.set_num_threads(args.threads)
        panel = ExplorerPanel()
        panel.resize(1200, 800)
        panel.show()
        panel.load(run)
        loop = QEventLoop()
        wait = QTimer()
        wait.timeout.connect(lambda: panel.directions is not None and loop.quit())
        wait.start(20)
        loop.exec()
        wait.stop()

        # Drag: a slider event every ~16 ms (a 60 Hz mouse), sweeping back and forth across several sliders.
        panel.latencies.clear()
        moves = {"n": 0}
        t_end = time.perf_counter() + args.seconds
        drag = QTimer()

        def move():
            i = moves["n"]
            slider = (panel.dir_sliders + panel.dim_sliders)[(i // 60) % 6].slider
            slider.setValue(int(200 * np.sin(i / 9)))
            moves["n"] += 1
            if time.perf_counter() > t_end:
                drag.stop()
                QTimer.singleShot(300, loop.quit)

        drag.timeout.connect(move)
        drag.start(16)
        loop.exec()
        lat = np.array(panel.latencies) * 1000
        renders = panel.renderer.renders

        # Export: a 60-frame slerp walk between two seeds rendered and encoded as a GIF.
        gen = panel.gen
        t0 = time.perf_counter()
        z = latent.interpolate([latent.seed_to_z(1, gen.z_dim), latent.seed_to_z(2, gen.z_dim)], 60, "slerp")
        frames = latent.render(gen, z)
        gif = latent.gif_bytes(frames)
        export_s = time.perf_counter() - t0
        panel.shutdown()

    res = {
        "slider_p50_ms": round(float(np.percentile(lat, 50)), 1),
        "slider_p95_ms": round(float(np.percentile(lat, 95)), 1),
        "slider_moves": int(moves["n"]),
        "renders": int(renders),
        "export_60_frames_s": round(export_s, 3),
        "gif_kb": round(len(gif) / 1024, 1),
    }
    print(f"slider → image: p50 {res['slider_p50_ms']} ms, p95 {res['slider_p95_ms']} ms over {len(lat)} moves "
          f"({renders} renders: the rest were superseded)   goal p95 ≤ {GOALS['slider_p95_ms']} ms")
    print(f"60-frame slerp walk rendered and encoded as GIF: {export_s:.2f} s   goal ≤ {GOALS['export_60_frames_s']} s")
    met = res["slider_p95_ms"] <= GOALS["slider_p95_ms"] and res["export_60_frames_s"] <= GOALS["export_60_frames_s"]
    print(json.dumps({"benchmark": "latent", **res, "goals": GOALS, "goal_met": met}))


if __name__ == "__main__":
    main()
