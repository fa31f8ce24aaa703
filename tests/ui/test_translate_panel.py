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


@pytest.fixture(scope="module")
def sr_runs(tmp_path_factory):
    """A tiny PSNR-only ×4 model and a GAN started from it (so it can interpolate)."""
    root = tmp_path_factory.mktemp("sr")
    photos = root / "photos"
    photos.mkdir()
    yy, xx = np.mgrid[0:64, 0:80]
    for i in range(3):
        img = np.stack([128 + 100 * np.sin(xx / (4 + i) + c) for c in range(3)], 2).astype(np.uint8)
        Image.fromarray(img).save(photos / f"p{i}.png")
    tiny = {"dataset": str(photos), "g_width": 8, "g_blocks": 1, "d_width": 8, "lr_patch": 8, "batch_size": 2,
            "steps": 2, "threads": 2, "sample_every": 1000}
    for name, extra in (("srresnet", {}), ("srgan", {"init_from": str(root / "psnr")})):
        cfg = apply_overrides(PRESETS.get(name).config(), {**tiny, **extra})
        for _ in iter_train(cfg, root / ("psnr" if name == "srresnet" else "gan")):
            pass
    return root


def test_a_super_resolution_model_upscales_with_alpha_limit_and_loupe(qtbot, tmp_path, sr_runs):
    panel = TranslatePanel()
    qtbot.addWidget(panel)
    panel.show()
    assert panel.load_model(sr_runs / "psnr")
    assert panel.run_button.text() == "Upscale ×4" and panel.sr_row.isVisibleTo(panel)
    assert not panel.alpha_slider.isEnabled() and "no PSNR start" in panel.alpha_slider.toolTip()
    assert panel.load_model(sr_runs / "gan")
    assert panel.alpha_slider.isEnabled()
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray((np.random.RandomState(0).rand(30, 40, 3) * 255).astype(np.uint8)).save(src / "small.png")
    Image.fromarray(np.zeros((400, 400, 3), np.uint8)).save(src / "big.png")
    panel.add_paths([src])
    panel.out_dir = tmp_path / "out"
    panel.limit_spin.setValue(1)  # 1 Mpx: the 1600×1600 result of big.png is refused, with its size
    panel.alpha_slider.setValue(50)
    panel.run_button.click()
    qtbot.waitUntil(lambda: not panel.running and "Done" in panel.status.text(), timeout=60_000)
    texts = {panel.queue.item(i).data(256).rsplit("/", 1)[-1]: panel.queue.item(i).text() for i in range(2)}
    assert "1,600×1,600 = 2,560,000 px" in texts["big.png"] and "✗" in texts["big.png"]
    assert "✓" in texts["small.png"] and Image.open(tmp_path / "out/small.png").size == (160, 120)
    assert "1 upscaled, 1 failed" in panel.status.text()
    panel.queue.setCurrentRow([i for i in range(2) if "small" in panel.queue.item(i).text()][0])
    assert panel.wipe.after.width() == 160 and panel.wipe.before.width() == 40
    panel.loupe_check.setChecked(True)
    panel.wipe.resize(400, 300)
    panel.wipe.pointer = QPointF(200, 150)
    src_rect = panel.wipe.loupe_source()
    assert src_rect is not None and src_rect.width() == panel.wipe.LOUPE  # 1:1: as many image px as screen px
    assert abs(src_rect.center().x() - 80) < 1 and abs(src_rect.center().y() - 60) < 1  # centred under the pointer
    panel.wipe.grab()  # paints the loupe without error
    shown = panel.wipe.after
    panel.alpha_slider.setValue(0)
    panel._on_alpha_slider_released()  # what releasing the slider does: the selected image redrawn at the new α
    qtbot.waitUntil(lambda: "Preview at α 0.00" in panel.status.text(), timeout=30_000)
    assert panel.wipe.after is not shown and panel.wipe.after.width() == 160
    panel.shutdown()
