"""Tests for ganstudio.core.pairs: built-in sets, edge maps, paired, unpaired and AB folders, and their problems."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from ganstudio.core.data import DataError
from ganstudio.core.pairs import (
    EDGES2FASHION_THRESHOLD,
    TRANSLATION_DATASETS,
    edge_map,
    load_translation_data,
)


# --- helpers ------------------------------------------------------------------------------------


def gray(path, value: int, size=(16, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", size, value).save(path)


def rgb(path, color, size=(16, 16)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def paired_folder(root, n=5, a="A", b="B"):
    # A is gray value 10*i, B is a colour whose red channel is 20*i: partners are recognisable.
    for i in range(n):
        gray(root / a / f"{i:02d}.png", 10 * i)
        rgb(root / b / f"{i:02d}.png", (20 * i, 0, 200))
    return root


def value(x: torch.Tensor) -> int:
    """The uint8 value of a flat image (first channel)."""
    return int(round((float(x[0].mean()) + 1) * 127.5))


# --- built-ins ----------------------------------------------------------------------------------


def test_builtins_registered():
    assert set(TRANSLATION_DATASETS.names()) == {"edges2fashion", "horse2zebra"}


def test_edges2fashion_paired_with_held_out_split():
    d = load_translation_data("edges2fashion")
    assert d.paired and d.direction_names == ("edges", "fashion")
    assert d.a.shape == d.b.shape == (9000, 1, 28, 28)
    assert d.held_out_a.shape == d.held_out_b.shape == (1000, 1, 28, 28)
    assert d.held_out_labels.shape == (1000,) and int(d.held_out_labels.max()) <= 9
    assert d.a.dtype == torch.float32 and -1.0 <= float(d.b.min()) and float(d.b.max()) <= 1.0
    # row i of A is the edge map of row i of B
    assert torch.equal(d.a[:50], edge_map(d.b[:50], EDGES2FASHION_THRESHOLD))
    assert torch.equal(d.held_out_a[:20], edge_map(d.held_out_b[:20], EDGES2FASHION_THRESHOLD))
    assert d.summary() == "edges2fashion: 9,000 pairs 1×28×28 → 1×28×28 (+1,000 held out)"


def test_horse2zebra_unpaired_split_held_out_like_the_classifier():
    from ganstudio.core.data import evaluation_split, load_dataset

    animals = load_dataset("animals")
    n_horse = int((animals.labels == 7).sum())
    n_zebra = int((animals.labels == 9).sum())
    d = load_translation_data("horse2zebra")
    assert not d.paired and d.direction_names == ("horse", "zebra")
    assert len(d.a) + len(d.held_out_a) == n_horse and len(d.held_out_a) == n_horse // 10
    assert len(d.b) + len(d.held_out_b) == n_zebra and len(d.held_out_b) == n_zebra // 10
    assert d.held_out_labels is None
    # the held-out animals are the classifier's held-out rows, spread over the file, not its tail
    _, held = evaluation_split(animals.labels)
    assert torch.equal(d.held_out_a, animals.x[held[animals.labels[held] == 7]])
    horses = animals.x[animals.labels == 7]
    assert not torch.equal(d.held_out_a, horses[-len(d.held_out_a):])
    again = load_translation_data("horse2zebra")
    assert torch.equal(d.a, again.a) and torch.equal(d.b, again.b)
    with pytest.raises(DataError, match="unpaired"):
        load_translation_data("horse2zebra", paired=True)


# --- edge maps ----------------------------------------------------------------------------------


def test_edge_map_of_filled_square_is_its_border():
    x = -torch.ones(1, 1, 28, 28)
    x[:, :, 8:20, 8:20] = 1.0  # white square on black, rows/cols 8..19
    e = edge_map(x)
    assert set(e.unique().tolist()) == {-1.0, 1.0}  # binary
    on = e[0, 0] > 0
    band = torch.zeros(28, 28, dtype=torch.bool)
    band[7:21, 7:21] = True
    band[10:18, 10:18] = False  # within one pixel of the square's boundary
    assert on.any() and not (on & ~band).any()  # edges only at the border
    for side in (on[7:9, 10:18], on[19:21, 10:18], on[10:18, 7:9], on[10:18, 19:21]):
        assert side.sum() >= 8  # each side drawn along its whole length (one pixel thin)
    assert int(on.sum()) <= 4 * 14  # thinned, not a two-pixel-wide band
    assert torch.equal(e, edge_map(x.clone()))  # deterministic
    assert (edge_map(-torch.ones(2, 1, 16, 16)) == -1).all()  # flat image: no edges, not even at the frame


def test_edge_map_rejects_colour():
    with pytest.raises(ValueError, match="grayscale"):
        edge_map(torch.zeros(1, 3, 8, 8))


# --- paired folders -----------------------------------------------------------------------------


def test_paired_a_b_folders_match_by_stem(tmp_path):
    root = paired_folder(tmp_path / "set")
    d = load_translation_data(str(root))
    assert d.paired and d.problems == [] and d.skipped == []
    assert d.a.shape == (5, 1, 16, 16) and d.b.shape == (5, 3, 16, 16)  # channels per domain
    for i in range(5):
        assert value(d.a[i]) == 10 * i and value(d.b[i]) == 20 * i  # row i are partners
    assert d.held_out_a is None
    assert d.summary() == f"{root}: 5 pairs 1×16×16 → 3×16×16"


def test_side_by_side_ab_images_split_into_halves(tmp_path):
    root = tmp_path / "facades"
    root.mkdir()
    for i in range(3):
        img = Image.new("RGB", (32, 16), (0, 0, 0))
        img.paste((200, 10 * i, 0), (0, 0, 16, 16))  # A: left half red-ish
        img.paste((0, 0, 100 + i), (16, 0, 32, 16))  # B: right half blue
        img.save(root / f"{i}.png")
    d = load_translation_data(str(root))
    assert d.paired and d.a.shape == d.b.shape == (3, 3, 16, 16)
    a = ((d.a + 1) * 127.5).round()
    b = ((d.b + 1) * 127.5).round()
    for i in range(3):
        assert a[i, :, 8, 8].tolist() == [200, 10 * i, 0]
        assert b[i, :, 8, 8].tolist() == [0, 0, 100 + i]
        assert float(a[i, 2].max()) == 0 and float(b[i, 0].max()) == 0  # no column crossed over


def test_side_by_side_gray_half_gets_one_channel(tmp_path):
    root = tmp_path / "edges2things"
    root.mkdir()
    for i in range(2):
        img = Image.new("RGB", (32, 16), (0, 0, 0))
        img.paste((90, 90, 90), (0, 0, 16, 16))  # edges half: gray stored as RGB (as in edges2shoes)
        img.paste((250, 20, 20), (16, 0, 32, 16))
        img.save(root / f"{i}.png")
    d = load_translation_data(str(root))
    assert d.a.shape[1] == 1 and d.b.shape[1] == 3
    assert d.direction_names == ("edges", "things")


def test_folder_of_square_images_is_not_a_translation_set(tmp_path):
    for i in range(3):
        gray(tmp_path / f"{i}.png", 5)
    with pytest.raises(DataError, match="no usable pair.*A/ and B/"):
        load_translation_data(str(tmp_path))


# --- unpaired and auto detection ----------------------------------------------------------------


def test_unpaired_folders_with_different_names(tmp_path):
    for i in range(4):
        gray(tmp_path / "A" / f"horse{i}.png", 30 + i)
    for i in range(6):
        gray(tmp_path / "B" / f"zebra{i}.png", 100 + i)
    d = load_translation_data(str(tmp_path))
    assert not d.paired and len(d.a) == 4 and len(d.b) == 6
    assert sorted(value(x) for x in d.b) == list(range(100, 106))
    assert [value(x) for x in d.a] == [30, 31, 32, 33]
    assert d.problems == []  # unpaired: missing partners are not a problem


def test_explicit_unpaired_on_matching_names(tmp_path):
    root = paired_folder(tmp_path / "s", n=8)
    d = load_translation_data(str(root), paired=False)
    assert not d.paired
    assert [value(x) for x in d.b] != [20 * i for i in range(8)]  # shuffled, not index-aligned
    assert sorted(value(x) for x in d.b) == [20 * i for i in range(8)]


def test_auto_pairs_at_90_percent_and_reports_the_rest(tmp_path):
    root = paired_folder(tmp_path / "s", n=10)
    gray(root / "A" / "extra.png", 1)  # 10 of 11 names match: 91% -> paired
    d = load_translation_data(str(root))
    assert d.paired and len(d.a) == len(d.b) == 10
    assert d.problems == ["1 file in A has no partner in B: extra.png"]

    for i in range(3):
        gray(root / "B" / f"more{i}.png", 2)  # now 10 of 14: unpaired
    d = load_translation_data(str(root))
    assert not d.paired and len(d.a) == 11 and len(d.b) == 13


def test_missing_partners_listed_with_cap(tmp_path):
    root = paired_folder(tmp_path / "s", n=3)
    for i in range(8):
        gray(root / "B" / f"lonely{i}.png", 7)
    d = load_translation_data(str(root), paired=True)
    assert d.paired and len(d.a) == 3
    assert d.problems == [
        "8 files in B have no partner in A: lonely0.png, lonely1.png, lonely2.png, lonely3.png, "
        "lonely4.png, … and 3 more"]


def test_size_mismatch_reported_and_resized(tmp_path):
    root = paired_folder(tmp_path / "s", n=3)
    gray(root / "A" / "01.png", 10, size=(64, 64))
    rgb(root / "B" / "02.png", (40, 0, 200), size=(32, 48))
    d = load_translation_data(str(root), image_size=16)
    assert len(d.a) == 3 and d.a.shape[2:] == d.b.shape[2:] == (16, 16)
    assert d.problems == ["size mismatch in 2 pairs: A/01.png 64×64 vs B/01.png 16×16, "
                          "A/02.png 16×16 vs B/02.png 32×48 (resized to the model size)"]


def test_native_size_caps_at_128_and_says_so(tmp_path):
    root = tmp_path / "s"
    for i in range(2):
        gray(root / "A" / f"{i}.png", 50, size=(200, 200))
        gray(root / "B" / f"{i}.png", 60, size=(200, 200))
    d = load_translation_data(str(root))
    assert d.a.shape == (2, 1, 128, 128)
    assert "fitted to 128 px, the CPU-sized default" in d.summary()


def test_bad_files_skipped_with_reasons(tmp_path):
    root = paired_folder(tmp_path / "s", n=4)
    (root / "A" / "01.png").write_bytes(b"")
    (root / "B" / "02.png").write_bytes(b"this is not a png")
    d = load_translation_data(str(root))
    assert d.paired and len(d.a) == len(d.b) == 2
    assert [value(x) for x in d.a] == [0, 30]  # partners still aligned after the gaps
    assert [value(x) for x in d.b] == [0, 60]
    reasons = {s.path.split("/")[-2] + "/" + s.path.split("/")[-1]: s.reason for s in d.skipped}
    assert reasons == {"A/01.png": "empty file", "B/02.png": "not an image"}
    assert d.problems == ["2 pairs left out because one side could not be read (see skipped files): 01, 02"]
    assert "2 files skipped" in d.summary() and "A/01.png (empty file)" in d.skipped_report()


def test_no_usable_pair_is_a_clear_error(tmp_path):
    gray(tmp_path / "A" / "x.png", 1)
    gray(tmp_path / "B" / "y.png", 2)
    with pytest.raises(DataError, match=r"no usable pair.*none of the 1 files in A/ has a partner"):
        load_translation_data(str(tmp_path), paired=True)
    (tmp_path / "A" / "x.png").write_bytes(b"")
    with pytest.raises(DataError, match=r"no usable image in .*/A: 1 file skipped: A/x.png \(empty file\)"):
        load_translation_data(str(tmp_path))


def test_missing_domain_folder_and_unknown_name(tmp_path):
    gray(tmp_path / "A" / "x.png", 1)
    with pytest.raises(DataError, match="A/ sub-folder but no B/"):
        load_translation_data(str(tmp_path))
    with pytest.raises(DataError, match="edges2fashion, horse2zebra"):
        load_translation_data(str(tmp_path / "nowhere"))


def test_cyclegan_train_folders_accepted(tmp_path):
    root = tmp_path / "apple2orange"
    for i in range(3):
        rgb(root / "trainA" / f"n{i}.jpg", (200, 20, 20))
        rgb(root / "trainB" / f"m{i}.jpg", (250, 150, 0))
    gray(root / "testA" / "t.png", 1)  # other splits are not training data
    d = load_translation_data(str(root))
    assert not d.paired and len(d.a) == len(d.b) == 3
    assert d.direction_names == ("apple", "orange")
    assert d.a.shape[1] == d.b.shape[1] == 3


def test_deterministic_and_explicit_size_channels(tmp_path):
    root = paired_folder(tmp_path / "s", n=4)
    d1 = load_translation_data(str(root), image_size=8, channels=3)
    d2 = load_translation_data(str(root), image_size=8, channels=3)
    assert d1.a.shape == d1.b.shape == (4, 3, 8, 8)
    assert torch.equal(d1.a, d2.a) and torch.equal(d1.b, d2.b)
    with pytest.raises(DataError, match="channels"):
        load_translation_data(str(root), channels=2)
    e = load_translation_data("edges2fashion", image_size=32, channels=3)
    assert e.a.shape == (9000, 3, 32, 32) and np.isin(e.a.unique().numpy(), [-1.0, 1.0]).all()


# --- held-out split of a user's folder ------------------------------------------------------------


def test_user_folder_holds_out_a_tenth_of_its_pairs_the_same_every_time(tmp_path):
    root = paired_folder(tmp_path / "s", n=25)
    d = load_translation_data(str(root))
    assert len(d.a) == len(d.b) == 23 and len(d.held_out_a) == len(d.held_out_b) == 2
    assert "(+2 held out)" in d.summary()
    train = {value(x) for x in d.a}
    held = [value(x) for x in d.held_out_a]
    assert not train & set(held) and train | set(held) == {10 * i for i in range(25)}
    # a held-out pair is still a pair: B's red channel is twice A's value
    assert [round(((float(x[0].mean()) + 1) * 127.5)) for x in d.held_out_b] == [2 * v for v in held]
    again = load_translation_data(str(root))
    assert torch.equal(again.held_out_a, d.held_out_a)


def test_unpaired_user_folders_hold_out_each_side_and_tiny_sets_keep_everything(tmp_path):
    for i in range(30):
        gray(tmp_path / "u" / "A" / f"horse{i}.png", i)
    for i in range(40):
        gray(tmp_path / "u" / "B" / f"zebra{i}.png", 100 + i)
    d = load_translation_data(str(tmp_path / "u"))
    assert not d.paired and (len(d.a), len(d.held_out_a), len(d.b), len(d.held_out_b)) == (27, 3, 36, 4)
    assert "(+3 / +4 held out)" in d.summary()
    small = load_translation_data(str(paired_folder(tmp_path / "small", n=8)))
    assert small.held_out_a is None and len(small.a) == 8  # too few to spare any
