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
    tiny(win, preset="dcgan-mnist", log_every=10, sample_every=1000)
    win.train_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.last_step >= 3, timeout=60_000)
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
