import json
import subprocess
import sys

import pytest

from sampler.__main__ import main, read_prompts
from sampler.trace import Trace

SMALL = ["--gen-length", "8", "--steps", "8", "--seed", "1"]


def run_cli(capsys, *argv):
    main(list(argv))
    return capsys.readouterr()


def cli_error(capsys, *argv) -> str:
    """The stderr of a run that must end as a user error: exit code 2, one line, no traceback."""
    with pytest.raises(SystemExit) as stop:
        main(list(argv))
    err = capsys.readouterr().err
    assert stop.value.code == 2
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err
    return err


def test_runs_only_the_method_asked_for_and_labels_it(tiny_austen_folder, tmp_path, capsys):
    out = run_cli(capsys, "--model", str(tiny_austen_folder), "--prompt", "Emma said", "--method", "smc",
                  "--n-particles", "3", "--ess-threshold", "0.9", "--out", str(tmp_path), *SMALL).out
    assert "== sr-smc" in out and "greedy" not in out and "ESS min" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sr-smc.json"]
    smc = Trace.load(tmp_path / "sr-smc.json")
    assert smc.n_particles == 3 and smc.config["seed"] == 1 and smc.prompts == ["Emma said"]
    text_lines = [line for line in out.splitlines() if "particle" in line]
    assert len(text_lines) == 3 and all(line.startswith("[sr-smc]") for line in text_lines)
    for text in smc.final["texts"][0]:
        assert text in out


def test_greedy_is_one_particle_and_best_of_n_never_resamples(tiny_austen_folder, tmp_path, capsys):
    common = ["--model", str(tiny_austen_folder), "--prompt", "Emma said", "--out", str(tmp_path), *SMALL]
    out = run_cli(capsys, *common, "--method", "greedy").out
    assert "== greedy" in out and "sr-smc" not in out
    assert Trace.load(tmp_path / "greedy.json").n_particles == 1
    run_cli(capsys, *common, "--method", "best_of_n", "--n-particles", "4", "--ess-threshold", "1.0")
    best = Trace.load(tmp_path / "best-of-n.json")
    assert best.n_particles == 4 and best.config["method"] == "best_of_n"
    assert not any(any(step.resampled) for step in best.steps)


def test_prompts_file_jsonl_in_jsonl_out(tiny_austen_folder, tmp_path, capsys):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"id": 1, "prompt": "Emma said"}\n\n{"prompt": "It is a truth"}\n{"prompt": "Mr. Knightley"}\n')
    out_file = tmp_path / "out.jsonl"
    result = run_cli(capsys, "--model", str(tiny_austen_folder), "--prompts-file", str(prompts), "--max-prompts", "2",
                     "--method", "best_of_n", "--n-particles", "2", "--prompt-batch", "1", "--no-trace",
                     "--jsonl", str(out_file), "--progress", *SMALL)
    records = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert [r["prompt"] for r in records] == ["Emma said", "It is a truth"]
    assert [r["prompt_index"] for r in records] == [0, 1]
    for r in records:
        assert r["method"] == "best-of-n" and len(r["texts"]) == len(r["scores"]) == 2
        assert r["text"] == r["texts"][r["chosen"]] and r["text"] in result.out
        assert r["config"]["n_particles"] == 2 and r["config"]["seed"] == 1 and r["forwards"] == 8 * 2
    assert not list(tmp_path.glob("*.json"))  # --no-trace
    assert "16/16" in result.err  # progress bar: 2 batches × 8 steps


def test_same_seed_same_jsonl(tiny_austen_folder, tmp_path, capsys):
    files = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for f in files:
        run_cli(capsys, "--model", str(tiny_austen_folder), "--prompt", "Emma said", "--no-trace", "--jsonl", str(f),
                "--temperature", "1.0", *SMALL)
    assert files[0].read_text() == files[1].read_text()


def test_plain_prompts_file(tmp_path):
    f = tmp_path / "p.txt"
    f.write_text("first prompt\n\n  second one  \n")
    assert read_prompts(f) == ["first prompt", "  second one  "]


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "--gen-length GEN_LENGTH" in out and "(default: 64)" in out and "(default: smc)" in out
    assert "--chat-template {auto,on,off}" in out and "(default: auto)" in out


@pytest.mark.parametrize("argv, message", [
    (["--gen-length", "10", "--block-length", "3"], "block_length = 3: must be a divisor of gen_length=10"),
    (["--method", "greedy", "--n-particles", "8"], "--method greedy runs one particle"),
    (["--prompts-file", "/nonexistent/prompts.txt"], "--prompts-file /nonexistent/prompts.txt: cannot read it"),
    (["--out", "/dev/null/x"], "--out /dev/null/x: cannot create the folder"),
    (["--no-trace", "--jsonl", "/dev/null/x.jsonl"], "--jsonl /dev/null/x.jsonl: cannot write it"),
])
def test_user_mistakes_are_one_line_errors(argv, message, capsys):
    assert message in cli_error(capsys, *argv)


def test_too_long_generation_is_a_one_line_error(tiny_austen_folder, tmp_path, capsys):
    err = cli_error(capsys, "--model", str(tiny_austen_folder), "--gen-length", "100000", "--steps", "100000",
                    "--out", str(tmp_path))
    assert "gen_length = 100000" in err and "maximum length" in err


def test_chat_template_on_a_model_without_one_is_a_one_line_error(tiny_austen_folder, tmp_path, capsys):
    err = cli_error(capsys, "--model", str(tiny_austen_folder), "--chat-template", "on", "--out", str(tmp_path), *SMALL)
    assert "no chat template" in err


def test_bad_jsonl_prompts_file_names_the_line(tmp_path, capsys):
    f = tmp_path / "p.jsonl"
    f.write_text('{"prompt": "ok"}\n{"text": "no prompt key"}\n')
    assert "line 2: no string \"prompt\" field" in cli_error(capsys, "--prompts-file", str(f))


def test_unknown_model_exits_2_without_traceback(tmp_path):
    """Through the real entry point: a missing model folder / unknown id is one line on stderr."""
    proc = subprocess.run([sys.executable, "-m", "sampler", "--model", str(tmp_path / "no-such-model"),
                           "--out", str(tmp_path / "runs")], capture_output=True, text=True, timeout=300,
                          env={"HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1
    assert "--model" in proc.stderr and "no-such-model" in proc.stderr


def test_branch_from_a_trace_with_changed_settings(tiny_austen_folder, tmp_path, capsys):
    common = ["--model", str(tiny_austen_folder), "--out", str(tmp_path)]
    run_cli(capsys, *common, "--prompt", "Emma said", "--n-particles", "3", "--temperature", "0.5", *SMALL)
    parent = Trace.load(tmp_path / "sr-smc.json")
    out = run_cli(capsys, *common, "--branch-from", str(tmp_path / "sr-smc.json"), "--at-step", "3",
                  "--temperature", "1.0", "--no-repeat-ngram", "2").out  # 1.0 is the default: given, so a change
    assert f"branch of run {parent.run_id}" in out and "temperature=1.0" in out and "no_repeat_ngram=2" in out
    branch = Trace.load(tmp_path / f"sr-smc-branch-{parent.run_id}-at-3.json")
    assert branch.parent == {"run_id": parent.run_id, "step": 3} and branch.steps[:3] == parent.steps[:3]
    assert branch.config["temperature"] == 1.0 and branch.config["n_particles"] == 3
    assert branch.config["seed"] == 1 and branch.config["gen_length"] == 8  # the rest as recorded
    # nothing changed: the same run again
    run_cli(capsys, *common, "--branch-from", str(tmp_path / "sr-smc.json"), "--at-step", "0")
    again = Trace.load(tmp_path / f"sr-smc-branch-{parent.run_id}-at-0.json")
    assert again.steps == parent.steps and again.final == parent.final
    # more particles: the parent's 3 and 2 copies drawn by weight; the same seed gives the same branch
    ids = set()
    for _ in range(2):
        run_cli(capsys, *common, "--branch-from", str(tmp_path / "sr-smc.json"), "--at-step", "3", "--n-particles", "5")
        grown = Trace.load(tmp_path / f"sr-smc-branch-{parent.run_id}-at-3.json")
        assert grown.parent == {"run_id": parent.run_id, "step": 3, "n_particles": 3} and grown.n_particles == 5
        assert grown.parent_steps() == parent.steps[:3] and len(grown.final["texts"][0]) == 5
        ids.add(grown.run_id)
    assert len(ids) == 1


@pytest.mark.parametrize("extra, message", [
    ([], "--branch-from needs --at-step"),
    (["--at-step", "8"], r"--at-step: step 8: a branch starts after a step in \[0, 7\]"),
    (["--at-step", "2", "--gen-length", "16"], "gen_length = 16: a branch cannot change it"),
    (["--at-step", "2", "--prompt", "Emma"], "--prompt: a branch continues the trace's prompts"),
    (["--at-step", "2", "--n-particles", "2"], "n_particles = 2: a branch keeps the run's N = 4 particles or grows"),
])
def test_branch_mistakes_are_one_line_errors(tiny_austen_folder, tmp_path, capsys, extra, message):
    run_cli(capsys, "--model", str(tiny_austen_folder), "--prompt", "Emma said", "--out", str(tmp_path), *SMALL)
    err = cli_error(capsys, "--model", str(tiny_austen_folder), "--out", str(tmp_path),
                    "--branch-from", str(tmp_path / "sr-smc.json"), *extra)
    assert message in err or __import__("re").search(message, err), err
