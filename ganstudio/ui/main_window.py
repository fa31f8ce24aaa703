"""MainWindow: composes the setup, samples, curves and health panels around one TrainBridge."""

from __future__ import annotations

import time
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QApplication,
    QDockWidget,
    QFileDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTabWidget,
    QWidget,
)

from ganstudio.ui.bridge import TrainBridge
from ganstudio.ui.curves import CurvesPanel
from ganstudio.ui.metrics_panel import MetricsPanel
from ganstudio.ui.explorer import ExplorerPanel
from ganstudio.ui.icons import app_icon
from ganstudio.ui.menus import build_actions, recent_runs, remember_run
from ganstudio.ui.theme import CHOICES as THEME_CHOICES
from ganstudio.ui.theme import Theme, ThemedIcons
from ganstudio.ui.translate_panel import TranslatePanel
from ganstudio.ui.panels import HealthPanel, RunFollower
from ganstudio.ui.samples import SamplesPanel
from ganstudio.ui.setup import SetupPanel
from ganstudio.ui.widgets import in_background

DATASET_SUFFIXES = (".npz", ".gz", "-ubyte")
SIDE_MIN, SIDE_MAX = 240, 340  # the Health / Metrics column's first width (px)


def default_runs_root() -> Path:
    return Path.home() / "GANStudio" / "runs"


class _Preloader(QObject):
    """Imports torch and the training core in the background so the window shows at once."""

    ready = Signal()
    started = False

    def start(self) -> None:
        if self.started:
            return
        self.started = True

        def work():
            import ganstudio.core.train  # noqa: F401  (torch, models, losses, data)

        in_background(self, work, lambda _: self.ready.emit(), "ganstudio-preload")


class MainWindow(QMainWindow):
    def __init__(self, runs_root: str | Path | None = None, settings: QSettings | None = None):
        super().__init__()
        self.setWindowTitle("GAN Studio")
        self.setAcceptDrops(True)
        self.settings = settings or QSettings("GANStudio", "GANStudio")
        self.runs_root = Path(runs_root) if runs_root else default_runs_root()
        self.run_dir: Path | None = None
        self._close_when_idle = False
        self._t_run = None
        self._step_t0 = None
        self._paused_s = 0.0  # time the current run has spent paused (left out of its ETA)
        self._paused_since = None
        self._opened_steps = None  # total steps of a run opened to look at

        self.icons = ThemedIcons(self)  # action icons and plots, recoloured with the theme
        self.bridge = TrainBridge(self)
        self.setup = SetupPanel()
        self.setup.width_changed.connect(self.fit_docks)
        self.samples = SamplesPanel()
        self.curves = CurvesPanel()
        self.health = HealthPanel()
        self.metrics = MetricsPanel()
        self.metrics.link_x(self.curves.plots["Loss"])
        self.follower = RunFollower(self)

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.samples)
        split.addWidget(self.curves)
        split.setSizes([420, 380])
        self.explorer = ExplorerPanel()
        self.explorer.status.connect(lambda msg: self.statusBar().showMessage(msg, 10000))
        self.tabs = QTabWidget()
        self.tabs.addTab(split, "Train")
        self.tabs.addTab(self.explorer, "Explore")
        self.translator = TranslatePanel()
        self.tabs.addTab(self.translator, "Translate")
        self.setCentralWidget(self.tabs)
        self.setup_dock = self._dock("Setup", self.setup, Qt.DockWidgetArea.LeftDockWidgetArea)
        health_dock = self._dock("Health", self.health, Qt.DockWidgetArea.RightDockWidgetArea)
        self.health_dock = health_dock
        metrics_dock = self._dock("Metrics", self.metrics, Qt.DockWidgetArea.RightDockWidgetArea)
        self.tabifyDockWidget(health_dock, metrics_dock)
        health_dock.raise_()
        self._setup_shown = True  # whether Setup shows on the Train tab (the View menu's choice)
        self._on_train_tab = True
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        build_actions(self)
        self._build_status()
        self.setWindowIcon(app_icon())
        self.theme = Theme.of(QApplication.instance())
        self.theme.changed.connect(self.icons.apply)
        self.set_theme(str(self.settings.value("theme", "system")))

        b = self.bridge
        b.started.connect(self._on_bridge_started)
        b.metrics_ready.connect(self._on_bridge_metrics_ready)
        b.sample_ready.connect(self._on_bridge_sample_ready)
        b.samples_saved.connect(self.samples.add_saved)
        b.warning_raised.connect(self._on_bridge_warning_raised)
        b.state_changed.connect(self._on_bridge_state_changed)
        b.step_changed.connect(self._on_bridge_step_changed)
        b.checkpoint_saved.connect(lambda ev: self.statusBar().showMessage(f"checkpoint saved: {ev.path}", 5000))
        b.evaluated.connect(self._on_bridge_evaluated)
        self.metrics.evaluation_failed.connect(lambda msg: self.statusBar().showMessage(msg, 10000))
        b.settings_changed.connect(self._on_bridge_settings_changed)
        b.finished.connect(self._on_bridge_finished)
        b.failed.connect(self._on_bridge_failed)
        self.curves.exported.connect(lambda path: self.statusBar().showMessage(f"metrics exported to {path}", 8000))
        self.setup.dataset_inspected.connect(
            lambda d: d is not None and self.statusBar().showMessage(f"dataset: {d.fit_summary()}", 8000))
        self.follower.records_added.connect(self.curves.add_records)
        self.follower.records_added.connect(self._on_follower_records)
        self.follower.samples_added.connect(self.samples.add_saved)
        self.follower.reset.connect(self.curves.clear)
        self.follower.reset.connect(self.health.clear)
        self.follower.warnings_added.connect(self._on_follower_warnings)

        # Torch and the training core load in the background once the window has painted: started
        # earlier, the import holds the interpreter while Qt lays out and paints the first frame.
        self._preloader = _Preloader(self)
        self._preloader.ready.connect(self._on_preloader_ready)
        QTimer.singleShot(1500, self._preloader.start)  # a window that is never shown still gets the core
        self._update_actions()
        geometry = self.settings.value("geometry")
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(self.first_size())

    def first_size(self):
        """1280×820, or the screen's free area where that is smaller (a 1280×800 laptop screen with a panel)."""
        from PySide6.QtCore import QSize
        from PySide6.QtGui import QGuiApplication

        screen = self.screen() or QGuiApplication.primaryScreen()
        free = screen.availableGeometry().size() if screen is not None else QSize(1280, 820)
        return QSize(min(1280, free.width()), min(820, free.height()))

    # ------------------------------------------------------------ construction

    def _dock(self, title: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(title)
        dock.setWidget(widget)
        f = QDockWidget.DockWidgetFeature
        # closable: the View menu's entry (the dock's toggle action) is greyed out without it
        dock.setFeatures(f.DockWidgetMovable | f.DockWidgetFloatable | f.DockWidgetClosable)
        self.addDockWidget(area, dock)
        return dock

    def _build_status(self) -> None:
        self.step_label = QLabel("step –")
        self.speed_label = QLabel("")
        self.eta_label = QLabel("")
        self.device_label = QLabel("")
        for w in (self.step_label, self.speed_label, self.eta_label, self.device_label):
            self.statusBar().addPermanentWidget(w)

    # ------------------------------------------------------------ state

    def _update_actions(self) -> None:
        state = self.bridge.state
        running = state in ("running", "paused", "stopping")
        self.train_action.setEnabled(not running)
        self.pause_action.setEnabled(state in ("running", "paused"))
        self.pause_action.setChecked(state == "paused")
        self.pause_action.setText("Resume" if state == "paused" else "Pause")
        self.step_action.setEnabled(state == "paused")
        self.stop_action.setEnabled(state in ("running", "paused"))
        self.save_action.setEnabled(state in ("running", "paused"))
        self.live.apply_button.setEnabled(state in ("running", "paused"))
        self.resume_action.setEnabled(not running and self.run_dir is not None and (self.run_dir / "checkpoints/latest.pt").is_file())
        self.setup.setEnabled(not running)
        self.explore_action.setEnabled(self.run_dir is not None and (self.run_dir / "checkpoints/latest.pt").is_file())
        self.icons.set(self.pause_action, "train" if state == "paused" else "pause")

    def _remember_run(self, path: Path) -> None:
        remember_run(self, path)

    def recent_runs(self) -> list[str]:
        return recent_runs(self.settings)

    # ------------------------------------------------------------ training

    def _start(self, cfg, run_dir: Path, resume: bool, data=None) -> None:
        from ganstudio.core.checkpoint import RunDir
        from ganstudio.core.data import point_centers

        self.follower.stop()
        self.run_dir = run_dir
        self.health.clear()
        self.samples.clear(point_centers(cfg.dataset))
        if resume:  # keep the run's history: its timeline (curves were loaded when it was opened)
            run = RunDir(run_dir)
            self.samples.add_saved([(s, str(run.sample_path(s))) for s in run.sample_steps()])
        else:
            self.curves.clear()
        self.curves.set_family(cfg.family)
        self.live.show_config(cfg)
        self._t_run, self._step_t0, self._paused_s, self._paused_since = None, None, 0.0, None
        self.speed_label.setText("starting")
        self.eta_label.setText("")
        self.metrics.follow(run_dir)
        self.bridge.start(cfg, run_dir, resume=resume, data=data)
        self._remember_run(run_dir)
        self._update_actions()

    def _on_train_action(self) -> None:
        from ganstudio.core.checkpoint import default_run_dir
        from ganstudio.core.config import ConfigError

        try:
            cfg = self.setup.config()
        except ConfigError as e:
            QMessageBox.warning(self, "Check the settings", str(e))
            return
        self._start(cfg, default_run_dir(self.setup.preset_combo.currentText(), self.runs_root), resume=False,
                    data=self.setup.dataset_for(cfg))

    def _on_resume_action(self) -> None:
        if self.run_dir is None:
            return
        from ganstudio.core.checkpoint import CheckpointError
        from ganstudio.core.config import ConfigError
        from ganstudio.core.config import resume_fields
        from ganstudio.core.train import resume_config

        try:
            # The run's own config, with what the form may change on a resume (steps, rates, …).
            values = self.setup.values()
            form = {k: v for k, v in values.items() if k in resume_fields(values["family"])}
            cfg = resume_config(self.run_dir, form)
        except (CheckpointError, ConfigError) as e:
            QMessageBox.warning(self, "Cannot resume", str(e))
            return
        self._start(cfg, self.run_dir, resume=True)

    def _on_explore_action(self) -> None:
        if self.run_dir is not None and self.explorer.load(self.run_dir):
            self.tabs.setCurrentWidget(self.explorer)

    def _on_pause_action(self) -> None:
        if self.bridge.state == "paused":
            self.bridge.resume()
        else:
            self.bridge.pause()

    def _on_bridge_started(self, ev) -> None:
        self.device_label.setText(f"{ev.device} · {ev.threads}" if ev.threads else ev.device)  # what the default chose
        self.step_label.setText(f"step {ev.step} / {ev.total_steps}")
        if ev.skipped:
            self.statusBar().showMessage(ev.skipped, 15000)

    def _on_bridge_evaluated(self, ev) -> None:
        from ganstudio.core.evaluate import headline

        self.statusBar().showMessage(f"evaluation of step {ev.step} ({ev.seconds:.1f} s): "
                                     + headline(ev.values, self.live.cfg.family if self.live.cfg else None, ev.best, ev.error), 10000)
        self.metrics.reload()

    def _on_bridge_settings_changed(self, changes: dict) -> None:
        """Keep the form and the live fields in step with what the loop now runs."""
        self.live.applied(changes)
        self.setup.update_values(changes)
        self.statusBar().showMessage(f"applied: {changes}", 5000)

    def _on_bridge_metrics_ready(self, events: list) -> None:
        self.curves.add_metrics(events)
        last = events[-1]
        now = time.perf_counter()
        if self._t_run is None:
            self._t_run, self._step_t0, self._paused_s = now, last.step, 0.0
        total = self.bridge.total_steps
        self.step_label.setText(f"step {last.step} / {total}")
        if self.bridge.state == "paused":
            return  # a single step: its rate and the ETA mean nothing while paused
        self.speed_label.setText(f"{last.values.get('img_per_s', 0):,.0f} img/s")
        done = last.step - self._step_t0
        trained = now - self._t_run - self._paused_s  # time spent paused is not training time
        if done > 0 and trained > 0:
            eta = (total - last.step) * trained / done
            self.eta_label.setText(f"ETA {int(eta) // 60}m{int(eta) % 60:02d}s")

    def _on_bridge_step_changed(self, step: int) -> None:
        self.step_label.setText(f"step {step} / {self.bridge.total_steps}")

    def _on_bridge_sample_ready(self, ev) -> None:
        self.samples.show_live(ev.step, ev.image, ev.points)

    def _on_follower_records(self, records: list) -> None:
        if records and not self.bridge.running:  # an opened run: where it got to
            total = self._opened_steps or "?"
            self.step_label.setText(f"step {records[-1].get('step', '–')} / {total}")

    def _on_follower_warnings(self, records: list) -> None:
        for r in records:
            self.health.add_warning(int(r.get("step", 0)), str(r.get("kind", "")), str(r.get("message", "")),
                                    str(r.get("advice", "")))

    def _on_bridge_warning_raised(self, ev) -> None:
        self.health.add_warning(ev.step, ev.kind, ev.message, ev.advice)
        if ev.kind == "nan":
            self.statusBar().showMessage("Training diverged and is paused: see Health.", 15000)

    def _on_bridge_state_changed(self, state: str) -> None:
        self._update_actions()
        now = time.perf_counter()
        if state == "paused":
            self._paused_since = now
            self.speed_label.setText("paused")
            self.eta_label.setText("")
        elif self._paused_since is not None:
            self._paused_s += now - self._paused_since
            self._paused_since = None
            if state == "running":
                self.speed_label.setText("running")
        if state == "idle" and self._close_when_idle:
            self.close()

    def _on_bridge_finished(self, ev) -> None:
        self.step_label.setText(f"step {ev.step} / {self.bridge.total_steps}")
        self.speed_label.setText(ev.reason)  # "completed", "stopped" or "diverged": the two ends agree
        self.eta_label.setText("")
        self.statusBar().showMessage(f"training {ev.reason} at step {ev.step}; checkpoint: {ev.checkpoint}", 15000)

    def _on_bridge_failed(self, message: str) -> None:
        QMessageBox.warning(self, "Training could not run", message)

    # ------------------------------------------------------------ look, help, export

    def set_theme(self, choice: str) -> None:
        choice = choice if choice in THEME_CHOICES else "system"
        self.settings.setValue("theme", choice)
        self.theme_actions[choice].setChecked(True)
        self.theme.set_choice(choice)  # emits changed → icons.apply

    def show_help(self) -> None:
        from ganstudio.ui.about import HelpDialog, shortcuts_of

        if getattr(self, "help_dialog", None) is None:
            self.help_dialog = HelpDialog(shortcuts_of(self), self)
        self.help_dialog.show()
        self.help_dialog.raise_()

    def show_about(self) -> None:
        from ganstudio.ui.about import AboutDialog

        if getattr(self, "about_dialog", None) is None:
            self.about_dialog = AboutDialog(self)
        self.about_dialog.show()
        self.about_dialog.raise_()

    def _on_export_action(self) -> None:
        from ganstudio.ui.export_dialog import ExportDialog

        ckpt = None
        if self.run_dir is not None and (self.run_dir / "checkpoints/latest.pt").is_file():
            ckpt = self.run_dir / "checkpoints/latest.pt"
        if getattr(self, "export_dialog", None) is None or not self.export_dialog.isVisible():
            self.export_dialog = ExportDialog(ckpt, self)
        self.export_dialog.show()
        self.export_dialog.raise_()

    # ------------------------------------------------------------ runs on disk

    def _on_open_action(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Open a run directory", str(self.runs_root))
        if path:
            self.open_run(path)

    def open_run(self, path: str | Path) -> bool:
        """Show a run directory's config, curves and sample timeline; follow it while it grows."""
        from ganstudio.core.config import ConfigError, load_toml

        path = Path(path)
        if not (path / "config.toml").is_file() and not (path / "metrics.jsonl").is_file():
            QMessageBox.warning(self, "Open run", f"{path} is not a GAN Studio run (no config.toml or metrics.jsonl).")
            return False
        if self.bridge.running:
            QMessageBox.information(self, "Open run", "Stop the current training first.")
            return False
        try:
            cfg = load_toml(path / "config.toml")
            self.setup.set_config(cfg)
            self.curves.set_family(cfg.family)
            from ganstudio.core.data import point_centers

            self.samples.clear(point_centers(cfg.dataset))
            self._opened_steps = cfg.steps
            self.step_label.setText(f"step – / {cfg.steps}")
        except ConfigError as e:
            self.statusBar().showMessage(f"config not readable: {e}", 10000)
            self.samples.clear(None)
        self.health.clear()
        self.run_dir = path
        self.follower.follow(path, live=True)
        self.metrics.follow(path)
        self._remember_run(path)
        self._update_actions()
        self.setWindowTitle(f"GAN Studio — {path.name}")
        return True

    # ------------------------------------------------------------ drops

    @staticmethod
    def _droppable(path: Path) -> bool:
        return path.is_dir() or path.name.endswith(DATASET_SUFFIXES + (".pt",))

    def dragEnterEvent(self, event) -> None:
        urls = event.mimeData().urls() if event.mimeData().hasUrls() else []
        if urls and self._droppable(Path(urls[0].toLocalFile())):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls()]
        for p in paths:
            if self._droppable(p):
                self.drop_path(p)
                event.acceptProposedAction()
                return

    def drop_path(self, path: Path) -> None:
        """A dropped run directory opens the run; any other folder or IDX/npz file becomes the dataset."""
        if path.suffix == ".pt":
            # a checkpoint: translation models go to the Translate tab, generators to Explore
            from ganstudio.core.errors import CheckpointError
            from ganstudio.core.inference import read_checkpoint, signature_of

            try:
                task = signature_of(read_checkpoint(path)).kind
            except CheckpointError as e:
                self.statusBar().showMessage(str(e), 15000)
                return
            panel = self.translator if task == "translate" else self.explorer
            if (panel.load_model(path) if task == "translate" else panel.load(path)):
                self.tabs.setCurrentWidget(panel)
        elif path.is_dir() and (path / "config.toml").is_file() and (path / "metrics.jsonl").is_file():
            self.open_run(path)
        elif not self.bridge.running:
            self.setup.set_dataset(str(path))

    # ------------------------------------------------------------ start / close

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if not self._preloader.started:
            QTimer.singleShot(0, self._preloader.start)  # after this frame reaches the screen

    def _on_preloader_ready(self) -> None:
        self.setup.fill_registry_choices()
        self.setup.inspect_dataset()
        self.fit_docks()

    def _on_tabs_current_changed(self, index: int) -> None:
        """Setup is the training form: Explore and Translate get its width, and it comes back on Train
        as the View menu last left it. At 1280 px the explorer's controls did not fit beside it."""
        training = index == 0
        if training:
            self.setup_dock.setVisible(self._setup_shown)
        else:
            if self._on_train_tab:
                self._setup_shown = not self.setup_dock.isHidden()
            self.setup_dock.hide()
        self._on_train_tab = training

    def fit_docks(self) -> None:
        """Setup as wide as its form, Health and Metrics narrow (empty until training speaks): the
        samples and curves get the rest of the window."""
        side = max(SIDE_MIN, min(SIDE_MAX, self.width() // 5))
        self.resizeDocks([self.setup_dock, self.health_dock], [self.setup.fit_width(), side], Qt.Orientation.Horizontal)

    def closeEvent(self, event) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        if self.bridge.running:
            # Never block the GUI on the training thread: ask it to stop (it saves a
            # checkpoint), and close for real when it reports idle.
            self._close_when_idle = True
            self.bridge.stop()
            self.statusBar().showMessage("Stopping training and saving a checkpoint…")
            event.ignore()
            return
        self.follower.stop()
        self.metrics.shutdown()
        self.explorer.shutdown()
        self.translator.shutdown()
        event.accept()
