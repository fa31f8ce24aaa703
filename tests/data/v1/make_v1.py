# Made with the format-1 code of commit 67f838e (the loader it calls no longer exists); kept as the record of how tests/data/v1 was made.
import shutil, tempfile, pathlib
from ganstudio.core.config import PRESETS, apply_overrides
from ganstudio.core.train import iter_train
out = pathlib.Path("tests/data/v1")
jobs = {
 "cgan-mnist": ("cgan-mnist", dict(model="dcgan", z_dim=8, g_width=4, d_width=4, ema=0.999, steps=3)),
 "pix2pix": ("pix2pix-edges2fashion", dict(g_width=4, d_width=4, unet_depth=3, steps=3, image_size=24)),
 "cyclegan": ("cyclegan-horse2zebra", dict(g_width=4, d_width=4, resnet_blocks=1, steps=3, image_size=24)),
}
for name, (preset, ov) in jobs.items():
    cfg = apply_overrides(PRESETS.get(preset).config(), dict(batch_size=4, log_every=1, sample_every=1000, checkpoint_every=1000, sample_count=16, threads=2, **ov))
    d = pathlib.Path(tempfile.mkdtemp())/"run"
    for ev in iter_train(cfg, d): pass
    shutil.copy(d/"checkpoints"/"latest.pt", out/f"{name}.pt")
    print(name, (out/f"{name}.pt").stat().st_size)
