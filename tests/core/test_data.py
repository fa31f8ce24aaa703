"""Tests for ganstudio.core.data: built-ins, folders, IDX, npz, and every kind of bad file a user may drop in."""

from __future__ import annotations

import gzip
import io
import struct
import warnings
import zlib

import math

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core import images
from ganstudio.core.data import DataError, grid25_centers, list_datasets, load_dataset, resources_dir, ring8_centers
from ganstudio.core.images import decode_image


# --- helpers ------------------------------------------------------------------------------------


def save(img: Image.Image, path, **kw):
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path, **kw)
    return path


def solid(color, size=(8, 8), mode="RGB"):
    return Image.new(mode, size, color)


def noise_png_bytes(size=64) -> bytes:
    # Noise does not compress, so cutting the file in half really cuts image data.
    a = np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def png_claiming_size(w: int, h: int) -> bytes:
    """A tiny 1-bit PNG whose header claims w×h: a decompression bomb that costs nothing to make."""
    buf = io.BytesIO()
    Image.new("1", (4, 4)).save(buf, "PNG")
    b = bytearray(buf.getvalue())
    b[16:24] = struct.pack(">II", w, h)  # IHDR width, height
    b[29:33] = struct.pack(">I", zlib.crc32(bytes(b[12:29])))  # IHDR CRC over type + data
    return bytes(b)


def write_idx(folder, n=6, rows=4, cols=5, gz=True, prefix="tiny", magic=0x803, label_magic=0x801,
              n_labels=None, cut=0):
    folder.mkdir(parents=True, exist_ok=True)
    imgs = (np.arange(n * rows * cols) % 256).astype(np.uint8)
    labels = (np.arange(n if n_labels is None else n_labels) % 3).astype(np.uint8)
    raw_i = struct.pack(">IIII", magic, n, rows, cols) + imgs.tobytes()
    raw_l = struct.pack(">II", label_magic, len(labels)) + labels.tobytes()
    if cut:
        raw_i = raw_i[:cut]
    ext = ".gz" if gz else ""
    ip = folder / f"{prefix}-images-idx3-ubyte{ext}"
    lp = folder / f"{prefix}-labels-idx1-ubyte{ext}"
    ip.write_bytes(gzip.compress(raw_i) if gz else raw_i)
    lp.write_bytes(gzip.compress(raw_l) if gz else raw_l)
    return ip


def pixel(ds, i=0):
    """Image i as uint8 (H, W, C), the way a user would look at it."""
    return ((ds.x[i].permute(1, 2, 0) + 1) * 127.5).round().to(torch.uint8).numpy()


# --- built-ins ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name,n,classes", [
    ("mnist", 5000, tuple("0123456789")),
    ("fashion", 10000, ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")),
    ("animals", 10000, ("bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra")),
])
def test_builtin_image_sets_load_balanced_in_range(name, n, classes):
    ds = load_dataset(name)
    assert ds.kind == "image" and ds.name == name
    assert ds.x.shape == (n, 1, 28, 28) and ds.x.dtype == torch.float32 and ds.x.is_contiguous()
    assert ds.x.min() == -1.0 and ds.x.max() == 1.0
    # white strokes on black: most of each image is background
    assert (ds.x < -0.9).float().mean() > 0.4
    assert ds.classes == classes and ds.num_classes == 10
    assert ds.labels.dtype == torch.int64
    assert torch.bincount(ds.labels).tolist() == [n // 10] * 10
    assert ds.summary() == f"{name}: {n:,} images 1×28×28, 10 classes"
    assert ds.source and ds.skipped == [] and ds.skipped_report() == ""


def test_mnist_resized_to_32_colour():
    ds = load_dataset("mnist", image_size=32, channels=3)
    assert ds.x.shape == (5000, 3, 32, 32) and ds.image_size == 32 and ds.channels == 3
    assert ds.x.min() >= -1.0 and ds.x.max() <= 1.0
    assert torch.equal(ds.x[:, 0], ds.x[:, 2])  # gray in colour: identical channels
    # the digit survives the resize: still a bright stroke on a dark background
    assert (ds.x[:, 0] > 0.5).float().mean() > 0.05


def test_ring8_has_eight_modes_on_unit_circle_and_tight_clusters():
    c = ring8_centers()
    assert c.shape == (8, 2)
    assert np.allclose(np.linalg.norm(c, axis=1), 1.0)
    assert len({(round(x, 6), round(y, 6)) for x, y in c}) == 8
    ds = load_dataset("ring8", n_points=20_000, seed=1)
    assert ds.kind == "points" and ds.x.shape == (20_000, 2) and ds.labels is None and ds.sigma == 0.01
    d = torch.cdist(ds.x.double(), torch.as_tensor(c))
    near, which = d.min(dim=1)
    assert (near < 4 * ds.sigma).float().mean() > 0.998
    assert torch.bincount(which, minlength=8).min() > 20_000 / 8 * 0.9  # every mode used, about equally
    assert ds.summary() == "ring8: 20,000 points, 8 modes"
    assert torch.equal(load_dataset("ring8", n_points=100, seed=3).x, load_dataset("ring8", n_points=100, seed=3).x)


def test_grid25_centres_and_sigma():
    c = grid25_centers()
    assert c.shape == (25, 2)
    assert {tuple(p) for p in c.tolist()} == {(x, y) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    ds = load_dataset("grid25", n_points=5000)
    assert ds.sigma == 0.05 and ds.centers.shape == (25, 2) and ds.image_size == 0
    near = torch.cdist(ds.x.double(), torch.as_tensor(c)).min(dim=1).values
    assert (near < 4 * 0.05).float().mean() > 0.998


def test_list_datasets_names_and_resources():
    assert [n for n, _ in list_datasets()] == ["mnist", "fashion", "animals", "stacked-mnist", "shapes", "ring8", "grid25"]
    assert all(desc for _, desc in list_datasets())
    assert (resources_dir() / "datasets" / "mnist_5k.npz").is_file()


def test_missing_path_lists_builtins(tmp_path):
    with pytest.raises(DataError, match=r"no such dataset or path: .*nothing_here; built-in datasets: mnist, "
                                        r"fashion, animals, stacked-mnist, shapes, ring8, grid25"):
        load_dataset(str(tmp_path / "nothing_here"))


# --- folders ------------------------------------------------------------------------------------


def test_flat_folder_is_unlabelled_and_keeps_its_native_size(tmp_path):
    for i in range(10):
        save(solid((i * 20, 0, 0), (16, 16)), tmp_path / f"{i:02d}.png")
    (tmp_path / "notes.txt").write_text("ignored")
    save(solid((0, 0, 255), (16, 16)), tmp_path / ".hidden.png")
    ds = load_dataset(str(tmp_path))
    assert ds.x.shape == (10, 3, 16, 16) and ds.labels is None and ds.classes == () and ds.num_classes == 0
    assert ds.skipped == []
    assert pixel(ds, 3)[0, 0].tolist() == [60, 0, 0]  # sorted order, colour exact
    assert ds.summary() == f"{tmp_path}: 10 images 3×16×16"


def test_class_folders_are_labelled_and_loose_files_reported(tmp_path):
    for cls, color in [("zebra", (255, 255, 255)), ("cat", (0, 0, 0))]:
        for i in range(3):
            save(solid(color, (20, 30)), tmp_path / cls / f"{i}.png")
    save(solid(128, (20, 30)), tmp_path / "cat" / "nested" / "deep.png")  # recursion within a class
    save(solid(128, (20, 30)), tmp_path / "loose.png")
    (tmp_path / "empty_folder").mkdir()
    ds = load_dataset(str(tmp_path))
    assert ds.classes == ("cat", "zebra")
    assert ds.labels.tolist() == [0, 0, 0, 0, 1, 1, 1]
    assert ds.x.shape == (7, 3, 64, 64)  # non-square sizes -> fitted to 64
    assert ds.x[-1].min() == 1.0  # a zebra image is white
    assert [(s.reason, s.path.endswith("loose.png")) for s in ds.skipped] == [("outside class folders", True)]
    assert ds.skipped_report() == "1 file skipped: loose.png (outside class folders)"
    assert ds.summary().endswith("2 classes + 1 file skipped")


def test_grayscale_folder_stays_one_channel_and_colour_gives_three(tmp_path):
    save(solid(10, (8, 8), "L"), tmp_path / "g" / "a.png")
    save(Image.new("1", (8, 8), 1), tmp_path / "g" / "b.png")
    gray_pal = Image.new("P", (8, 8), 0)
    gray_pal.putpalette([v for i in range(256) for v in (i, i, i)])
    save(gray_pal, tmp_path / "g" / "c.png")
    assert load_dataset(str(tmp_path / "g")).channels == 1
    save(solid((255, 0, 0), (8, 8)), tmp_path / "g" / "d.png")
    ds = load_dataset(str(tmp_path / "g"))
    assert ds.channels == 3
    assert pixel(ds, 0)[0, 0].tolist() == [10, 10, 10]  # gray images repeat into 3 channels
    assert pixel(ds, 1)[0, 0].tolist() == [255, 255, 255]  # 1-bit white
    # explicit settings override the native choice
    assert load_dataset(str(tmp_path / "g"), image_size=4, channels=1).x.shape == (4, 1, 4, 4)


def test_mixed_square_sizes_go_to_64(tmp_path):
    save(solid((0, 255, 0), (8, 8)), tmp_path / "a.png")
    save(solid((0, 255, 0), (100, 100)), tmp_path / "b.png")
    ds = load_dataset(str(tmp_path))
    assert ds.x.shape == (2, 3, 64, 64)
    assert pixel(ds, 0)[32, 32].tolist() == [0, 255, 0]


def test_every_bad_file_is_skipped_with_its_reason_while_good_ones_load(tmp_path):
    for i in range(3):
        save(solid((0, 200, 0), (12, 12)), tmp_path / f"good{i}.png")
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not a picture")
    png = noise_png_bytes()
    (tmp_path / "cut.png").write_bytes(png[: len(png) // 2])
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buf, "JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    (tmp_path / "bomb.png").write_bytes(png_claiming_size(20000, 20000))  # over Pillow's hard limit
    (tmp_path / "bomb2.png").write_bytes(png_claiming_size(10000, 10000))  # over the warning limit
    save(solid((0, 0, 0), (1, 1)), tmp_path / "tiny.png")  # 1×1 is fine

    ds = load_dataset(str(tmp_path))
    assert len(ds) == 4 and ds.x.shape[1:] == (3, 64, 64)
    reasons = {s.path.rsplit("/", 1)[-1]: s.reason for s in ds.skipped}
    assert reasons == {
        "empty.png": "empty file",
        "text.png": "not an image",
        "cut.png": "truncated image",
        "cut.jpg": "truncated image",
        "bomb.png": "too large (400,000,000 px > limit 89,478,485)",
        "bomb2.png": "too large (100,000,000 px > limit 89,478,485)",
    }
    report = ds.skipped_report(limit=2)
    assert report.startswith("6 files skipped: bomb.png (too large") and report.endswith("; and 4 more")
    assert ds.summary().endswith("+ 6 files skipped")
    assert pixel(ds, 0)[0, 0].tolist() == [0, 200, 0]
    # the warning filter was only for the load
    assert not any(f[2] is Image.DecompressionBombWarning and f[0] == "error" for f in warnings.filters)


def test_pixel_limit_is_a_module_constant(tmp_path, monkeypatch):
    save(solid((1, 2, 3), (64, 64)), tmp_path / "big.png")
    save(solid((1, 2, 3), (16, 16)), tmp_path / "small.png")
    monkeypatch.setattr(images, "MAX_PIXELS", 1000)
    ds = load_dataset(str(tmp_path))
    assert len(ds) == 1
    assert ds.skipped[0].reason == "too large (4,096 px > limit 1,000)"


def test_folder_without_usable_image_names_the_skipped_files(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    (tmp_path / "b.jpg").write_text("nope")
    with pytest.raises(DataError, match=r"no usable image in .*: 2 files skipped: a.png \(empty file\); "
                                        r"b.jpg \(not an image\)"):
        load_dataset(str(tmp_path))
    (tmp_path / "only_notes").mkdir()
    (tmp_path / "only_notes" / "readme.txt").write_text("no pictures here")
    with pytest.raises(DataError, match="no image files in .*only_notes"):
        load_dataset(str(tmp_path / "only_notes"))


# --- decoding: modes, alpha, EXIF, animation ----------------------------------------------------


def test_rgba_and_la_transparency_becomes_white(tmp_path):
    rgba = Image.new("RGBA", (8, 8), (255, 0, 0, 255))
    rgba.paste((0, 0, 255, 0), (0, 0, 4, 8))  # left half transparent blue
    a = decode_image(save(rgba, tmp_path / "a.png"), 8, 3)
    assert a[0, 0].tolist() == [255, 255, 255] and a[0, 7].tolist() == [255, 0, 0]
    la = Image.new("LA", (8, 8), (0, 255))
    la.paste((0, 0), (0, 0, 4, 8))
    b = decode_image(save(la, tmp_path / "b.png"), 8, 1)
    assert b.shape == (8, 8, 1) and b[0, 0, 0] == 255 and b[0, 7, 0] == 0
    assert decode_image(tmp_path / "a.png", 8, 3, background=(0, 0, 0))[0, 0].tolist() == [0, 0, 0]


def test_palette_with_transparency_composites_over_white(tmp_path):
    p = Image.new("P", (8, 8), 1)
    p.putpalette([0, 0, 0, 0, 128, 0] + [0] * 762)
    p.paste(0, (0, 0, 4, 8))
    save(p, tmp_path / "p.png", transparency=0)
    a = decode_image(tmp_path / "p.png", 8, 3)
    assert a[0, 0].tolist() == [255, 255, 255] and a[0, 7].tolist() == [0, 128, 0]


def test_cmyk_and_16_bit(tmp_path):
    save(Image.new("CMYK", (8, 8), (255, 0, 0, 0)), tmp_path / "c.tif")  # pure cyan
    assert decode_image(tmp_path / "c.tif", 8, 3)[4, 4].tolist() == [0, 255, 255]
    mid = Image.fromarray(np.full((8, 8), 128 * 257, dtype=np.uint16))
    assert mid.mode == "I;16"
    save(mid, tmp_path / "mid.png")
    v = decode_image(tmp_path / "mid.png", 8, 1)
    assert abs(int(v[4, 4, 0]) - 128) <= 1  # scaled, not clipped to 255
    assert load_dataset(str(tmp_path)).channels == 3  # one colour file (c.tif) makes the folder colour


def test_exif_rotation_is_applied_before_the_crop(tmp_path):
    img = Image.new("L", (20, 10), 0)
    img.paste(255, (10, 0, 20, 10))  # stored: left half black, right half white
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    save(img, tmp_path / "r.jpg", exif=exif, quality=95)
    a = decode_image(tmp_path / "r.jpg", 10, 1)[:, :, 0].astype(int)
    # displayed portrait 10×20: black on top, white below; the centre crop keeps both halves
    assert a[:4].mean() < 40 and a[6:].mean() > 215
    assert abs(a[:, :4].mean() - a[:, 6:].mean()) < 40  # no left/right split, as without rotation


def test_animated_gif_uses_first_frame(tmp_path):
    frames = [solid((255, 0, 0)), solid((0, 0, 255))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:], duration=50, loop=0)
    a = decode_image(tmp_path / "anim.gif", 8, 3)
    assert a[4, 4].tolist() == [255, 0, 0]


def test_decode_image_raises_with_reason(tmp_path):
    (tmp_path / "e.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"e.png: empty file"):
        decode_image(tmp_path / "e.png", 8, 3)


# --- IDX ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("gz", [True, False])
def test_idx_pair_loads_by_file_and_by_folder(tmp_path, gz):
    ip = write_idx(tmp_path / "d", gz=gz)
    for spec in (str(ip), str(tmp_path / "d")):
        ds = load_dataset(spec)
        assert ds.x.shape == (6, 1, 64, 64)  # non-square 4×5 -> 64
        assert ds.labels.tolist() == [0, 1, 2, 0, 1, 2] and ds.classes == ("0", "1", "2")
    ds = load_dataset(str(ip), image_size=5)
    assert ds.x.shape == (6, 1, 5, 5)


def test_idx_square_native_and_exact_pixels(tmp_path):
    ip = write_idx(tmp_path, n=2, rows=3, cols=3, gz=False)
    ds = load_dataset(str(ip))
    assert ds.x.shape == (2, 1, 3, 3)
    assert pixel(ds, 1)[:, :, 0].ravel().tolist() == list(range(9, 18))


@pytest.mark.parametrize("kw,reason", [
    (dict(magic=0x801), r"tiny-images-idx3-ubyte.gz: not an IDX image file \(magic 0x00000801, expected 0x00000803\)"),
    (dict(cut=100), r"tiny-images-idx3-ubyte.gz: truncated IDX file \(expected 136 bytes, got 100\)"),
    (dict(n_labels=5), r"tiny-labels-idx1-ubyte.gz: 5 labels for 6 images"),
    (dict(label_magic=0x803), r"tiny-labels-idx1-ubyte.gz: not an IDX label file"),
])
def test_bad_idx_is_refused_with_reason(tmp_path, kw, reason):
    ip = write_idx(tmp_path, **kw)
    with pytest.raises(DataError, match=reason):
        load_dataset(str(ip))


# --- npz ----------------------------------------------------------------------------------------


def test_npz_with_labels_and_classes(tmp_path):
    imgs = np.zeros((4, 8, 8, 3), np.uint8)
    imgs[1] = 255
    np.savez(tmp_path / "a.npz", images=imgs, labels=np.array([0, 1, 1, 0]), classes=np.array(["off", "on"]))
    ds = load_dataset(str(tmp_path / "a.npz"))
    assert ds.x.shape == (4, 3, 8, 8) and ds.classes == ("off", "on") and ds.labels.tolist() == [0, 1, 1, 0]
    assert ds.x[0].max() == -1 and ds.x[1].min() == 1


def test_npz_labels_without_classes_and_unlabelled(tmp_path):
    np.savez(tmp_path / "a.npz", images=np.zeros((3, 6, 6), np.uint8), labels=np.array([2, 0, 1]))
    ds = load_dataset(str(tmp_path / "a.npz"))
    assert ds.classes == ("0", "1", "2") and ds.x.shape == (3, 1, 6, 6)
    np.savez(tmp_path / "b.npz", images=np.zeros((3, 3, 6, 6), np.uint8))  # (N, C, H, W)
    ds = load_dataset(str(tmp_path / "b.npz"))
    assert ds.labels is None and ds.classes == () and ds.x.shape == (3, 3, 6, 6)


@pytest.mark.parametrize("lo,hi,note", [(0.0, 1.0, "[0, 1]"), (-1.0, 1.0, "[-1, 1]")])
def test_npz_float_range_detected_and_stated(tmp_path, lo, hi, note):
    imgs = np.linspace(lo, hi, 2 * 16, dtype=np.float32).reshape(2, 4, 4)
    np.savez(tmp_path / "f.npz", images=imgs)
    ds = load_dataset(str(tmp_path / "f.npz"))
    assert f"assumed range {note}" in ds.source
    assert ds.x.min() == pytest.approx(-1.0) and ds.x.max() == pytest.approx(1.0)


def test_npz_refuses_out_of_range_floats_and_object_arrays(tmp_path):
    np.savez(tmp_path / "f.npz", images=np.full((2, 4, 4), 7.0, np.float32))
    with pytest.raises(DataError, match=r"f.npz: float images must lie in \[0, 1\] or \[-1, 1\]"):
        load_dataset(str(tmp_path / "f.npz"))
    obj = np.empty(2, dtype=object)
    obj[:] = [np.zeros((4, 4)), np.zeros((4, 4))]
    np.savez(tmp_path / "o.npz", images=obj)  # written with pickle; must never be unpickled
    with pytest.raises(DataError, match=r"o.npz: holds Python objects"):
        load_dataset(str(tmp_path / "o.npz"))


def test_bad_arguments_and_ambiguous_idx_folder_are_refused(tmp_path):
    with pytest.raises(DataError, match=r"channels must be 1 \(grayscale\), 3 \(colour\) or 0 for native \(got 2\)"):
        load_dataset("mnist", channels=2)
    with pytest.raises(DataError, match=r"image size must be 1 to 1024 px"):
        load_dataset("mnist", image_size=6400)
    write_idx(tmp_path, prefix="train")
    write_idx(tmp_path, prefix="t10k")
    with pytest.raises(DataError, match=r"holds 2 IDX image files \(t10k-images-idx3-ubyte.gz, train-images"):
        load_dataset(str(tmp_path))


def test_stacked_mnist_is_three_real_digits_as_colour_channels_the_same_every_time():
    from ganstudio.core.data import STACKED_N
    from ganstudio.core.scoring import stacked_modes

    d = load_dataset("stacked-mnist")
    again = load_dataset("stacked-mnist", seed=7)
    assert d.x.shape == (STACKED_N, 3, 28, 28) and d.labels is None and torch.equal(d.x, again.x)
    mnist = load_dataset("mnist").x[:, 0]
    for channel in range(3):  # each channel is one real digit image, untouched
        assert any(torch.equal(d.x[0, channel], m) for m in mnist)
    real = stacked_modes(d.x[:12000])
    assert real["modes"] == 1000 and real["reverse_kl"] < 0.05  # what a perfect generator scores
    collapsed = stacked_modes(d.x[:1].expand(500, -1, -1, -1))
    assert collapsed["modes"] == 1 and collapsed["reverse_kl"] == pytest.approx(math.log(1000))


def test_folder_summary_says_what_the_files_were_and_what_trains(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 255, (64, 64, 4), dtype=np.uint8), "RGBA").save(tmp_path / f"{i}.png")
    d = load_dataset(str(tmp_path))
    assert d.fit_summary() == "4 images 64×64 RGBA → trained at 64×64 RGB on white"
    small = d.resized(24, "64 px → 24 px, for a test")
    assert small.x.shape == (4, 3, 24, 24) and small.fit_summary().endswith("(64 px → 24 px, for a test)")
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (90, 120), dtype=np.uint8), "L").save(tmp_path / f"g{i}.png")
    mixed = load_dataset(str(tmp_path))
    assert mixed.fit_summary().startswith("6 images 64×64 to 120×90 RGBA and grayscale → trained at 64×64 RGB on white (mixed sizes")
