import pytest

from sampler.__main__ import main
from sampler.trace import Trace


def test_cli_runs_greedy_and_smc_and_writes_traces(tiny_austen_folder, tmp_path, capsys):
    main(["--model", str(tiny_austen_folder), "--prompt", "Emma said", "--gen-length", "8", "--steps", "8",
          "--n-particles", "3", "--ess-threshold", "0.9", "--out", str(tmp_path), "--seed", "1"])
    out = capsys.readouterr().out
    assert "== greedy" in out and "== sr-smc" in out and "ESS min" in out
    greedy, smc = Trace.load(tmp_path / "greedy.json"), Trace.load(tmp_path / "sr-smc.json")
    assert greedy.n_particles == 1 and smc.n_particles == 3
    assert smc.config["seed"] == greedy.config["seed"] == 1 and smc.prompts == ["Emma said"]
    for p, text in enumerate(smc.final["texts"][0]):
        assert text in out


def test_cli_rejects_bad_config(capsys):
    with pytest.raises(SystemExit):
        main(["--gen-length", "10", "--block-length", "3"])
    assert "block_length = 3: must be a divisor of gen_length=10" in capsys.readouterr().err
