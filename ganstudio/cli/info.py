"""`ganstudio presets` and `ganstudio datasets`: what can be trained, on what."""

from __future__ import annotations




def cmd_presets(args) -> int:
    from ganstudio.core.config import PRESETS, to_toml

    if args.name:
        preset = PRESETS.get(args.name)
        print(f"# preset {preset.name}: {preset.summary}")
        print(to_toml(preset.config()))
        return 0
    width = max(map(len, PRESETS.names()))
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset.summary}")
    return 0


def cmd_datasets(args) -> int:
    from ganstudio.core.data import list_datasets

    from ganstudio.core.pairs import list_translation_datasets
    from ganstudio.core.photos import list_photo_sets

    rows = list_datasets()
    pairs = list_translation_datasets()
    photos = list_photo_sets()
    width = max(len(n) for n, _ in rows + pairs + photos)
    for name, desc in rows:
        print(f"{name:<{width}}  {desc}")
    print("\nFor image-to-image translation (pix2pix, cyclegan):")
    for name, desc in pairs:
        print(f"{name:<{width}}  {desc}")
    print("\nFor super-resolution (srgan), photos at their own size (or any folder of photos):")
    for name, desc in photos:
        print(f"{name:<{width}}  {desc}")
    print("\nOr give a path: a folder of images (one sub-folder per class for labels), "
          "MNIST-style IDX files, or an .npz with 'images' (and optional 'labels', 'classes').")
    return 0


def cmd_families(args) -> int:
    """Every family with its summary; with a name, its options (with why each exists), metrics and presets."""
    import textwrap

    from ganstudio.core import options as opt
    from ganstudio.core.config import PRESETS, groups_of
    from ganstudio.core.families import FAMILIES

    if not args.name:
        width = max(map(len, FAMILIES.names()))
        for name in FAMILIES:
            print(f"{name:<{width}}  {FAMILIES.get(name).summary}")
        print("\n`ganstudio families NAME` lists a family's options, metrics and presets; "
              "train one with --set family=NAME or a preset of it.")
        return 0
    cls = FAMILIES.get(args.name)
    wrap = lambda text, indent: textwrap.fill(text, 100, initial_indent=indent, subsequent_indent=indent)  # noqa: E731
    print(f"{cls.name}: {cls.title}\n{wrap(cls.summary, '')}")
    info = opt.info(cls.Options)
    for group in groups_of(info):
        print(f"\n[{cls.name}] options, {group} (--set NAME=VALUE):")
        for name, m in info.items():
            if m["group"] != group:
                continue
            extra = [f"default {m['default']!r}"]
            if isinstance(m.get("choices"), tuple):
                extra.append("one of " + ", ".join(map(str, m["choices"])))
            if m.get("live"):
                extra.append("changeable while training")
            print(f"  {name} ({'; '.join(extra)})")
            print(wrap(m["why"], "      "))
    if cls.metrics:
        print("\nmetrics (ganstudio eval --metrics A,B; default " + ",".join(cls.default_metrics) + "):")
        for name, what in cls.metrics.items():
            print(f"  {name}: {what}")
    mine = [p for name, p in PRESETS.items() if p.config().family == cls.name]
    if mine:
        print("\npresets:")
        for p in mine:
            print(f"  {p.name}: {p.summary}")
    return 0
