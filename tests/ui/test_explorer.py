"""The latent explorer: seeds, sliders that coalesce, truncation, walks, bookmarks, class grids, bad files."""

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.train import iter_train
from ganstudio.ui.explorer import ExplorerPanel


def train(run, preset, steps=2, **extra):
    cfg = apply_overrides(PRESETS.get(preset).config(), {"steps": steps, "batch_size": 16, "threads": 2, **extra})
    for _ in iter_train(cfg, run):
        pass
    return run


@pytest.fixture(scope="module")
def cgan_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("explorer") / "cgan", "cgan-mnist", steps=4, checkpoint_every=2)


@pytest.fixture
def panel(qtbot):
    p = ExplorerPanel()
    qtbot.addWidget(p)
    p.show()
    yield p
    p.shutdown()


def settle(qtbot, p):
    qtbot.waitUntil(lambda: p.renderer.idle() and p.background.idle(), timeout=30_000)
    qtbot.wait(50)  # queued results delivered


def test_load_seed_and_same_seed_same_image(panel, qtbot, cgan_run):
    assert panel.load(cgan_run)
    settle(qtbot, panel)
    assert panel.directions is not None and panel.view.image is not None
    panel.seed_spin.setValue(42)
    settle(qtbot, panel)
    a = panel.view.image.copy()
    panel.seed_spin.setValue(43)
    settle(qtbot, panel)
    assert not np.array_equal(panel.view.image, a)
    panel.seed_spin.setValue(42)
    settle(qtbot, panel)
    assert np.array_equal(panel.view.image, a)
    assert "|z|" in panel.z_label.text()


def test_slider_drag_coalesces_to_few_renders(panel, qtbot, cgan_run):
    panel.load(cgan_run)
    settle(qtbot, panel)
    before = panel.renderer.renders
    slider = panel.dir_sliders[0].slider
    for v in range(0, 200, 2):  # a fast drag: 100 moves
        slider.setValue(v)
    settle(qtbot, panel)
    renders = panel.renderer.renders - before
    assert 1 <= renders < 30
    # the image shown is the one for where the slider ended
    import torch

    from ganstudio.core import latent
    from ganstudio.core.sampling import to_uint8

    st = panel.state()
    want = to_uint8(latent.render(panel.gen, panel.z_of(st)[None], torch.tensor([st["class"]])))[0]
    assert np.array_equal(panel.view.image, want)


def test_truncation_shows_diversity_cost(panel, qtbot, cgan_run):
    panel.load(cgan_run)
    panel.psi_slider.setValue(50)
    qtbot.waitUntil(lambda: "diversity" in panel.psi_label.text(), timeout=30_000)
    pct = int(panel.psi_label.text().split("diversity ")[1].rstrip("%"))
    assert 0 < pct < 100


def test_walk_gif_has_the_frames_asked_for(panel, qtbot, cgan_run, tmp_path):
    panel.load(cgan_run)
    panel.walk.frames_spin.setValue(9)
    panel.seed_spin.setValue(1)
    panel.walk.add_keyframe()
    panel.seed_spin.setValue(2)
    panel.class_combo.setCurrentIndex(7)
    panel.walk.add_keyframe()
    qtbot.waitUntil(lambda: len(panel.walk.frames) == 9, timeout=30_000)
    panel.walk.export_gif(str(tmp_path / "walk.gif"))
    assert Image.open(tmp_path / "walk.gif").n_frames == 9
    assert panel.walk.strip_view.image.shape[1] == 2 + 9 * 30


def test_bookmark_is_saved_with_the_run_and_renders_at_every_checkpoint(panel, qtbot, cgan_run):
    panel.load(cgan_run)
    panel.seed_spin.setValue(7)
    panel.bookmarks.add_bookmark()
    saved = json.loads((cgan_run / "bookmarks.json").read_text())
    assert saved[-1]["seed"] == 7
    panel.bookmarks.render_bookmark_history()
    settle(qtbot, panel)
    n_ckpt = len(list((cgan_run / "checkpoints").glob("step_*.pt")))
    assert n_ckpt == 2 and panel.conditional.cond_view.image.shape[1] == 2 + n_ckpt * 30
    # a fresh panel finds the bookmark again
    other = ExplorerPanel()
    qtbot.addWidget(other)
    other.load(cgan_run)
    assert other.bookmarks.bookmarks.count() == len(saved)
    other.shutdown()


def test_class_grid_rows_are_classes(panel, qtbot, cgan_run):
    panel.load(cgan_run)
    panel.conditional.grid_seeds.setValue(3)
    panel.conditional.show_class_grid()
    settle(qtbot, panel)
    assert panel.conditional.cond_view.image.shape == (2 + 10 * 30, 2 + 3 * 30, 3)
    assert panel.conditional.grid_button.isEnabled()


def test_unconditional_model_disables_the_class_tools_with_a_reason(panel, qtbot, tmp_path):
    panel.load(train(tmp_path / "uncond", "dcgan-mnist", steps=1))
    assert not panel.conditional.grid_button.isEnabled() and not panel.class_combo.isEnabled()
    assert "without labels" in panel.conditional.cond_reason.text()


@pytest.fixture(scope="module")
def infogan_run(tmp_path_factory):
    return train(tmp_path_factory.mktemp("explorer") / "infogan", "infogan-mnist", steps=2, width=16)


def test_codes_are_named_controls_that_change_the_image_and_keep_their_new_names(panel, qtbot, infogan_run):
    panel.load(infogan_run)
    settle(qtbot, panel)
    kinds = [(c.code.name, c.picker is not None) for c in panel.codes.controls_]
    assert kinds == [("category", True), ("c1", False), ("c2", False)] and panel.codes.traverse_button.isEnabled()
    before = panel.view.image.copy()
    digit = panel.codes.controls_[0]
    digit.picker.setCurrentIndex((digit.picker.currentIndex() + 1) % 10)
    settle(qtbot, panel)
    assert not np.array_equal(before, panel.view.image)
    panel.seed_spin.setValue(panel.seed_spin.value() + 1)  # a new seed shows its own codes
    settle(qtbot, panel)
    digit.name.setText("digit")
    digit.name.editingFinished.emit()
    saved = json.loads((infogan_run / "checkpoints" / "code_names.json").read_text())
    assert saved == {"0": "digit", "1": "c1", "2": "c2"}
    panel.load(infogan_run)  # the name comes back with the model
    assert panel.codes.controls_[0].name.text() == "digit" and panel.codes.code_combo.itemText(0) == "digit"


def test_traverse_code_grid_rows_are_values_and_it_saves_a_gif(panel, qtbot, infogan_run, tmp_path):
    panel.load(infogan_run)
    panel.codes.seeds.setValue(3)
    panel.codes.code_combo.setCurrentIndex(1)  # c1, continuous
    panel.codes.steps.setValue(5)
    panel.codes.show_grid()
    settle(qtbot, panel)
    assert panel.codes.view.image.shape == (2 + 5 * 30, 2 + 3 * 30, 3)
    assert panel.tabs.currentWidget() is panel.codes.grid_tab
    assert panel.codes.write_gif(tmp_path / "c1.gif")
    assert Image.open(tmp_path / "c1.gif").n_frames == 5


def test_a_model_without_codes_disables_the_codes_tab_with_the_reason(panel, qtbot, cgan_run):
    panel.load(cgan_run)
    assert not panel.codes.traverse_button.isEnabled() and panel.codes.controls_ == []
    assert "no latent codes: only InfoGAN models learn them" in panel.codes.reason.text()


def test_translation_checkpoint_gives_a_clear_message(panel):
    assert not panel.load(Path(__file__).parents[1] / "data" / "v1" / "pix2pix.pt")
    assert "image-translation model" in panel.source_label.text()
    assert panel.gen is None and not panel.seed_spin.isEnabled()


def test_explore_shows_why_a_damaged_checkpoint_is_refused(qtbot, tmp_path, cgan_run):
    raw = bytearray((cgan_run / "checkpoints" / "latest.pt").read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path = tmp_path / "flipped.pt"
    path.write_bytes(bytes(raw))
    panel = ExplorerPanel()
    qtbot.addWidget(panel)
    assert not panel.load(path)
    assert "damaged checkpoint" in panel.source_label.text() or "not a readable checkpoint" in panel.source_label.text()
    panel.shutdown()


def test_nearest_training_images_show_the_image_beside_the_training_images_nearest_it(panel, qtbot, cgan_run):
    panel.load(cgan_run)
    settle(qtbot, panel)
    panel.nearest.k_spin.setValue(3)
    panel.nearest.find()
    settle(qtbot, panel)
    assert panel.nearest.view.image.shape == (2 + 30, 2 + 4 * 30, 3)  # the image, then its 3 nearest
    text = panel.nearest.result.text()
    assert "Nearest training image at distance" in text and "mnist classifier" in text
    panel.nearest.find()  # the index is kept: the second lookup needs no data read
    settle(qtbot, panel)
    assert panel.nearest._index[0] == panel.source
