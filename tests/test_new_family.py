"""A family defined here, in this file only, trains, samples, previews and exports through the CLI
and appears in the Setup form with its fields, tooltips and curves: adding a family is one file."""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from PIL import Image

from ganstudio import cli
from ganstudio.core.families import FAMILIES, Terms, register
from ganstudio.core.families.template import Template
from ganstudio.core.options import option


@dataclass(frozen=True)
class ToyOptions:
    z_dim: int = option(4, "model", "Noise size of the toy generator.", minimum=1)
    width: int = option(32, "model", "Hidden units of the toy networks.", minimum=1)
    margin: float = option(0.5, "toy loss", "Hinge margin of the toy critic: a group no other family has.", minimum=0.0, live=True)


class Toy(Template):
    """A least-squares-free hinge GAN on 2-D points, built on the template's networks."""

    name = "toy"
    title = "Toy hinge GAN"
    summary = "A test family: hinge loss with a margin option."
    Options = ToyOptions
    curves = {"Loss": ("loss/d", "loss/g"), "Toy margin": ("toy/margin_violations",)}
    d_output = "critic"
    presets = {"toy-ring8": ("A toy hinge GAN on ring8.", dict(dataset="ring8", steps=4, batch_size=32, threads=1))}

    def loss(self, phase, repeat, nets):
        z = torch.randn(self.sampler.batch_size, self.meta["z_dim"], device=self.device)
        fake = nets.train["G"](z)
        m = self.cfg.options.margin
        if phase.name == "d":
            lr, lf = nets.train["D"](self.x.index_select(0, self.sampler.next())), nets.train["D"](fake.detach())
            loss = F.relu(m - lr).mean() + F.relu(m + lf).mean()
            return Terms(loss, {"loss/d": loss, "toy/margin_violations": (lr < m).float().mean()})
        loss = -nets["D"](fake).mean()
        return Terms(loss, {"loss/g": loss})


if "toy" not in FAMILIES:
    register(Toy)


def test_the_cli_trains_samples_and_exports_a_family_defined_in_a_test(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", "--preset", "toy-ring8", "--run-dir", str(run), "--set", "margin=0.7",
                     "--set", "log_every=1", "--sample-every", "2"]) == 0
    assert "margin = 0.7" in (run / "config.toml").read_text() and "[toy]" in (run / "config.toml").read_text()
    assert (run / "samples" / "step_00000004.png").is_file()  # the preview
    assert "toy/margin_violations" in (run / "metrics.jsonl").read_text()
    assert cli.main(["sample", str(run), "-n", "16", "-o", str(tmp_path / "s.png")]) == 0
    assert Image.open(tmp_path / "s.png").size[0] > 0
    assert cli.main(["export", str(run), "-o", str(tmp_path / "toy.pt")]) == 0
    ts = torch.jit.load(str(tmp_path / "toy.pt"))
    assert ts(torch.zeros(3, 4)).shape == (3, 2)
    capsys.readouterr()
    assert cli.main(["eval", str(run), "--metrics", "modes", "--no-save"]) == 0  # the family's declared metrics
    assert "modes covered" in capsys.readouterr().out
    assert cli.main(["eval", str(run), "--metrics", "l1"]) == 2
    assert "unknown metric l1 for a toy model" in capsys.readouterr().err
    assert cli.main(["families", "toy"]) == 0
    out = capsys.readouterr().out
    assert "margin (default 0.5; changeable while training)" in out and "Hinge margin of the toy critic" in out
    assert "toy-ring8" in out
    assert cli.main(["train", "--preset", "toy-ring8", "--run-dir", str(tmp_path / "bad"), "--set", "l1_weight=5"]) == 2
    assert "valid:" in capsys.readouterr().err and not (tmp_path / "bad").exists()


def test_the_setup_form_and_curves_show_the_family(qtbot):
    from ganstudio.ui.curves import CurvesPanel
    from ganstudio.ui.setup import SetupPanel

    panel = SetupPanel()
    qtbot.addWidget(panel)
    family = panel.editors["family"]
    assert family.findText("toy") >= 0  # in the picker, from the registry
    panel.preset_combo.setCurrentText("toy-ring8")
    assert panel.editors["margin"].toolTip() == ToyOptions.__dataclass_fields__["margin"].metadata["why"]
    assert "n_critic" not in panel.editors  # another family's options are gone
    panel.editors["margin"].setText("0.25")
    cfg = panel.config()
    assert cfg.family == "toy" and cfg.options.margin == 0.25 and cfg.dataset == "ring8"
    curves = CurvesPanel()
    qtbot.addWidget(curves)
    curves.set_family("toy")
    curves.add_records([{"step": 1, "loss/d": 1.0, "toy/margin_violations": 0.5}])
    curves.show()
    curves._refresh()
    assert "Toy margin" in curves.plots and "toy/margin_violations" in curves.raw_items
