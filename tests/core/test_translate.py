"""Batch translation: tiles blend without seams, sizes are kept, nothing is overwritten, bad files don't stop a batch."""

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.translate import (
    blend_window,
    collect_inputs,
    default_output_dir,
    tile_starts,
    translate_array,
    translate_files,
    unique_path,
)


def negate(x):
    return -x


def smooth_conv():
    """A small convolutional 'generator' that maps a constant image to a constant (replicate padding)."""
    conv = torch.nn.Conv2d(3, 3, 5, padding=2, padding_mode="replicate")
    torch.nn.init.constant_(conv.weight, 1 / 75)
    torch.nn.init.constant_(conv.bias, 0.1)
    return lambda x: torch.tanh(conv(x))


def test_tile_starts_cover_with_overlap():
    for length in (32, 33, 100, 257):
        starts = tile_starts(length, 32, 8)
        assert starts[0] == 0 and starts[-1] == max(0, length - 32)
        assert all(b - a <= 32 - 8 for a, b in zip(starts, starts[1:]))


def test_blend_window_is_one_in_the_middle_and_tapers():
    w = blend_window(32, 8)
    assert w[16, 16] == 1 and w[0, 0] < 0.05 and torch.all(w > 0)


def test_pointwise_generator_tiled_equals_whole_image():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (100, 70, 3), dtype=np.uint8)
    out = translate_array(img, negate, size=32, in_channels=3)
    assert out.shape == (100, 70, 3)
    assert np.abs(out.astype(int) - (255 - img.astype(int))).max() <= 1


def test_constant_image_stays_constant_no_seams():
    img = np.full((150, 90, 3), 77, np.uint8)
    with torch.no_grad():
        out = translate_array(img, smooth_conv(), size=32, in_channels=3)
    assert out.shape == (150, 90, 3)
    assert out.max() - out.min() <= 1


def test_small_image_keeps_its_size_and_resize_mode():
    img = np.full((6, 10, 1), 200, np.uint8)
    assert translate_array(img, negate, size=32, in_channels=1).shape == (6, 10, 1)
    big = np.zeros((64, 128, 3), np.uint8)
    assert translate_array(big, negate, size=32, in_channels=3, mode="resize").shape == (64, 128, 3)
    with pytest.raises(ValueError, match="tile, resize"):
        translate_array(big, negate, size=32, in_channels=3, mode="warp")


def test_colour_input_to_a_grayscale_model():
    img = np.zeros((40, 40, 3), np.uint8)
    img[..., 0] = 255
    out = translate_array(img, negate, size=32, in_channels=1)
    assert out.shape == (40, 40, 1) and abs(int(out[0, 0, 0]) - (255 - 76)) <= 1


def test_unique_path_never_overwrites(tmp_path):
    (tmp_path / "a.png").write_bytes(b"old")
    (tmp_path / "a-1.png").write_bytes(b"old")
    assert unique_path(tmp_path / "a.png") == tmp_path / "a-2.png"
    assert unique_path(tmp_path / "b.png") == tmp_path / "b.png"


def _write_inputs(folder):
    folder.mkdir()
    (folder / "sub").mkdir()
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (50, 40, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.integers(0, 255, (20, 20), dtype=np.uint8)).save(folder / "sub" / "a.jpg")  # same stem
    (folder / "empty.png").write_bytes(b"")
    (folder / "notes.png").write_text("not an image")
    return folder


def test_batch_goes_on_past_bad_files_and_keeps_every_output(tmp_path):
    src = _write_inputs(tmp_path / "in")
    out_dir = default_output_dir([src])
    assert out_dir == src / "translated"
    (src / "translated").mkdir()
    (src / "translated" / "a.png").write_bytes(b"keep me")  # an earlier result is never overwritten
    files = collect_inputs([src], exclude=out_dir)  # earlier results inside the input folder are not inputs
    assert [f.name for f in files] == ["a.png", "empty.png", "notes.png", "a.jpg"]
    results = list(translate_files(files, out_dir, negate, 32, 3))
    assert len(results) == 4
    by_name = {r.source.rsplit("/", 1)[-1]: r for r in results}
    assert by_name["empty.png"].error == "empty file" and by_name["notes.png"].error == "not an image"
    ok = [r for r in results if not r.error]
    assert len(ok) == 2 and len({r.output for r in ok}) == 2
    assert (src / "translated" / "a.png").read_bytes() == b"keep me"
    for r in ok:
        src_img = Image.open(r.source)
        assert Image.open(r.output).size == src_img.size  # same size and aspect as the input


def test_cancel_stops_within_one_image(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    for i in range(6):
        Image.fromarray(np.full((40, 40, 3), i * 30, np.uint8)).save(src / f"{i}.png")
    done = []

    def cancel():
        return len(done) >= 2

    for r in translate_files(collect_inputs([src]), tmp_path / "out", negate, 32, 3, cancel=cancel):
        done.append(r)
    assert 2 <= len(done) <= 3


def test_resize_mode_batches_images_of_any_sizes(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(2)
    sizes = [(30 + 7 * i, 20 + 5 * i) for i in range(11)]  # more than one batch, all different
    for i, (h, w) in enumerate(sizes):
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(src / f"{i:02d}.png")
    results = list(translate_files(collect_inputs([src]), tmp_path / "out", negate, 32, 3, mode="resize"))
    assert [r.error for r in results] == [""] * 11
    for r, (h, w) in zip(results, sizes):
        out = np.asarray(Image.open(r.output))
        assert out.shape == (h, w, 3)
        single = translate_array(np.asarray(Image.open(r.source)), negate, 32, 3, mode="resize")
        assert np.array_equal(out, single)  # batching changes nothing but speed


def test_every_awkward_file_kind_is_converted_or_named(tmp_path, monkeypatch):
    from ganstudio.core import images as D

    src = tmp_path / "in"
    src.mkdir()
    Image.new("CMYK", (20, 10), (0, 255, 0, 0)).save(src / "cmyk.jpg")
    Image.fromarray(np.full((10, 20), 32768, np.uint16)).save(src / "gray16.png")
    Image.new("P", (20, 10), 3).save(src / "palette.png")
    Image.new("LA", (20, 10), (128, 0)).save(src / "la.png")
    Image.new("RGBA", (20, 10), (255, 0, 0, 0)).save(src / "rgba.png")
    Image.new("RGB", (1, 1), (9, 9, 9)).save(src / "one.png")
    frames = [Image.new("RGB", (20, 10), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(src / "anim.gif", save_all=True, append_images=frames[1:])
    rot = Image.new("RGB", (20, 10), (0, 0, 255))
    exif = rot.getexif()
    exif[0x0112] = 6  # rotate 90°: the output must be portrait
    rot.save(src / "rotated.jpg", exif=exif)
    (src / "empty.png").write_bytes(b"")
    (src / "text.png").write_text("hello")
    good = src / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    good.write_bytes(good.read_bytes()[:200])  # truncated
    Image.new("1", (400, 400)).save(src / "bomb.png")
    monkeypatch.setattr(D, "MAX_PIXELS", 100_000)  # a decompression bomb for this test's limit
    results = {r.source.rsplit("/", 1)[-1]: r for r in translate_files(collect_inputs([src]), tmp_path / "out", negate, 32, 3)}
    sizes = {name: Image.open(r.output).size for name, r in results.items() if not r.error}
    assert sizes == {"cmyk.jpg": (20, 10), "gray16.png": (20, 10), "palette.png": (20, 10), "la.png": (20, 10),
                     "rgba.png": (20, 10), "one.png": (1, 1), "anim.gif": (20, 10), "rotated.jpg": (10, 20)}
    errors = {name: r.error for name, r in results.items() if r.error}
    assert errors["empty.png"] == "empty file" and errors["text.png"] == "not an image"
    assert errors["cut.png"] == "truncated image" and errors["bomb.png"].startswith("too large")
    # 16-bit mid-grey is scaled (32768/257 ≈ 128, negated ≈ 127), not clipped to white
    assert abs(int(np.asarray(Image.open(results["gray16.png"].output))[0, 0, 0]) - 127) <= 2
