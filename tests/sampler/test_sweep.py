"""Sweeps under torchrun (`sampler/sweep.py`): a 2-process run on CPU (gloo) writes what one process writes."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from sampler.__main__ import main
from sampler.sweep import sweep
from sampler.trace import Trace

PROMPTS = ["Emma said", "It is a truth universally acknowledged", "She was", "I do not know, said Emma",
           "Mr. Knightley will come", "well"]
SETTINGS = ["--gen-length", "8", "--steps", "8", "--seed", "3", "--n-particles", "3", "--ess-threshold", "0.9",
            "--temperature", "1.0", "--dtype", "float32", "--prompt-batch", "2"]


def without_timing(path) -> dict:
    d = Trace.load(path).to_dict()
    d["stats"].pop("wall_time_s")
    return d


def test_one_process_sweep_yields_every_config_in_order():
    assert list(sweep(["a", "b", "c"], str.upper)) == [(0, "A"), (1, "B"), (2, "C")]


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not installed")
def test_two_process_torchrun_writes_the_one_process_jsonl_and_traces(tiny_austen_folder, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS) + "\n")
    common = ["--model", str(tiny_austen_folder), "--prompts-file", str(prompts), *SETTINGS]
    main([*common, "--jsonl", str(tmp_path / "one.jsonl"), "--out", str(tmp_path / "one")])
    one_out = capsys.readouterr().out
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.getcwd()}
    done = subprocess.run(["torchrun", "--standalone", "--nproc-per-node", "2", "-m", "sampler", *common,
                           "--jsonl", str(tmp_path / "two.jsonl"), "--out", str(tmp_path / "two")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "two.jsonl").read_text() == (tmp_path / "one.jsonl").read_text()
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == ["sr-smc-prompts-0-1.json", "sr-smc-prompts-2-3.json", "sr-smc-prompts-4-5.json"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == names
    for name in names:  # batch 1 was decoded on rank 1
        assert without_timing(tmp_path / "two" / name) == without_timing(tmp_path / "one" / name)
    # the texts as printed, in the same order (timings aside)
    strip = lambda out: [line for line in out.splitlines()  # noqa: E731
                         if line.startswith("[sr-smc]") and "trace:" not in line and "JSONL:" not in line]
    assert strip(done.stdout) == strip(one_out)

    # a prompt decoded on rank 1 (prompts 2 and 3 make batch 1) gives what it gives alone
    main(["--model", str(tiny_austen_folder), "--prompt", PROMPTS[3], *SETTINGS, "--no-trace",
          "--jsonl", str(tmp_path / "alone.jsonl")])
    alone = json.loads((tmp_path / "alone.jsonl").read_text())
    on_rank_1 = [json.loads(line) for line in (tmp_path / "two.jsonl").read_text().splitlines()][3]
    assert on_rank_1["prompt"] == alone["prompt"] and on_rank_1["texts"] == alone["texts"]
    assert on_rank_1["scores"] == pytest.approx(alone["scores"], abs=1e-5)
