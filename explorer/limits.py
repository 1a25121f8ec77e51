"""The app's limits: one cost model for a sampling request and for an uploaded trace, checked first.

Cost unit: the **cell-step** = one sequence position of one row at one step. A run of R rows
(prompts × particles) over T steps on sequences of L positions costs R × T × L:

- sampling: every step is one forward over R × L positions, so a Run press costs the sum
  over its runs — greedy (1 row), SR-SMC (N rows) and best-of-N (N rows) — of
  rows × planned steps × (prompt tokens + gen length); the threshold policy plans up to
  gen length steps;
- playback: replaying a trace to step t touches R × L cells per step, and one frame draws
  N × L canvas cells, N × T tree nodes and L × T heatmap cells, each at most R × T × L.

`max_cost` bounds a sampling request and `max_trace_cost` the traces loaded together. The
defaults were measured by `python -m tools.measure_limits` on this project's 2-core AMD EPYC
box (no GPU), default model, one torch thread: Runs at the limit (N = 64 short, N = 2 with a
512-token block, the threshold policy, N = 16 in blocks) took 10–25 s of CPU time, under the
60 s target with room for a busy machine; the largest uploads load, replay and become the
player's JSON in ≤ 3 s of server CPU. A GPU host raises them with
`python app.py --max-cost ... --max-trace-cost ...`.
"""
from dataclasses import dataclass

from explorer.request import RunRequest

TIME_LIMIT_S = 60  # what the default limits are measured against, on this project's 2-core CPU box


def cost(rows: int, steps: int, length: int) -> int:
    """Cell-steps of one run: rows × steps × sequence length."""
    return rows * steps * length


@dataclass(frozen=True)
class Limits:
    """Upper bounds the app checks before any sampling or replay starts (the sampler's own checks come on top)."""

    max_particles: int = 64
    max_gen_length: int = 512  # and prompt + gen length ≤ the model's maximum length
    max_prompt_chars: int = 2000
    max_cost: int = 150_000  # cell-steps of one Run press, all its runs together
    max_trace_cost: int = 500_000  # cell-steps of the traces loaded together (uploads, examples)
    # drawing in the browser, which a GPU server does not make faster (see `draw_cost`; measured in chromium
    # on the 2-core box by tests/explorer/test_player_extremes.py)
    max_draw_cells: int = 1_000_000
    max_draw_nodes: int = 6_000  # the genealogy is SVG: ~3 s to draw 6,000 nodes there
    max_draw_particles: int = 256
    max_draw_positions: int = 8_192  # one particle's text is one <canvas>: taller than ~32k px it cannot draw
    max_draw_words: int = 300_000

    def request_cost(self, request: RunRequest, prompt_tokens: int) -> int:
        """Cell-steps a request will decode: Σ over its runs of rows × planned steps × (prompt + gen length)."""
        total = 0
        for cfg in request.configs("cpu").values():
            total += cost(len(cfg.prompts) * cfg.n_particles, cfg.planned_steps, prompt_tokens + cfg.gen_length)
        return total

    def check_request(self, request: RunRequest, prompt_tokens: int) -> None:
        """Raise ValueError naming the first setting over its limit, or the cost and how to raise it."""
        N, gen_length = request.n_particles, request.settings["gen_length"]
        if N > self.max_particles:
            raise ValueError(f"particles N = {N}: this app allows at most {self.max_particles} "
                             "(start it with --max-particles to allow more)")
        if gen_length > self.max_gen_length:
            raise ValueError(f"gen length = {gen_length}: this app allows at most {self.max_gen_length} "
                             "(start it with --max-gen-length to allow more)")
        if len(request.prompt) > self.max_prompt_chars:
            raise ValueError(f"prompt of {len(request.prompt)} characters: this app allows at most "
                             f"{self.max_prompt_chars}")
        estimate = self.request_cost(request, prompt_tokens)
        if estimate > self.max_cost:
            raise ValueError(
                f"this Run would cost {estimate:,} cell-steps (rows × steps × sequence length, greedy and "
                f"best-of-N included); this app allows {self.max_cost:,}, about {TIME_LIMIT_S} s on a 2-core CPU. "
                "Lower N, steps or gen length, or turn best-of-N off; on a machine with a GPU start the app "
                f"with --max-cost {estimate}")

    def trace_cost(self, traces) -> int:
        """Cell-steps of replaying traces (each `Trace`, already validated): Σ rows × steps × length."""
        return sum(cost(t.n_rows, max(t.n_steps, 1), t.length) for t in traces)

    def check_trace(self, *traces) -> None:
        """Raise ValueError when the traces together exceed `max_trace_cost`, before any replay."""
        estimate = self.trace_cost(traces)
        if estimate > self.max_trace_cost:
            shapes = ", ".join(f"{t.n_rows} rows × {t.n_steps} steps × {t.length} positions" for t in traces)
            raise ValueError(
                f"these traces would cost {estimate:,} cell-steps to replay ({shapes}); this app allows "
                f"{self.max_trace_cost:,}, about {TIME_LIMIT_S} s on a 2-core CPU. Start the app with "
                f"--max-trace-cost {estimate} to load them")

    def draw_cost(self, traces: dict) -> dict[str, int]:
        """What the browser player does with runs (role → validated `Trace`; it draws each one's first prompt):

        - cells: Σ (steps + 1) × N × generated positions, the frames it replays into typed arrays and scans once
          (repeats, column widths, heatmap); a step then redraws at most N × positions of them;
        - nodes: Σ (steps + 1) × N, the genealogy's nodes, recoloured at every step;
        - particles: the largest N, the rows each view builds (canvas rows, weight bars, tables);
        - positions: the most generated positions of one run, the cells of one canvas row;
        - words: words of the distinct final texts the answer panel shows (the answer diff itself is bounded in
          the browser: past 1,000 differing words it shows the texts plainly).
        """
        cells = nodes = particles = positions = words = 0
        for t in traces.values():
            frames, N, G = t.n_steps + 1, t.n_particles, t.length - t.prompt_width
            cells += frames * N * G
            nodes += frames * N
            particles, positions = max(particles, N), max(positions, G)
            words += sum(len(text.split()) for text in dict.fromkeys((t.final.get("texts") or [[]])[0]))
        return {"cells": cells, "nodes": nodes, "particles": particles, "positions": positions, "words": words}

    def check_draw(self, traces: dict) -> None:
        """Raise ValueError naming the first measure of `draw_cost` over its limit, before anything is sent."""
        have = self.draw_cost(traces)
        for name, limit, what in (
                ("particles", self.max_draw_particles, "particles in one run"),
                ("positions", self.max_draw_positions, "generated positions in one run"),
                ("cells", self.max_draw_cells, "cells (steps + 1) × N × generated positions"),
                ("nodes", self.max_draw_nodes, "genealogy nodes (steps + 1) × N"),
                ("words", self.max_draw_words, "words of final texts")):
            if have[name] > limit:
                raise ValueError(
                    f"too large to draw in the browser: {have[name]:,} {what}; the player draws at most {limit:,}. "
                    "The trace itself is valid: replay it in Python (sampler.trace.Trace.load) or record a smaller run")
