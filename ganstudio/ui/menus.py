"""The studio window's commands: its actions (with tooltips naming their shortcuts), the Training and
Live settings toolbars, and the menu bar: File (open, recent runs, export, quit), Training, View
(panels, toolbars, theme) and Help."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QDockWidget, QToolBar

from ganstudio.ui.live_bar import LiveSettingsBar
from ganstudio.ui.theme import CHOICES as THEME_CHOICES

MAX_RECENT = 8


def build_menus(win, toolbars) -> None:
    """Fill `win`'s menu bar; sets `win.recent_menu` and `win.theme_actions` (choice → action)."""
    menu = win.menuBar().addMenu("&File")
    menu.addAction(win.open_action)
    win.recent_menu = menu.addMenu("Recent runs")
    win.recent_menu.setToolTip("Runs opened or trained lately.")
    fill_recent_menu(win)
    menu.addSeparator()
    menu.addAction(win.export_action)
    menu.addSeparator()
    menu.addAction(win.quit_action)
    run_menu = win.menuBar().addMenu("&Training")
    for a in (win.train_action, win.pause_action, win.step_action, win.stop_action, win.save_action, win.resume_action,
              win.explore_action):
        run_menu.addAction(a)
    view = win.menuBar().addMenu("&View")
    for dock in win.findChildren(QDockWidget):
        toggle = dock.toggleViewAction()
        toggle.setToolTip(f"Show or hide the {dock.windowTitle()} panel.")
        view.addAction(toggle)
    for bar in toolbars:
        toggle = bar.toggleViewAction()
        toggle.setToolTip(f"Show or hide the {bar.windowTitle()} toolbar.")
        view.addAction(toggle)
    view.addSeparator()
    theme_menu = view.addMenu("Theme")
    theme_menu.setToolTip("Light or dark; System follows the desktop's setting as it changes.")
    win.theme_actions = {}
    group = QActionGroup(win)
    tips = {"system": "Follow the desktop's light or dark setting, also when it changes.",
            "light": "Always light.", "dark": "Always dark."}
    for choice in THEME_CHOICES:
        a = action(win, choice.capitalize(), tips[choice], lambda _=False, c=choice: win.set_theme(c), checkable=True)
        group.addAction(a)
        theme_menu.addAction(a)
        win.theme_actions[choice] = a
    help_menu = win.menuBar().addMenu("&Help")
    help_menu.addAction(win.help_action)
    help_menu.addAction(win.about_action)


def action(win, text: str, tip: str, slot, shortcut=None, checkable=False, icon: str = "") -> QAction:
    """A QAction of `win` whose tooltip and status tip name its shortcut; `icon` is drawn in the theme's colours."""
    a = QAction(text, win)
    if shortcut:
        a.setShortcut(QKeySequence(shortcut))
        keys = a.shortcut().toString(QKeySequence.SequenceFormat.NativeText)
        tip = f"{tip} ({keys})"
    a.setToolTip(tip)
    a.setStatusTip(tip)
    a.setCheckable(checkable)
    a.triggered.connect(slot)
    if icon:
        win.icons.names[a] = icon
    return a


def build_actions(win) -> None:
    """The window's actions, its two toolbars and its menus."""
    win.train_action = action(win, "Train", "Start training with the settings on the left.", win._on_train_action, icon="train")
    win.pause_action = action(win, "Pause", "Pause between steps; press again to resume.", win._on_pause_action, "Space", checkable=True, icon="pause")
    win.step_action = action(win, "Step", "Run exactly one training step while paused.", win.bridge.step, icon="step")
    win.stop_action = action(win, "Stop", "Stop training and save a checkpoint (resumable later).", win.bridge.stop, icon="stop")
    win.save_action = action(win, "Save checkpoint", "Write a checkpoint now (also while paused).", win.bridge.save_checkpoint, QKeySequence.StandardKey.Save, icon="save")
    win.open_action = action(win, "Open run…", "Open a run directory: its config, curves and sample timeline; follows it live if it is still being written.", win._on_open_action, QKeySequence.StandardKey.Open, icon="open")
    win.resume_action = action(win, "Resume run", "Continue training the opened run from its latest checkpoint.", win._on_resume_action, icon="resume")
    win.explore_action = action(win, "Explore", "Open this run's generator in the latent explorer.", win._on_explore_action, icon="explore")
    win.export_action = action(win, "Export model…", "Export a generator to ONNX or TorchScript, checked against its checkpoint.",
                               win._on_export_action, "Ctrl+E", icon="export")
    win.help_action = action(win, "Help", "The quick guide and the keyboard shortcuts.", win.show_help,
                             "F1", icon="help")
    win.about_action = action(win, "About GAN Studio", "Versions, the device, and the built-in datasets' provenance and licences.",
                              win.show_about, icon="about")
    win.quit_action = action(win, "Quit", "Quit (stops training gracefully first).", win.close,
                             "Ctrl+Q", icon="quit")
    tb = QToolBar("Training")
    tb.setObjectName("training")
    for a in (win.train_action, win.pause_action, win.step_action, win.stop_action, win.save_action, win.open_action,
              win.resume_action, win.explore_action):
        tb.addAction(a)
    win.addToolBar(tb)

    live = win.live = LiveSettingsBar(win)
    live.apply_requested.connect(lambda changes: win.bridge.set(**changes))
    win.addToolBar(live)

    build_menus(win, (tb, live))


def recent_runs(settings) -> list[str]:
    value = settings.value("recent_runs") or []
    return [value] if isinstance(value, str) else list(value)


def remember_run(win, path: Path) -> None:
    recent = [p for p in recent_runs(win.settings) if p != str(path)]
    win.settings.setValue("recent_runs", [str(path)] + recent[: MAX_RECENT - 1])
    fill_recent_menu(win)


def fill_recent_menu(win) -> None:
    win.recent_menu.clear()
    runs = [p for p in recent_runs(win.settings) if Path(p).is_dir()]
    for p in runs:
        a = win.recent_menu.addAction(p, lambda p=p: win.open_run(p))
        a.setToolTip(f"Open the run in {p}")
    win.recent_menu.setEnabled(bool(runs))
