"""GAN families, one module each; importing this package registers every module in it.

A new family is a new file here (copy `template.py`): nothing else in the project names it.
"""

from __future__ import annotations

import importlib
import pkgutil

from ganstudio.core.families.base import (  # noqa: F401  (the contract, re-exported)
    FAMILIES,
    Entry,
    Family,
    Nets,
    OptGroup,
    Phase,
    Port,
    Preview,
    Signature,
    Terms,
    family_of_legacy_model,
    on_register,
    register,
)

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: (m.name != "gan", m.name)):
    if _info.name not in ("base", "template") and not _info.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_info.name}")
