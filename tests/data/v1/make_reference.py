"""Made with the format-1 code of commit 67f838e; kept as the record. Outputs of the v1 checkpoints under the code that wrote them (tests/core/test_legacy.py compares)."""
import numpy as np, torch
from ganstudio.core.sampling import load_generator
from ganstudio.core.translation_train import load_translator
ref = {}
gen = load_generator("tests/data/v1/cgan-mnist.pt")
x, y = gen.sample(10, seed=3)
ref["cgan-mnist"] = x.numpy()
g = torch.Generator().manual_seed(0)
for name, dirs in (("pix2pix", ("AtoB",)), ("cyclegan", ("AtoB", "BtoA"))):
    for d in dirs:
        G, size, ch, names = load_translator(f"tests/data/v1/{name}.pt", d)
        inp = torch.rand(2, ch, size, size, generator=torch.Generator().manual_seed(1)) * 2 - 1
        with torch.inference_mode():
            ref[f"{name}-{d}"] = G(inp).numpy()
np.savez_compressed("tests/data/v1/reference.npz", **ref)
print({k: v.shape for k, v in ref.items()})
