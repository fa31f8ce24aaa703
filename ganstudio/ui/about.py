"""Help ▸ About (versions, device, the built-in datasets' provenance and licences) and Help ▸ Help (F1)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

from PySide6.QtCore import qVersion
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTabWidget,
    QTextBrowser,
    QVBoxLayout,
)

import ganstudio

PACKAGES = (("PyTorch", "torch"), ("torchvision", "torchvision"), ("PySide6", "PySide6-Essentials"),
            ("pyqtgraph", "pyqtgraph"), ("NumPy", "numpy"), ("Pillow", "Pillow"), ("ONNX", "onnx"),
            ("ONNX Runtime", "onnxruntime"))


def versions() -> list[tuple[str, str]]:
    """(component, version) for GAN Studio, Python, Qt and every library it uses; missing optional ones say so."""
    rows = [("GAN Studio", ganstudio.__version__), ("Python", f"{platform.python_version()} ({sys.platform})"),
            ("Qt", qVersion())]
    for label, dist in PACKAGES:
        try:
            rows.append((label, metadata.version(dist)))
        except metadata.PackageNotFoundError:
            hint = " (for ONNX export: pip install 'ganstudio[export]')" if dist.startswith("onnx") else ""
            rows.append((label, "not installed" + hint))
    return rows


def device_description() -> str:
    """What training would run on here, in words."""
    import torch

    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        more = f" (+{torch.cuda.device_count() - 1} more)" if torch.cuda.device_count() > 1 else ""
        return f"CUDA GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, CUDA {torch.version.cuda}{more}"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "Apple GPU (MPS)"
    return f"CPU: {os.cpu_count()} cores ({platform.processor() or platform.machine()}); no CUDA GPU found"


def report_text() -> str:
    """Versions and device as plain text, for bug reports (the dialog's Copy button)."""
    lines = [f"{name}: {version}" for name, version in versions()]
    lines.append(f"Device: {device_description()}")
    return "\n".join(lines)


def _resource_markdown(*parts: str) -> str:
    from ganstudio.core.paths import resources_dir

    path = resources_dir().joinpath(*parts)
    try:
        return path.read_text(encoding="utf-8")
    except OSError:
        return f"({path.name} is missing from this installation)"


class AboutDialog(QDialog):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWindowTitle("About GAN Studio")
        self.resize(760, 560)
        layout = QVBoxLayout(self)
        title = QLabel(f"<h2>GAN Studio {ganstudio.__version__}</h2>"
                       "<p>Train generative adversarial networks with live preview, explore their latent space, "
                       "translate images, evaluate and export.</p>")
        title.setWordWrap(True)
        layout.addWidget(title)
        self.tabs = QTabWidget()
        rows = "".join(f"<tr><td><b>{n}</b></td><td>{v}</td></tr>" for n, v in versions())
        self.system = QTextBrowser()
        self.system.setHtml(f"<h3>Versions</h3><table cellspacing='4'>{rows}</table>"
                            f"<h3>Device</h3><p>{device_description()}</p>")
        self.tabs.addTab(self.system, "Versions && device")
        self.datasets = QTextBrowser()
        self.datasets.setMarkdown(_resource_markdown("datasets", "README.md"))
        self.tabs.addTab(self.datasets, "Built-in datasets")
        self.licences = QTextBrowser()
        self.licences.setMarkdown(_resource_markdown("datasets", "LICENSES.md"))
        self.tabs.addTab(self.licences, "Dataset licences")
        self.classifiers = QTextBrowser()
        self.classifiers.setMarkdown(_resource_markdown("classifiers", "README.md"))
        self.tabs.addTab(self.classifiers, "Evaluation classifiers")
        layout.addWidget(self.tabs)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        copy = QPushButton("Copy versions")
        copy.setToolTip("Copy the versions and the device as text, e.g. for a bug report.")
        copy.clicked.connect(lambda: QGuiApplication.clipboard().setText(report_text()))
        buttons.addButton(copy, QDialogButtonBox.ButtonRole.ActionRole)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)


def shortcuts_of(window) -> list[tuple[str, str, str]]:
    """(keys, action, what it does) for every action of `window` with a shortcut."""
    from PySide6.QtGui import QAction, QKeySequence

    out = []
    for a in window.findChildren(QAction):
        if not a.shortcut().isEmpty():
            keys = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
            out.append((keys, a.text().replace("&", ""), a.statusTip().rsplit(" (", 1)[0]))
    return sorted(out, key=lambda r: r[1])


class HelpDialog(QDialog):
    """The quick guide (resources/help.md) and the keyboard shortcuts of the window's actions."""

    def __init__(self, shortcuts: list[tuple[str, str, str]], parent=None):
        super().__init__(parent)
        self.setWindowTitle("GAN Studio help")
        self.resize(720, 640)
        layout = QVBoxLayout(self)
        self.browser = QTextBrowser()
        self.browser.setOpenExternalLinks(True)
        table = "\n".join(f"| {keys} | {name} | {tip} |" for keys, name, tip in shortcuts)
        self.browser.setMarkdown(_resource_markdown("help.md")
                                 + "\n\n## Keyboard shortcuts\n\n| Keys | Action | What it does |\n|---|---|---|\n" + table + "\n")
        layout.addWidget(self.browser)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
