"""The one updating progress line of `ganstudio train` on a terminal."""

from __future__ import annotations

import sys
import time



def _fmt_duration(seconds: float) -> str:
    if not seconds or seconds != seconds or seconds == float("inf"):
        return "--"
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s}s"


class Progress:
    """One updating line on a terminal (a line per log record otherwise): step, img/s, losses, ETA."""

    def __init__(self, total: int, stream=sys.stderr):
        self.total = total
        self.stream = stream
        self.tty = stream.isatty()
        self.t0 = time.perf_counter()
        self.step0 = None
        self.last_print = 0.0
        self.width = 0

    def update(self, step: int, values: dict[str, float]) -> None:
        now = time.perf_counter()
        if self.step0 is None:
            self.step0, self.t0 = step, now
        if not self.tty and now - self.last_print < 5 and step < self.total:
            return  # a log file gets a line every few seconds, not every record
        self.last_print = now
        done = step - self.step0
        rate = done / (now - self.t0) if now > self.t0 and done else 0.0
        eta = (self.total - step) / rate if rate else float("nan")
        frac = step / self.total if self.total else 1.0
        bar = "#" * int(frac * 20)
        nan = float("nan")
        parts = [f"step {step}/{self.total} [{bar:<20}] {frac:5.1%}", f"{values.get('img_per_s', 0):,.0f} img/s"]
        if "psnr/model" in values and "d/real" not in values:  # a PSNR-only model has no D to report
            parts.append(f"loss G {values.get('loss/g', nan):.3f}")
        else:
            parts += [f"loss D {values.get('loss/d', nan):.3f} G {values.get('loss/g', nan):.3f}",
                      f"D(x) {values.get('d/real', nan):.2f} D(G(z)) {values.get('d/fake', nan):.2f}"]
        if "psnr/model" in values:
            parts.append(f"PSNR {values['psnr/model']:.2f} dB (bicubic {values.get('psnr/bicubic', nan):.2f})")
        line = " | ".join(parts + [f"ETA {_fmt_duration(eta)}"])
        if self.tty:
            self.stream.write("\r" + line.ljust(self.width))
            self.width = len(line)
        else:
            self.stream.write(line + "\n")
        self.stream.flush()

    def message(self, text: str) -> None:
        if self.tty and self.width:
            self.stream.write("\n")
            self.width = 0
        self.stream.write(text + "\n")
        self.stream.flush()
