"""`ganstudio ...` subcommands: train, sample, translate, upscale, eval, export, presets, datasets, families.

One module per command group; each imports torch and the core only when its command runs, so
`ganstudio --help` and the studio window (which imports Qt only when opened) start fast.
"""

from __future__ import annotations

import argparse
import sys

import ganstudio
from ganstudio.cli.common import EXIT_BAD_INPUT, EXIT_INTERRUPTED, UsageError  # noqa: F401 (re-exported)
from ganstudio.cli.evaluate import cmd_eval
from ganstudio.cli.info import cmd_datasets, cmd_families, cmd_presets
from ganstudio.cli.train import cmd_train
from ganstudio.cli.use import cmd_export, cmd_sample, cmd_translate, cmd_upscale
from ganstudio.core.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="ganstudio",
        description="GAN Studio: with no command, opens the studio window; the commands below train, sample, translate, evaluate and export headless.",
    )
    p.add_argument("--version", action="version", version=f"ganstudio {ganstudio.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    pr = sub.add_parser("presets", help="list the training presets, or print one as an editable TOML config")
    pr.add_argument("name", nargs="?", help="print this preset's full config (save it, edit it, pass it to --config)")
    pr.set_defaults(func=cmd_presets)
    sub.add_parser("datasets", help="list the built-in datasets").set_defaults(func=cmd_datasets)
    fa = sub.add_parser("families", help="list the GAN families, or one family's options, metrics and presets")
    fa.add_argument("name", nargs="?", help="show this family's options (with why each exists), metrics and presets")
    fa.set_defaults(func=cmd_families)
    st = sub.add_parser("studio", help="open the studio window (the default with no command)")
    st.add_argument("path", nargs="?", help="a run directory to open, or a dataset folder/file to select")

    t = sub.add_parser("train", help="train a GAN headless, writing a run directory",
                       description="Train a GAN. Writes RUN/config.toml, metrics.jsonl, samples/step_N.png and "
                                   "checkpoints/latest.pt. Ctrl-C saves a checkpoint and exits 130.")
    t.add_argument("--preset", help="start from a preset (see `ganstudio presets`; default: own-images for a --dataset "
                                    "folder or file of your own, dcgan-mnist otherwise)")
    t.add_argument("--config", help="a TOML config file (applied over the preset)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config field, e.g. --set lr_d=1e-4 (repeatable)")
    t.add_argument("--dataset", help="built-in name or a path (image folder, IDX file, .npz); your own images of any size "
                                     "and colour train as they are, fitted to a size the model builds at")
    t.add_argument("--steps", type=int, help="total number of G updates (a resumed run continues up to it)")
    t.add_argument("--batch-size", type=int, help="real images per D step (the preset's; 64-128 suits most GANs)")
    t.add_argument("--seed", type=int, help="seed of every random number: the same seed and config give the same run")
    t.add_argument("--run-dir", help="where to write the run (default runs/PRESET-DATE-TIME)")
    t.add_argument("--resume", metavar="DIR", help="continue the run in DIR from its latest checkpoint")
    t.add_argument("--device", choices=("auto", "cpu", "cuda"))
    t.add_argument("--threads", type=int, help="torch CPU threads (default 0: the cores not busy with other work, "
                   "one for 2-D models; the choice is printed at the start)")
    t.add_argument("--log-every", type=int, help="steps between metric records")
    t.add_argument("--sample-every", type=int, help="steps between saved sample grids (plus steps 1, 2, 5, 10, 20, 50, ... before the first)")
    t.add_argument("--checkpoint-every", type=int, help="steps between periodic checkpoints")
    t.add_argument("-v", "--verbose", action="store_true", help="also report each checkpoint written")
    t.set_defaults(func=cmd_train)

    s = sub.add_parser("sample", help="draw samples from a checkpoint into a PNG grid or a .npy file")
    s.add_argument("checkpoint", help="a checkpoint file or a run directory")
    s.add_argument("-n", type=int, default=64, help="number of samples (default 64)")
    s.add_argument("-o", "--output", default="grid.png", help="output .png grid (scatter plot for 2-D models) or .npy raw samples")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--class", dest="class_", metavar="K", help="class index or name (conditional models)")
    s.add_argument("--truncation", type=float, default=1.0, metavar="PSI",
                   help="pull latents toward the mean: 1 = off, 0.7 = cleaner but less varied, 0 = the mean sample")
    s.add_argument("--interpolate", nargs=2, type=int, metavar=("SEED_A", "SEED_B"),
                   help="a walk between two seeds' latents: -o walk.gif (animation) or walk.png (strip)")
    s.add_argument("--slerp", action="store_true", help="spherical interpolation (keeps latent norms; default lerp)")
    s.add_argument("--frames", type=int, default=60, help="frames of the walk (default 60)")
    s.add_argument("--fps", type=int, default=24, help="GIF frame rate (default 24)")
    s.add_argument("--class-grid", action="store_true", help="rows classes × columns seeds (conditional models)")
    s.add_argument("--traverse", metavar="CODE",
                   help="models with codes (InfoGAN): rows the values of CODE (its name or number) × columns seeds; "
                        "-o grid.png, or grid.gif with one frame per value")
    s.add_argument("--values", type=int, default=9, help="with --traverse: values of a continuous code (default 9)")
    s.add_argument("--range", nargs=2, type=float, metavar=("LO", "HI"),
                   help="with --traverse: the span of a continuous code (default its prior's: -1 1 uniform, -2 2 normal)")
    s.add_argument("--seeds", type=int, default=8, help="columns of the class grid or traversal: seeds --seed … --seed+N-1 (default 8)")
    s.add_argument("--export-dataset", metavar="DIR",
                   help="write -n labelled images (classes balanced) as DIR/<class>/*.png, with labels.csv and "
                        "dataset.json; conditional models; DIR must be new or empty")
    s.add_argument("--no-tstr", action="store_true",
                   help="with --export-dataset: skip the TSTR score (a classifier trained on the exported images)")
    s.set_defaults(func=cmd_sample)
    xp = sub.add_parser("export", help="export a generator to ONNX or TorchScript, checked against the checkpoint",
                        description="Export the generator (or a translation generator) of a checkpoint with a dynamic "
                                    "batch axis. The exported file is run by onnxruntime / the TorchScript interpreter "
                                    "and compared with the checkpoint (max difference ≤ 1e-4) before it is kept.")
    xp.add_argument("checkpoint", help="a checkpoint file or a run directory")
    xp.add_argument("--format", choices=("onnx", "torchscript"), help="default: from the file name (.onnx or .pt)")
    xp.add_argument("-o", "--output", required=True, metavar="FILE", help="the file to write (never overwritten unless --overwrite)")
    xp.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB", help="which CycleGAN generator (default AtoB)")
    xp.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")
    xp.set_defaults(func=cmd_export)
    tr = sub.add_parser("translate", help="translate image files with a trained pix2pix or CycleGAN model",
                        description="Translate images (files or folders, recursively) with a pix2pix/CycleGAN checkpoint. "
                                    "Outputs keep each input's size; existing files are never overwritten.")
    tr.add_argument("checkpoint", help="a translation checkpoint file or its run directory")
    tr.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and folders")
    tr.add_argument("-o", "--output", help="output folder (default: translated/ next to the first input)")
    tr.add_argument("--direction", choices=("AtoB", "BtoA"), default="AtoB", help="CycleGAN models translate both ways")
    mode = tr.add_mutually_exclusive_group()
    mode.add_argument("--tile", action="store_true", help="large images tile by tile with blended overlaps (default)")
    mode.add_argument("--resize", action="store_true", help="resize to the model's size and back instead (faster, softer)")
    tr.add_argument("--interpolate", type=float, metavar="ALPHA",
                    help="super-resolution models: blend the GAN with its PSNR start (0 = PSNR model, 1 = GAN, the default)")
    tr.set_defaults(func=cmd_translate)

    up = sub.add_parser("upscale", help="upscale photos with a trained super-resolution model (srgan family), streamed in tiles",
                        description="Upscale images (files or folders, recursively) with a super-resolution checkpoint. "
                                    "Tiles are read, blended and written as a stream, so memory stays bounded whatever "
                                    "the size; alpha is kept, grayscale stays grayscale, 16-bit is converted to 8-bit "
                                    "(with a note). Outputs are PNG; existing files are never overwritten.")
    up.add_argument("checkpoint", help="a super-resolution checkpoint file or its run directory")
    up.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and folders")
    up.add_argument("-o", "--output", help="output folder (default: upscaled/ next to the first input)")
    up.add_argument("--scale", type=int, help="the factor to upscale by; must be the model's (default: the model's)")
    up.add_argument("--interpolate", type=float, metavar="ALPHA",
                    help="network interpolation (ESRGAN): 0 = the PSNR model (faithful, smooth) … 1 = the GAN (sharp; default)")
    up.add_argument("--max-pixels", type=int, metavar="N",
                    help="largest output image in pixels (default 89,478,485, Pillow's decompression limit); raise it "
                         "for very large results")
    up.set_defaults(func=cmd_upscale)

    ev = sub.add_parser("eval", help="score a checkpoint by its family's metrics (a generator: FD, KID, precision/recall, TSTR, modes)",
                        description="Evaluate a checkpoint with the metrics its family declares (`ganstudio families NAME` "
                                    "lists them); prints a table and adds it to RUN/eval.json.")
    ev.add_argument("checkpoint", help="a run directory or a checkpoint file")
    ev.add_argument("--metrics", default="",
                    help="comma-separated metric names of the model's family, or all (default: the family's own; "
                         "for a generator fd,kid,is,pr,diversity,copies,modes, and tstr trains a classifier, a few minutes "
                         "on a CPU); metrics that do not apply say why")
    ev.add_argument("-n", type=int, default=2000, help="generated samples (and real ones) to compare (default 2000)")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--dataset", help="real data to compare with (default: the run's own dataset)")
    ev.add_argument("--threads", type=int, default=0, help="torch CPU threads (default: all cores)")
    ev.add_argument("--no-save", action="store_true", help="do not add the result to RUN/eval.json")
    ev.add_argument("--nearest", metavar="PNG", help="also write a grid of samples, each followed by its 4 nearest "
                    "training images (is it copying?); an existing file is not overwritten")
    ev.set_defaults(func=cmd_eval)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None) or args.command == "studio":
        from ganstudio.ui.app import run_studio  # Qt is imported only here

        return run_studio(open_path=getattr(args, "path", None))
    try:
        return args.func(args)
    except UserError as e:
        from ganstudio.core.distributed import from_env

        if from_env().main:  # under torchrun, rank 0 speaks for the job
            print(f"ganstudio: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader went away (`ganstudio families gan | head`): stop quietly, as other tools do
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except OSError as e:  # a full disk, a read-only folder, no permission: the file and the cause, in one line
        from ganstudio.core.errors import os_error_line

        print(f"ganstudio: error: {os_error_line(e)}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
