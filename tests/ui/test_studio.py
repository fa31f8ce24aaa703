"""The studio window, driven as a person would (offscreen): train, pause, step, stop, live lr, drops, runs."""

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from ganstudio.core.checkpoint import load_checkpoint


def set_field(w, name, value):
    editor = w.setup.editors[name]
    from PySide6.QtWidgets import QCheckBox, QComboBox, QSpinBox

    if isinstance(editor, QSpinBox):
        editor.setValue(value)
    elif isinstance(editor, QCheckBox):
        editor.setChecked(value)
    elif isinstance(editor, QComboBox):
        if editor.findText(str(value)) < 0:
            editor.addItem(str(value))
        editor.setCurrentText(str(value))
    else:
        editor.setText(str(value))


def tiny(w, preset="ring8", steps=100_000, **fields):
    w.setup.preset_combo.setCurrentText(preset)
    for name, value in {"steps": steps, "batch_size": 16, "log_every": 1, "sample_every": 5, "threads": 1, **fields}.items():
        set_field(w, name, value)


def test_train_shows_samples_and_curves_then_stop_writes_a_checkpoint(win, qtbot):
    tiny(win)
    win.train_action.trigger()
    qtbot.waitUntil(lambda: win.curves.series.get("loss/d") is not None and win.curves.series["loss/d"].n >= 10, timeout=30_000)
    qtbot.waitUntil(lambda: len(win.samples.timeline) >= 2, timeout=30_000)
    assert win.samples.scatter.points.data.size > 0  # 2-D run: live scatter of generated points
    assert win.step_label.text().startswith("step ")
    assert not win.train_action.isEnabled() and win.stop_action.isEnabled()
    win.stop_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.state == "idle", timeout=30_000)
    ck = load_checkpoint(win.run_dir / "checkpoints/latest.pt")
    assert ck["step"] >= 10
    assert win.train_action.isEnabled() and win.resume_action.isEnabled()


def test_image_run_shows_a_crisp_grid(win, qtbot):
    tiny(win, preset="dcgan-mnist", steps=4, sample_every=2, sample_count=16)
    win.train_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.state == "idle", timeout=60_000)
    img = win.samples.shown_image()
    assert img is not None and img.shape == (122, 122, 3)
    assert [s for s, _ in win.samples.timeline] == [0, 1, 2, 4]  # and step 1: early grids come sooner
    # scrubbing the timeline back shows the first grid
    win.samples.slider.setValue(0)
    assert win.samples.step_label.text() == "step 0"


def test_pause_step_resume_and_live_lr(win, qtbot):
    tiny(win)
    win.train_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.last_step >= 3, timeout=30_000)
    win.pause_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.state == "paused", timeout=10_000)
    assert win.step_action.isEnabled() and win.pause_action.text() == "Resume"
    paused_at = win.bridge.last_step
    qtbot.wait(300)
    assert win.bridge.last_step == paused_at  # really paused
    win.live.lr_d_edit.setText("1e-05")
    win.live.apply_button.click()
    win.step_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.last_step == paused_at + 1, timeout=10_000)
    qtbot.waitUntil(lambda: win.curves.records and win.curves.records[-1]["step"] == paused_at + 1, timeout=10_000)
    qtbot.wait(200)
    assert win.bridge.last_step == paused_at + 1  # exactly one step
    assert win.curves.records[-1]["lr/d"] == pytest.approx(1e-5)  # the change reached the loop
    win.live.weight_combo.setCurrentText("label_smoothing")
    assert win.live.weight_edit.text() == "0"
    win.live.weight_edit.setText("0.1")
    win.live.apply_button.click()
    win.step_action.trigger()
    qtbot.waitUntil(lambda: "label_smoothing = 0.1" in (win.run_dir / "config.toml").read_text(), timeout=10_000)
    # the single step ends paused again; Resume pressed before then would read as Pause
    qtbot.waitUntil(lambda: win.bridge.last_step == paused_at + 2 and win.bridge.state == "paused", timeout=30_000)
    win.pause_action.trigger()
    # wait on the state asserted, not on time: a loaded machine may take long to run the next steps
    qtbot.waitUntil(lambda: win.bridge.state == "running", timeout=30_000)
    qtbot.waitUntil(lambda: win.bridge.last_step > paused_at + 3, timeout=30_000)


def test_forced_nan_shows_health_message_and_pauses(win, qtbot):
    tiny(win, checkpoint_every=3)
    win.train_action.trigger()
    qtbot.waitUntil(lambda: (win.run_dir / "checkpoints/latest.pt").exists(), timeout=30_000)
    win.live.lr_g_edit.setText("1e38")
    win.live.lr_d_edit.setText("1e38")
    win.live.apply_button.click()
    qtbot.waitUntil(lambda: "nan" in win.health.kinds(), timeout=30_000)
    qtbot.waitUntil(lambda: win.bridge.state == "paused", timeout=10_000)
    text = win.health.list.item(0).text()
    assert "diverged" in text and "Try:" in text and "learning rates" in text


def test_dropping_a_folder_selects_it_and_reports_skipped_files(win, qtbot, tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    (folder / "broken.png").write_bytes(b"not an image")
    win.drop_path(folder)
    qtbot.waitUntil(lambda: win.setup.dataset is not None and win.setup.dataset.name == str(folder), timeout=30_000)
    assert win.setup.values()["dataset"] == str(folder)
    label = win.setup.dataset_label.text()
    assert "6 images" in label and "broken.png" in label


def test_drop_of_a_bad_path_shows_the_reason(win, qtbot, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    win.drop_path(empty)
    qtbot.waitUntil(lambda: "no usable image" in win.setup.dataset_label.text() or "no image" in win.setup.dataset_label.text(), timeout=30_000)


def _cli(*args):
    subprocess.run([sys.executable, "-m", "ganstudio", *args], check=True, capture_output=True, timeout=300)


def test_open_run_of_a_finished_cli_run_shows_curves_and_timeline(win, qtbot, tmp_path):
    run = tmp_path / "cli-run"
    _cli("train", "--preset", "ring8", "--steps", "40", "--log-every", "2", "--sample-every", "10", "--run-dir", str(run))
    assert win.open_run(run)
    qtbot.waitUntil(lambda: len(win.curves.records) == 20, timeout=10_000)
    assert [s for s, _ in win.samples.timeline] == [0, 1, 2, 5, 10, 20, 30, 40]
    assert win.step_label.text() == "step 40 / 40"  # where the opened run got to
    assert win.setup.values()["steps"] == 40
    assert win.resume_action.isEnabled()
    # one click resumes training from it, up to the step count now in the form
    set_field(win, "steps", 60)
    win.resume_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.state == "idle" and win.bridge.last_step == 60, timeout=60_000)
    assert load_checkpoint(run / "checkpoints/latest.pt")["step"] == 60
    assert [r["step"] for r in win.curves.records][-1] == 60


def follow_until_it_advances(win, qtbot, run, start_timeout_ms: int) -> int:
    """Open a run another process is writing, once it exists; return the first step seen after the curves moved on."""
    qtbot.waitUntil(lambda: (run / "metrics.jsonl").exists() and (run / "config.toml").exists(), timeout=start_timeout_ms)
    win.follower._timer.setInterval(100)
    assert win.open_run(run)
    qtbot.waitUntil(lambda: len(win.curves.records) > 0, timeout=10_000)
    first = win.curves.records[-1]["step"]
    qtbot.waitUntil(lambda: win.curves.records[-1]["step"] > first + 20, timeout=60_000)
    return first


def test_following_a_run_that_another_process_writes(win, qtbot, tmp_path):
    run = tmp_path / "live-run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "ganstudio", "train", "--preset", "ring8", "--steps", "1000000", "--log-every", "5",
         "--sample-every", "50", "--run-dir", str(run)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        follow_until_it_advances(win, qtbot, run, start_timeout_ms=60_000)
    finally:
        proc.terminate()
        proc.wait(30)


def test_following_a_two_rank_torchrun_job(win, qtbot, tmp_path):
    """The studio follows a distributed run as it follows any other: rank 0's curves, samples and warnings."""
    import os
    import signal

    run = tmp_path / "dist-run"
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "ganstudio", "train",
         "--preset", "ring8", "--steps", "1000000", "--log-every", "5", "--sample-every", "50", "--run-dir", str(run)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**env, "OMP_NUM_THREADS": "1"}, start_new_session=True,
    )
    try:
        first = follow_until_it_advances(win, qtbot, run, start_timeout_ms=120_000)
        qtbot.waitUntil(lambda: len(win.samples.timeline) >= 2, timeout=60_000)
        steps = [r["step"] for r in win.curves.records]
        assert steps == sorted(set(steps))  # one writer: every step once
        # a warning the training process raised reaches the Health view through the run folder
        with open(run / "health.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps({"step": first, "kind": "d_overpowering", "message": "D is overpowering G", "advice": "lower lr_d"}) + "\n")
        qtbot.waitUntil(lambda: "d_overpowering" in win.health.kinds(), timeout=10_000)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    assert load_checkpoint(run / "checkpoints/latest.pt")["step"] >= first + 20


def test_closing_mid_training_leaves_a_loadable_checkpoint(win, qtbot):
    tiny(win)
    win.train_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.last_step >= 5, timeout=30_000)
    run = win.run_dir
    win.close()
    qtbot.waitUntil(lambda: not win.bridge.running and not win.isVisible(), timeout=30_000)
    assert load_checkpoint(run / "checkpoints/latest.pt")["step"] >= 5
    assert str(run) in win.recent_runs()


def test_bad_setting_is_a_message_not_a_crash(win, qtbot):
    tiny(win)
    set_field(win, "lr_d", "fast")
    win.train_action.trigger()
    assert win.messages and "lr_d" in win.messages[-1]
    assert not win.bridge.running


def test_real_drag_and_drop_events_select_a_dataset_file(win, qtbot, tmp_path):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    npz = tmp_path / "tiny.npz"
    np.savez(npz, images=np.random.default_rng(0).integers(0, 255, (12, 28, 28), dtype=np.uint8))
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(npz))])
    enter = QDragEnterEvent(win.rect().center(), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    win.dragEnterEvent(enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(win.rect().center()), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    win.dropEvent(drop)
    qtbot.waitUntil(lambda: win.setup.dataset is not None and win.setup.dataset.name == str(npz), timeout=30_000)
    assert "12 images" in win.setup.dataset_label.text()
    # a text file is not a dataset: the drag is refused
    txt = tmp_path / "notes.txt"
    txt.write_text("hi")
    mime2 = QMimeData()
    mime2.setUrls([QUrl.fromLocalFile(str(txt))])
    enter2 = QDragEnterEvent(win.rect().center(), Qt.DropAction.CopyAction, mime2, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter2.ignore()
    win.dragEnterEvent(enter2)
    assert not enter2.isAccepted()


def test_sample_view_scales_with_nearest_neighbour(qtbot):
    from ganstudio.ui.samples import ImageView

    view = ImageView()
    qtbot.addWidget(view)
    view.resize(200, 200)
    checker = np.zeros((2, 2, 3), np.uint8)
    checker[0, 0] = checker[1, 1] = 255
    view.set_image(checker)
    shot = view.grab().toImage()
    colours = {shot.pixelColor(x, y).red() for x in range(0, 200, 3) for y in range(0, 200, 3)}
    bg = view.palette().window().color().red()
    assert colours <= {0, 255, bg}  # only the two source colours (and the margin): no blurred greys
    assert shot.pixelColor(10, 10).red() == 255 and shot.pixelColor(190, 10).red() == 0


def test_dataset_picker_lists_every_builtin_from_the_registries(win, qtbot):
    from ganstudio.core.data import BUILTIN_DATASETS
    from ganstudio.core.pairs import TRANSLATION_DATASETS

    combo = win.setup.dataset_combo
    from ganstudio.core.photos import PHOTO_SETS

    want = BUILTIN_DATASETS.names() + TRANSLATION_DATASETS.names() + PHOTO_SETS.names()
    qtbot.waitUntil(lambda: all(combo.findText(n) >= 0 for n in want), timeout=30_000)
    assert combo.currentText() == "mnist"  # the preset's choice survives the refill


def test_translation_presets_say_their_defaults_are_cpu_sized(win, qtbot):
    note = win.setup.cpu_note
    assert not note.isVisible()  # dcgan-mnist: nothing to say
    win.setup.preset_combo.setCurrentText("cyclegan-horse2zebra")
    assert note.isVisible() and "sized for a CPU" in note.text() and "image_size" in note.text()
    set_field(win, "family", "gan")  # the family picked by hand counts too
    assert not note.isVisible() and "model" in win.setup.editors and "cycle_weight" not in win.setup.editors
    set_field(win, "family", "pix2pix")
    assert note.isVisible() and "l1_weight" in win.setup.editors and "model" not in win.setup.editors
    assert win.setup.config().family == "pix2pix"


def test_evaluation_while_training_shows_in_the_metrics_view_and_keeps_the_best(win, qtbot):
    tiny(win, preset="ring8", steps=40, eval_every=20, keep_best=True)
    win.train_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.state == "idle", timeout=90_000)
    run = win.run_dir
    # The completed run waits for its last evaluation, so both steps are scored.
    qtbot.waitUntil(lambda: list(win.metrics.line.getData()[0] if win.metrics.line.getData()[0] is not None else []) == [20, 40],
                    timeout=10_000)
    assert win.metrics.metric_combo.currentData() == "modes"  # a 2-D run is scored by modes
    assert (run / "checkpoints/best.pt").is_file() is False  # no FD for points: best-by-FD has nothing to pick
    saved = json.loads((run / "eval.json").read_text())["evaluations"]
    assert [e["step"] for e in saved] == [20, 40] and all("modes" in e["values"] for e in saved)


def test_a_super_resolution_run_trains_in_the_studio_with_its_psnr_curves_and_preview(win, qtbot):
    tiny(win, preset="srresnet", steps=3, sample_every=3, batch_size=2, g_width=8, g_blocks=1, lr_patch=8)
    win.train_action.trigger()
    qtbot.waitUntil(lambda: win.bridge.state == "idle", timeout=90_000)
    assert win.curves.series.get("psnr/model") is not None and win.curves.series["psnr/model"].n >= 3
    assert win.curves.series.get("psnr/bicubic") is not None
    img = win.samples.shown_image()
    # rows of bicubic | model | original: 4 crops of 32 LR px at ×4 (128 px), 2 px apart
    assert img is not None and img.shape == (4 * 130 + 2, 3 * 130 + 2, 3)
    assert load_checkpoint(win.run_dir / "checkpoints/latest.pt")["family"] == "srgan"
