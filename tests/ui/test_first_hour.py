"""What a newcomer meets in the first hour: a window that appears at once, a grid that shows learning
within seconds, a status bar that follows pause, step and stop, and a run's rate that ignores pauses."""

import json
import subprocess
import sys

from tests.ui.test_studio import tiny


def test_the_window_paints_before_torch_is_imported():
    """Torch takes seconds to import; the first frame must not wait for it (it is loaded afterwards)."""
    code = (
        "import sys, os\n"
        "os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtWidgets import QApplication\n"
        "from PySide6.QtCore import QEvent, QObject, QTimer\n"
        "app = QApplication([])\n"
        "from ganstudio.ui.main_window import MainWindow\n"
        "seen = []\n"
        "class F(QObject):\n"
        "    def eventFilter(self, o, e):\n"
        "        if e.type() == QEvent.Type.Paint and not seen:\n"
        "            seen.append('torch' in sys.modules)\n"
        "            QTimer.singleShot(0, app.quit)\n"
        "        return False\n"
        "f = F()\n"
        "import tempfile\n"
        "from PySide6.QtCore import QSettings\n"
        "w = MainWindow(runs_root=tempfile.mkdtemp(), settings=QSettings(tempfile.mkdtemp() + '/s.ini', QSettings.Format.IniFormat))\n"
        "w.installEventFilter(f)\n"
        "w.show()\n"
        "QTimer.singleShot(20000, app.quit)\n"
        "app.exec()\n"
        "print('torch imported before the first paint' if seen and seen[0] else 'painted first' if seen else 'no paint')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip().splitlines()[-1] == "painted first", out.stdout + out.stderr


def test_status_bar_follows_pause_single_steps_and_stop(win, qtbot):
    tiny(win, preset="dcgan-mnist", log_every=10, sample_every=1000, threads=0)
    win.train_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.last_step >= 3, timeout=60_000)
    assert "thread" in win.device_label.text() and "cores" in win.device_label.text()  # what the default chose
    win.pause_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.state == "paused", timeout=30_000)
    at = win.bridge.last_step
    assert win.speed_label.text() == "paused" and win.eta_label.text() == ""
    assert win.step_label.text().startswith(f"step {at} / ")
    for k in (1, 2):  # between logged steps, the status bar still says where the run is
        win.step_action.trigger()
        qtbot.waitUntil(lambda k=k: win.step_label.text().startswith(f"step {at + k} / "), timeout=30_000)
    win.save_action.trigger()
    qtbot.waitUntil(lambda: (win.run_dir / f"checkpoints/step_{at + 2:08d}.pt").exists(), timeout=30_000)
    win.stop_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.state == "idle", timeout=30_000)
    # both ends of the status bar agree on where it stopped
    assert win.step_label.text().startswith(f"step {at + 2} / ")
    assert win.speed_label.text() == "stopped" and win.eta_label.text() == ""


def test_rates_leave_out_time_spent_paused(win, qtbot):
    tiny(win, preset="dcgan-mnist", log_every=4, sample_every=1000)
    win.train_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.last_step >= 10, timeout=60_000)
    win.pause_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.state == "paused", timeout=30_000)
    qtbot.wait(1500)  # a pause far longer than a few steps
    at = win.bridge.last_step
    for k in (1, 2, 3):  # single steps while paused: their time counts, the waits between them do not
        win.step_action.trigger()
        qtbot.waitUntil(lambda k=k: win.bridge.last_step == at + k and win.bridge.state == "paused", timeout=30_000)
        qtbot.wait(300)
    win.pause_action.trigger()  # resume
    qtbot.waitUntil(lambda: win.bridge.state == "running", timeout=30_000)
    at = win.bridge.last_step
    qtbot.waitUntil(lambda: win.bridge.last_step >= at + 12, timeout=60_000)
    win.stop_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.state == "idle", timeout=30_000)
    rates = [json.loads(line)["img_per_s"] for line in (win.run_dir / "metrics.jsonl").read_text().splitlines()]
    steady = sorted(rates[1:])[len(rates[1:]) // 2]
    # the record spanning the pause counts only training time: no spike, no dip
    assert max(rates[1:]) < 2.0 * steady and min(rates[1:]) > 0.5 * steady, rates


def test_dark_theme_reaches_every_plot(win):
    import pyqtgraph as pg

    win.set_theme("dark")
    views = win.findChildren(pg.GraphicsView)
    assert len(views) >= 3  # the training curves, the metrics plot, the scatter and grids
    for view in views:
        assert view.backgroundBrush().color().lightness() < 60, view
    # a plot made later (a family's own panel) starts dark too
    assert pg.mkColor(pg.getConfigOption("background")).lightness() < 60
    win.set_theme("light")
    assert all(v.backgroundBrush().color().lightness() > 200 for v in win.findChildren(pg.GraphicsView))


def test_view_menu_hides_and_shows_every_panel(win, qtbot):
    from PySide6.QtWidgets import QDockWidget

    docks = win.findChildren(QDockWidget)
    assert {d.windowTitle() for d in docks} >= {"Setup", "Health", "Metrics"}
    for dock in docks:
        toggle = dock.toggleViewAction()
        assert toggle.isEnabled(), dock.windowTitle()
        was = dock.isVisible()
        toggle.trigger()
        qtbot.waitUntil(lambda d=dock, w=was: d.isVisible() != w, timeout=5_000)
        toggle.trigger()
        qtbot.waitUntil(lambda d=dock, w=was: d.isVisible() == w, timeout=5_000)


def test_one_evaluation_draws_its_real_vs_real_floor(qtbot, tmp_path):
    from ganstudio.ui.metrics_panel import MetricsPanel

    (tmp_path / "eval.json").write_text(json.dumps({"evaluations": [
        {"checkpoint": "latest.pt", "step": 300, "n": 1000, "values": {"fd": 4.0, "fd_floor": 0.5},
         "unavailable": {}, "judge": "", "seconds": {"fd": 1.0}}]}))
    panel = MetricsPanel()
    qtbot.addWidget(panel)
    panel.follow(tmp_path)
    x, y = panel.floor.getData()
    assert len(x) >= 2 and list(y) == [0.5] * len(x)  # a line has two ends: it is drawn
    assert max(x) == 300


def test_setup_shows_only_the_families_options_and_marks_the_inert_ones(win, qtbot):
    from PySide6.QtWidgets import QGroupBox

    qtbot.waitUntil(lambda: win.setup.preset_combo.count() > 0, timeout=30_000)

    def titles():
        return [b.title() for b in win.setup.findChildren(QGroupBox) if b.isVisibleTo(win.setup)]

    win.setup.preset_combo.setCurrentText("cyclegan-horse2zebra")
    win.setup.preset_combo.setCurrentText("dcgan-mnist")
    assert not [t for t in titles() if "CycleGAN" in t], titles()
    ed = win.setup.editors
    assert ed["loss"].currentText() == "ns"
    qtbot.waitUntil(lambda: not ed["gp_weight"].isEnabled(), timeout=5_000)
    assert "Has no effect now" in ed["gp_weight"].toolTip() and ed["n_critic"].isEnabled()
    ed["loss"].setCurrentText("wgan-gp")
    qtbot.waitUntil(lambda: ed["gp_weight"].isEnabled(), timeout=5_000)
    assert "Has no effect" not in ed["gp_weight"].toolTip()


def test_live_weight_box_offers_only_what_acts_on_the_run(win, qtbot):
    from ganstudio.core.config import PRESETS

    win.live.show_config(PRESETS.get("dcgan-mnist").config())  # loss ns: no gradient penalty, no R1
    names = [win.live.weight_combo.itemText(i) for i in range(win.live.weight_combo.count())]
    assert "gp_weight" not in names and "r1_gamma" not in names and "n_critic" in names
    assert win.live.weight_combo.currentText() != "gp_weight"


def test_train_help_explains_every_option(capsys):
    import pytest

    from ganstudio.cli import main

    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "all cores" not in out and "not busy with other work" in out
    options = out.split("options:", 1)[1]  # past the usage line
    for flag in ("--batch-size", "--seed", "--log-every", "--sample-every", "--checkpoint-every"):
        after = options.split(flag + " ", 1)[1].split(" --", 1)[0]
        assert len(after.split()) > 3, (flag, after)  # the metavar and a help text


def test_the_metrics_plot_has_room_for_its_top_tick_label(qtbot):
    from ganstudio.ui.metrics_panel import MetricsPanel

    panel = MetricsPanel()
    qtbot.addWidget(panel)
    panel.resize(300, 500)
    panel.show()
    qtbot.waitExposed(panel)
    from PySide6.QtGui import QFontMetrics

    item = panel.plot.getPlotItem()
    half = QFontMetrics(item.getAxis("left").style.get("tickFont") or panel.font()).height() / 2
    # the top tick sits at the view box's top edge; half its label's height must fit above it
    assert item.vb.sceneBoundingRect().top() >= half, item.vb.sceneBoundingRect()


def _window_at_1280_by_800_with_a_run(win, qtbot, run, preset: str):
    """Train `preset` one step into `run`, then size the window as a 1280×800 screen gives it."""
    from ganstudio.core.config import PRESETS, apply_overrides
    from ganstudio.core.train import iter_train

    for _ in iter_train(apply_overrides(PRESETS.get(preset).config(),
                                        dict(steps=1, batch_size=8, threads=1, sample_count=16, log_every=1)), run):
        pass
    win.resize(1280, 800)
    qtbot.waitUntil(lambda: win.setup.preset_combo.count() > 0, timeout=30_000)
    win.fit_docks()
    qtbot.wait(200)


def test_panels_fit_a_1280_by_800_window_without_clipping(win, qtbot, tmp_path):
    from PySide6.QtWidgets import QScrollArea

    run = tmp_path / "run"
    _window_at_1280_by_800_with_a_run(win, qtbot, run, "dcgan-mnist")
    assert win.width() <= 1280
    # Setup: wide enough for its form, so no sideways scrolling hides a combo or the dataset summary
    scroll = win.setup.findChild(QScrollArea)
    assert scroll.widget().width() >= scroll.widget().minimumSizeHint().width()
    assert win.setup.width() >= 300
    assert win.health_dock.width() <= 0.3 * win.width()  # empty Health does not take a third of the window
    # Explore: every control of its left column is fully visible
    assert win.explorer.load(run)
    win.tabs.setCurrentWidget(win.explorer)
    qtbot.wait(300)
    assert win.width() <= 1280
    left = win.explorer._left_scroll
    assert left.widget().width() >= left.widget().sizeHint().width() - 1
    for w in (win.explorer.random_button, win.explorer.reset_button, win.explorer.psi_label):
        r = w.rect().translated(w.mapTo(left.viewport(), w.rect().topLeft()))
        assert left.viewport().rect().contains(r), w
    win.tabs.setCurrentIndex(0)
    qtbot.waitUntil(lambda: win.setup_dock.isVisible(), timeout=5_000)  # Setup is back on Train


def _cut_off(win) -> list[str]:
    """Controls of the window that are not fully on screen: outside the window, or cut sideways by the
    scroll area they sit in (scrolling down is fine; a clipped combo or label is not)."""
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import (QAbstractButton, QAbstractSpinBox, QComboBox, QLabel, QLineEdit, QScrollArea, QSlider,
                                   QWidget)

    bad = []
    kinds = (QAbstractButton, QComboBox, QAbstractSpinBox, QLineEdit, QSlider, QLabel)
    window = QRect(QPoint(0, 0), win.size())
    for w in win.findChildren(QWidget):
        if not isinstance(w, kinds) or not w.isVisible() or w.width() <= 0 or (isinstance(w, QLabel) and not w.text()):
            continue
        if w.visibleRegion().isEmpty():  # on a dock tab behind another, or scrolled out of view: not on screen at all
            continue
        rect = QRect(w.mapTo(win, QPoint(0, 0)), w.size())
        if not window.contains(rect):
            bad.append(f"{type(w).__name__} {w.objectName()} {w.text() if hasattr(w, 'text') else ''!r} outside the window {rect} parent {type(w.parentWidget()).__name__}")
            continue
        parent = w.parentWidget()
        while parent is not None and not isinstance(parent, QScrollArea):
            parent = parent.parentWidget()
        if parent is not None:
            view = parent.viewport()
            vr = QRect(view.mapTo(win, QPoint(0, 0)), view.size())
            if rect.left() < vr.left() - 1 or rect.right() > vr.right() + 1:
                bad.append(f"{type(w).__name__} {w.text() if hasattr(w, 'text') else ''!r} cut off sideways")
    return bad


def test_every_tab_fits_1280_by_800_with_nothing_cut_off_and_no_sideways_scrollbar(win, qtbot, tmp_path):
    from PySide6.QtWidgets import QScrollArea

    run = tmp_path / "run"
    _window_at_1280_by_800_with_a_run(win, qtbot, run, "cgan-mnist")
    assert win.explorer.load(run)
    for advanced in (False, True):
        win.setup.advanced_button.setChecked(advanced)
        for i in range(win.tabs.count()):
            win.tabs.setCurrentIndex(i)
            qtbot.wait(300)
            where = f"{win.tabs.tabText(i)} (Advanced {'open' if advanced else 'folded'})"
            assert win.width() <= 1280 and win.height() <= 800, where
            assert _cut_off(win) == [], (where, _cut_off(win))
            sideways = [s for s in win.findChildren(QScrollArea) if s.isVisible() and s.horizontalScrollBar().isVisible()]
            assert sideways == [], where
    # the check sees clipping: Setup squeezed below its form's width cuts its combos off
    from PySide6.QtCore import Qt

    win.tabs.setCurrentIndex(0)
    win.setup.setMinimumWidth(0)
    win.resizeDocks([win.setup_dock], [120], Qt.Orientation.Horizontal)
    qtbot.wait(300)
    assert any("cut off sideways" in b for b in _cut_off(win))


def test_explore_with_an_infogans_codes_fits_1280_by_800(win, qtbot, tmp_path):
    from PySide6.QtWidgets import QScrollArea

    run = tmp_path / "run"
    _window_at_1280_by_800_with_a_run(win, qtbot, run, "infogan-mnist")
    assert win.explorer.load(run)
    win.tabs.setCurrentWidget(win.explorer)
    for tab in (win.explorer.codes, win.explorer.codes.grid_tab):
        (win.explorer.slider_tabs if tab is win.explorer.codes else win.explorer.tabs).setCurrentWidget(tab)
        qtbot.wait(300)
        assert win.width() <= 1280 and win.height() <= 800
        assert len(win.explorer.codes.controls_) == 3 and _cut_off(win) == [], _cut_off(win)
        assert [s for s in win.findChildren(QScrollArea) if s.isVisible() and s.horizontalScrollBar().isVisible()] == []


def test_setup_puts_task_recipe_dataset_steps_and_size_first_and_folds_the_rest(win, qtbot):
    qtbot.waitUntil(lambda: win.setup.preset_combo.count() > 0, timeout=30_000)
    qtbot.wait(100)  # rows added to a shown panel appear on the next turn of the event loop
    s = win.setup
    assert not s.advanced_button.isChecked() and not s.editors["lr_d"].isVisibleTo(s)
    assert s.editors["steps"].isVisibleTo(s) and s.editors["image_size"].isVisibleTo(s)
    s.preset_combo.setCurrentText("cyclegan-horse2zebra")
    assert s.task_combo.currentText() == "Translate images"
    s.task_combo.setCurrentIndex(0)
    s.task_combo.activated.emit(0)
    assert s.task_combo.currentText() == "Generate images" and s.values()["family"] == "gan"
    qtbot.waitUntil(lambda: s.thumbnails.isVisibleTo(s), timeout=30_000)  # a few of the dataset's images
    assert s.thumbnails.pixmap().height() == 40
    qtbot.waitUntil(lambda: "steps ≈" in s.pace_label.text(), timeout=60_000)  # the measured pace
    s.advanced_button.setChecked(True)
    assert s.editors["lr_d"].isVisibleTo(s)
