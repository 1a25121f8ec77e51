"""The GPU benchmark script in its `--size tiny` mode on the CPU: the checkpoint goes through the hub layout and
`load_model`, and every column the GPU run reports is measured."""
import json

from benchmarks import gpu
from benchmarks.gpu import main
from sampler.models import load_model


def test_tiny_mode_writes_loads_and_times_every_n(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(gpu, "SHARD_BYTES", 8192)  # several shards, as the 8 B checkpoint has
    folder, out = tmp_path / "llada", tmp_path / "gpu.json"
    main(["--size", "tiny", "--device", "cpu", "--gen-length", "32", "--ns", "1,2", "--repeats", "1",
          "--folder", str(folder), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "greedy / minimal loop at N = 1" in printed and "written" in printed
    saved = json.loads(out.read_text())
    assert [r["N"] for r in saved["rows"]] == [1, 2] and not saved["reused"] and saved["overlap_changes_nothing"]
    for r in saved["rows"]:
        assert all(r[k] > 0 for k in ("forward_ms", "minimal_loop_ms", "greedy_ms", "smc+record_ms", "peak_mib"))
        assert r["steps"] == 4 and r["block"] == 32
    assert len(list(folder.glob("model-*.safetensors"))) > 2
    assert load_model(str(folder)).net.embed_tokens.weight.shape == (48, 32)  # the tiny LLaDA in the hub layout
    assert gpu.write_checkpoint(folder, "tiny", "cpu")["reused"]  # a second run reuses the folder
