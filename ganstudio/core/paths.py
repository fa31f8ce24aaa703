"""Where the project's bundled files live, importable without torch (the studio reads its icons and
help before the training core has loaded)."""

from __future__ import annotations

from pathlib import Path


def resources_dir() -> Path:
    package = Path(__file__).resolve().parent.parent
    # An installed wheel carries ganstudio/resources; a source checkout has resources/ beside the package.
    inside = package / "resources"
    return inside if inside.is_dir() else package.parent / "resources"
