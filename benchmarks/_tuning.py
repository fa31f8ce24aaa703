"""The --set KEY=VALUE option the quality benchmarks share: preset overrides for tuning runs only."""

from __future__ import annotations

import argparse


def add_set_option(ap: argparse.ArgumentParser, what: str = "a preset field") -> None:
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help=f"override {what} (tuning only: a run with --set never claims a goal; repeatable)")


def set_overrides(ap: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    if any("=" not in kv for kv in args.set):
        ap.error("--set takes KEY=VALUE")
    return dict(kv.split("=", 1) for kv in args.set)
