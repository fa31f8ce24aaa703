"""Packaging: the Linux desktop entry and AppStream metainfo validate, icons exist, the PyInstaller spec is sound.

The validators come from the distribution (desktop-file-utils, appstream). Without them these
tests skip with a message; CI installs them and sets GANSTUDIO_REQUIRE_DESKTOP_TOOLS=1 so that a
missing tool fails instead.
"""

import ast
import configparser
import os
import shutil
import subprocess
import sys
import tomllib
import types
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

import ganstudio

ROOT = Path(__file__).resolve().parent.parent
LINUX = ROOT / "packaging" / "linux"
APP_ID = "org.ganstudio.GANStudio"
DESKTOP = LINUX / f"{APP_ID}.desktop"
METAINFO = LINUX / f"{APP_ID}.metainfo.xml"
SPEC = ROOT / "packaging" / "pyinstaller" / "ganstudio.spec"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("GANSTUDIO_REQUIRE_DESKTOP_TOOLS") == "1":
            pytest.fail(f"{name} is required here but not installed (apt-get install desktop-file-utils appstream)")
        pytest.skip(f"{name} not installed: apt-get install desktop-file-utils appstream")
    return path


def test_desktop_entry_validates():
    r = subprocess.run([_tool("desktop-file-validate"), str(DESKTOP)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "" and r.stderr.strip() == "", r.stdout + r.stderr


def test_metainfo_validates():
    r = subprocess.run([_tool("appstreamcli"), "validate", "--no-net", str(METAINFO)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "E:" not in r.stdout and "W:" not in r.stdout, r.stdout


def test_desktop_entry_metainfo_icons_and_package_agree():
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str
    entry.read(DESKTOP, encoding="utf-8")
    d = entry["Desktop Entry"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert d["Exec"].split()[0] in scripts  # launches the installed command
    assert d["Icon"] == APP_ID
    xml = ET.parse(METAINFO).getroot()
    assert xml.findtext("id") == APP_ID and xml.findtext("launchable") == DESKTOP.name
    assert xml.find("releases/release").get("version") == ganstudio.__version__
    assert xml.findtext("provides/binary") in scripts
    icons = ROOT / "resources" / "icons" / "hicolor"
    assert (icons / "scalable" / "apps" / f"{APP_ID}.svg").is_file()
    for size in (16, 24, 32, 48, 64, 128, 256, 512):
        with Image.open(icons / f"{size}x{size}" / "apps" / f"{APP_ID}.png") as im:
            assert im.size == (size, size) and im.mode == "RGBA"
            assert im.getchannel("A").getextrema() == (0, 255)  # rounded corners: transparent and opaque


def test_pyinstaller_spec_parses_and_names_a_real_entry_point(monkeypatch):
    source = SPEC.read_text()
    tree = ast.parse(source, filename=str(SPEC))  # syntax
    calls = {n.func.id: n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert {"Analysis", "PYZ", "EXE", "COLLECT"} <= set(calls)
    entry = ROOT / "packaging" / "pyinstaller" / "ganstudio_main.py"
    assert '"ganstudio_main.py"' in source and entry.is_file()
    main_tree = ast.parse(entry.read_text())
    imports = [(n.module, [a.name for a in n.names]) for n in ast.walk(main_tree) if isinstance(n, ast.ImportFrom)]
    assert ("ganstudio.cli", ["main"]) in imports
    from ganstudio.cli import main  # the function the frozen app calls exists and answers

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    # the data the app needs at run time is bundled where resources_dir() looks for it
    assert '"ganstudio/resources"' in source and (ROOT / "resources" / "datasets").is_dir()
    # and the spec runs as PyInstaller would run it, with its build steps stubbed
    recorded = {}

    def record(name):
        def f(*args, **kwargs):
            recorded[name] = (args, kwargs)
            return type(name, (), {"pure": [], "scripts": [], "binaries": [], "datas": []})()
        return f

    namespace = {"SPECPATH": str(SPEC.parent), **{n: record(n) for n in ("Analysis", "PYZ", "EXE", "COLLECT")}}
    hooks = types.ModuleType("PyInstaller.utils.hooks")  # PyInstaller itself need not be installed
    hooks.collect_submodules = lambda package: [package]
    for name in ("PyInstaller", "PyInstaller.utils"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "PyInstaller.utils.hooks", hooks)
    exec(compile(source, str(SPEC), "exec"), namespace)  # noqa: S102 - our own spec file
    assert Path(recorded["Analysis"][0][0][0]) == entry
    assert Path(recorded["EXE"][1]["icon"]).is_file()
