"""The translate panel end to end on a tiny CycleGAN: drop files, translate, per-file status, cancel, no overwrite."""

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent

from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.train import iter_train
from ganstudio.ui.translate_panel import TranslatePanel


@pytest.fixture(scope="module")
def cyclegan_ckpt(tmp_path_factory):
    run = tmp_path_factory.mktemp("tp") / "run"
    cfg = apply_overrides(PRESETS.get("cyclegan-horse2zebra").config(),
                          {"steps": 2, "batch_size": 2, "resnet_blocks": 1, "threads": 2})
    for _ in iter_train(cfg, run):
        pass
    return run / "checkpoints" / "latest.pt"


def drop(widget, paths):
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    ev = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    widget.dropEvent(ev)


def test_drop_translate_status_and_no_overwrite(qtbot, tmp_path, cyclegan_ckpt):
    panel = TranslatePanel()
    qtbot.addWidget(panel)
    src = tmp_path / "in"
    (src / "nested").mkdir(parents=True)
    Image.fromarray(np.zeros((60, 30, 3), np.uint8)).save(src / "a.png")
    Image.fromarray(np.full((20, 20), 200, np.uint8)).save(src / "nested" / "b.png")
    (src / "broken.png").write_bytes(b"")
    drop(panel, [cyclegan_ckpt, src])  # a simulated drop of the model and a folder
    assert panel.model is not None and panel.direction_combo.count() == 2
    assert panel.queue.count() == 3
    panel.out_dir = tmp_path / "out"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.png").write_bytes(b"earlier result")
    panel.run_button.click()
    qtbot.waitUntil(lambda: not panel.running and "Done" in panel.status.text(), timeout=60_000)
    texts = sorted(panel.queue.item(i).text() for i in range(panel.queue.count()))
    assert any("✗ empty file" in t for t in texts)
    assert sum("✓" in t for t in texts) == 2
    assert (tmp_path / "out" / "a.png").read_bytes() == b"earlier result"
    assert Image.open(tmp_path / "out" / "a-1.png").size == (30, 60)
    panel.queue.setCurrentRow([i for i in range(3) if "a.png  ✓" in panel.queue.item(i).text()][0])
    assert panel.wipe.after is not None and panel.wipe.before is not None
    qtbot.waitUntil(lambda: panel.cycle_view.image is not None, timeout=30_000)  # CycleGAN: F(G(x)) shown
    assert panel.cycle_view.image.shape[:2] == (60, 30)
    panel.shutdown()


def test_cancel_stops_the_batch(qtbot, tmp_path, cyclegan_ckpt):
    panel = TranslatePanel()
    qtbot.addWidget(panel)
    src = tmp_path / "many"
    src.mkdir()
    for i in range(40):
        Image.fromarray(np.full((200, 200, 3), i, np.uint8)).save(src / f"{i:02d}.png")
    panel.load_model(cyclegan_ckpt)
    panel.add_paths([src])
    panel.out_dir = tmp_path / "o"
    panel.start()
    qtbot.waitUntil(lambda: panel.progress.value() >= 1, timeout=60_000)
    panel.cancel()
    qtbot.waitUntil(lambda: not panel.running and "Cancelled" in panel.status.text(), timeout=60_000)
    assert panel.progress.value() < 40


def test_a_noise_generator_checkpoint_is_refused_with_a_reason(qtbot, tmp_path):
    run = tmp_path / "g"
    cfg = apply_overrides(PRESETS.get("ring8").config(), {"steps": 1, "batch_size": 8})
    for _ in iter_train(cfg, run):
        pass
    panel = TranslatePanel()
    qtbot.addWidget(panel)
    assert not panel.load_model(run / "checkpoints" / "latest.pt")
    assert "not an image-translation model" in panel.model_label.text()
    assert not panel.run_button.isEnabled()
