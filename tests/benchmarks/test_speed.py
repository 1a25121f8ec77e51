"""The speed benchmark's GPU command, run on the CPU at small sizes (the same code path as `--device cuda`)."""
import json

from benchmarks.speed import main


def test_steps_section_of_the_llada_like_model_runs(tmp_path, capsys):
    out = tmp_path / "speed.json"
    main(["--device", "cpu", "--model", "llada-like-1b", "--sections", "steps", "--width", "128", "--layers", "1",
          "--n", "2", "--length", "48", "--blocks", "16", "--repeats", "1", "--dtype", "float32", "--json", str(out)])
    printed = capsys.readouterr().out
    assert "Per-step cost" in printed and "CPU ms" in printed
    (row,) = json.loads(out.read_text())["steps"]
    assert (row["N"], row["block"], row["steps"]) == (2, 16, 4)
    assert all(row[k] > 0 for k in ("forward_ms", "minimal_loop_ms", "greedy_ms", "smc+record_ms"))
