"""Shared fixtures: tiny, fast training configs, and a folder that behaves as read-only."""

import errno
import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


@pytest.fixture
def tiny_overrides():
    """Settings that make any preset run in well under a second per step."""
    return dict(batch_size=16, log_every=1, sample_every=1000, checkpoint_every=1000, sample_count=16, threads=2)



def _first_preset_per_family(names) -> list[str]:
    """The first of `names` for each family: what CI trains where a test could train every preset."""
    from ganstudio.core.config import PRESETS

    first: dict[str, str] = {}
    for name in names:
        first.setdefault(PRESETS.get(name).family, name)
    return list(first.values())


@pytest.fixture
def first_preset_per_family():
    return _first_preset_per_family


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):
    """A test parametrized over `every_preset` runs the first preset of each family everywhere; the
    other presets are marked `slow` (`pytest -m slow` runs them, benchmarks/ trains them in full)."""
    from ganstudio.core.config import PRESETS

    keep = set(_first_preset_per_family(PRESETS.names()))
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "every_preset" in params and params["every_preset"] not in keep:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def read_only(monkeypatch):
    """read_only(folder): creating a file in `folder` fails with EROFS, as on a read-only filesystem
    (root ignores permission bits, so a chmod would not do)."""
    frozen: list[Path] = []
    real_open = os.open

    def guarded(path, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and any(Path(path).is_relative_to(f) for f in frozen):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)
    return frozen.append
