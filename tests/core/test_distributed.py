"""Distributed training with torchrun on CPU ranks (gloo): every preset, rank 0 the only writer,
Ctrl-C agreed by all ranks, and checkpoints that move between distributed and single-process runs."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from ganstudio.cli import main as cli
from ganstudio.core.checkpoint import load_checkpoint
from ganstudio.core.config import PRESETS
from ganstudio.core.families import FAMILIES
from ganstudio.core.distributed import SINGLE, Dist, from_env
from ganstudio.core.batches import BatchSampler

WORKER = Path(__file__).with_name("dist_worker.py")


def torchrun(*args: str, nproc: int = 2) -> list[str]:
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]


def env() -> dict:
    e = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        e.pop(k, None)
    return e


def run(cmd: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env(), capture_output=True, text=True, timeout=timeout)


# ------------------------------------------------------------------ without processes


def test_from_env_reads_torchrun_variables(monkeypatch):
    for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    assert from_env() == SINGLE and not SINGLE.active and SINGLE.main
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    ctx = from_env()
    assert (ctx.rank, ctx.world, ctx.local_rank) == (3, 4, 1) and ctx.active and not ctx.main


def test_sharded_sampler_gives_ranks_disjoint_shards_of_each_epoch():
    n, world = 103, 2
    samplers = [BatchSampler(n, 10, seed=5, device=torch.device("cpu"), ctx=Dist(r, world, r)) for r in range(world)]
    epochs = []
    for _ in range(2):
        seen = [torch.cat([s.next() for _ in range(5)]) for s in samplers]  # 5 batches of 10 = one shard of 51
        assert len(set(seen[0].tolist()) & set(seen[1].tolist())) == 0
        assert all(len(set(x.tolist())) == 50 for x in seen)
        epochs.append(seen[0])
    # set_epoch: the next epoch is another shuffle, the same on a rank recomputing it
    assert samplers[0].epoch == 1 and not torch.equal(epochs[0], epochs[1])
    state = samplers[0].state_dict()
    again = BatchSampler(n, 10, seed=5, device=torch.device("cpu"), ctx=Dist(0, world, 0))
    again.load_state_dict(state)
    assert torch.equal(again.next(), samplers[0].next())


def test_checkpointed_sampler_moves_between_process_counts():
    one = BatchSampler(100, 10, seed=1, device=torch.device("cpu"))
    for _ in range(3):
        one.next()
    two = BatchSampler(100, 10, seed=1, device=torch.device("cpu"), ctx=Dist(0, 2, 0))
    two.load_state_dict(one.state_dict())
    assert (two.epoch, two.pos) == (1, 0)  # a fresh shuffle from the next epoch
    back = BatchSampler(100, 10, seed=1, device=torch.device("cpu"))
    back.load_state_dict(two.state_dict())
    assert back.epoch == 2 and len(back.next()) == 10


# ------------------------------------------------------------------ torchrun jobs


def _shipped_presets() -> list[str]:
    # a worker process knows only the families that ship (not a test's own)
    return [n for n, p in PRESETS.items() if FAMILIES.get(p.family).__module__.startswith("ganstudio.")]


@pytest.mark.parametrize("which", ["one per family", pytest.param("every preset", marks=pytest.mark.slow)])
def test_presets_train_as_two_cpu_ranks(which, tmp_path, first_preset_per_family):
    names = _shipped_presets()
    if which == "one per family":
        names = first_preset_per_family(names)
    r = run(torchrun(str(WORKER), str(tmp_path), ",".join(names)), tmp_path, timeout=500)
    assert r.returncode == 0, r.stderr[-3000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert sorted(report) == sorted(names)
    from ganstudio.core.inference import load_generator, read_checkpoint, signature_of
    from ganstudio.core.inference import load_translator

    for name, rep in report.items():
        assert rep["reason"] == "completed" and rep["step"] == 3, name
        assert rep["max_weight_diff"] == 0.0, name  # DDP keeps the ranks' weights identical
        assert rep["shard_overlap"] == 0 and rep["shard_sizes"] == [rep["n"] // 2] * 2, name
        # only rank 0 wrote, and what it wrote loads in a single process
        run_dir = tmp_path / name
        assert (run_dir / "config.toml").is_file() and (run_dir / "metrics.jsonl").is_file()
        lines = (run_dir / "metrics.jsonl").read_text().splitlines()
        assert [json.loads(x)["step"] for x in lines] == [1, 2, 3], name  # one writer: no line twice
        ckpt = rep["checkpoint"]
        assert load_checkpoint(ckpt)["step"] == 3
        if signature_of(read_checkpoint(ckpt)).kind == "translate":
            G, size, channels, _ = load_translator(ckpt)
            with torch.no_grad():
                assert torch.isfinite(G(torch.zeros(1, channels, size, size))).all(), name
        else:
            samples, _ = load_generator(ckpt).sample(2)
            assert torch.isfinite(samples).all(), name


def test_ctrl_c_stops_every_rank_and_the_run_resumes_in_one_process(tmp_path):
    cmd = torchrun("-m", "ganstudio", "train", "--preset", "dcgan-mnist", "--steps", "100000", "--batch-size", "8",
                   "--run-dir", "R", "--set", "log_every=1", "--set", "threads=1")
    p = subprocess.Popen(cmd, cwd=tmp_path, env=env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    metrics = tmp_path / "R" / "metrics.jsonl"
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and (not metrics.exists() or len(metrics.read_text().splitlines()) < 3):
            assert p.poll() is None, p.communicate()[1][-3000:]
            time.sleep(0.2)
        os.killpg(p.pid, signal.SIGINT)  # what Ctrl-C in the terminal does: every process gets it
        out, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert "continue with: ganstudio train --resume" in err, err[-3000:]
    state = load_checkpoint(tmp_path / "R" / "checkpoints" / "latest.pt")
    stopped = state["step"]
    assert stopped >= 3
    assert cli(["train", "--resume", str(tmp_path / "R"), "--steps", str(stopped + 2)]) == 0
    assert load_checkpoint(tmp_path / "R" / "checkpoints" / "latest.pt")["step"] == stopped + 2


def test_torchrun_resumes_a_single_process_run(tmp_path):
    run_dir = tmp_path / "R"
    assert cli(["train", "--preset", "cgan-mnist", "--steps", "2", "--batch-size", "8", "--run-dir", str(run_dir),
                "--set", "threads=1", "--set", "sample_every=100"]) == 0
    r = run(torchrun("-m", "ganstudio", "train", "--resume", "R", "--steps", "4"), tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "resuming" in r.stderr and r.stderr.count("resuming") == 1  # rank 0 speaks for the job
    state = load_checkpoint(run_dir / "checkpoints" / "latest.pt")
    assert state["step"] == 4
    steps = [json.loads(x)["step"] for x in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 4


def test_a_refused_run_dir_ends_every_rank_and_nothing_is_touched(tmp_path):
    run_dir = tmp_path / "R"
    assert cli(["train", "--preset", "dcgan-mnist", "--steps", "1", "--batch-size", "4", "--run-dir", str(run_dir),
                "--set", "threads=1"]) == 0
    before = {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()}
    r = run(torchrun("-m", "ganstudio", "train", "--preset", "dcgan-mnist", "--steps", "2", "--run-dir", "R"), tmp_path,
            timeout=120)
    assert r.returncode != 0  # every rank ended: nobody waits for a collective until the timeout
    assert r.stderr.count("already holds a run") == 1, r.stderr[-2000:]  # rank 0 speaks for the job
    assert {p: p.read_bytes() for p in run_dir.rglob("*") if p.is_file()} == before
