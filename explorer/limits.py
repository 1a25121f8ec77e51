"""The app's limits: one cost model for everything a request or a file can make the machine do, checked first.

Cost unit: the **cell-step** = one sequence position of one row at one step. A run of R rows
(prompts × particles) over T steps on sequences of L positions costs R × T × L, times what the
knobs add per cell:

- sampling: every step is one forward over R × L positions, so a Run press costs the sum
  over its runs — greedy (1 row), SR-SMC (N rows) and best-of-N (N rows) — of
  rows × planned steps × (prompt tokens + gen length) × `knob_factor`; the threshold policy
  plans up to gen length steps; `no_repeat_ngram = n` adds the work of its window contexts,
  O(min(n, L − n + 1)) per cell (`sampler.unmasking.ngram_bans`), counted as
  1 + min(n, L − n + 1) / NGRAM_CELLS per cell; `repetition_penalty` adds REPETITION_FACTOR;
  policies, schemes, confidence and the final pick cost the same per cell;
- server replay of loaded traces: R × L cells per step (`max_trace_cost`), and the text they
  carry (prompts, final texts, token strings: `max_text_chars`), which the server scores;
- drawing in the browser (`draw_cost`, `check_draw`): the cells the player replays and scans,
  the genealogy's nodes, the particles and positions of one run and the words of the final
  texts (the answer diff itself is bounded in the browser). A trace over the drawing budget is refused by
  name before it is sent to the browser.

`max_cost` bounds a sampling request and `max_trace_cost` the traces loaded together. The
defaults were measured by `python -m tools.measure_limits` on this project's 2-core AMD EPYC
box (no GPU), default model, one torch thread, over a grid of every knob; the README states
the worst CPU seconds per Run (target ≤ 60 s) and per upload (target ≤ 3 s). A GPU host raises
them with `python app.py --max-cost ... --max-trace-cost ...`.
"""
import math
from dataclasses import dataclass

from explorer.request import RunRequest

TIME_LIMIT_S = 60  # what the default limits are measured against, on this project's 2-core CPU box
# A recorded alternative (schema 2: k per commit) costs about this many cell-steps to load, check and send (~11
# bytes of JSON against ~35 per cell of a one-step trace, and checked more closely); it matters only for traces of
# few steps. Measured: the largest one-step upload (N = 64, k = 5) then loads in about the time of one without.
ALTERNATIVE_CELLS = 0.4

UPLOAD_LIMIT_S = 3  # server CPU per accepted upload, same box
NGRAM_CELLS = 256  # no_repeat_ngram with min(n, L-n+1) = NGRAM_CELLS costs as much again as the forward, per cell
REPETITION_FACTOR = 1.1  # repetition_penalty > 1: one more pass over each candidate's logits


def cost(rows: int, steps: int, length: int) -> int:
    """Cell-steps of one run: rows × steps × sequence length."""
    return rows * steps * length


def alternatives_cost(rows: int, generated: int, k: int) -> int:
    """Cell-steps of the alternatives a run records: `ALTERNATIVE_CELLS` per alternative of every commit."""
    return int(rows * generated * k * ALTERNATIVE_CELLS)

def knob_factor(no_repeat_ngram: int, repetition_penalty: float, length: int) -> float:
    """How many cell-steps one cell of a step costs with these repetition controls (1 with both off)."""
    factor = 1.0
    if no_repeat_ngram:
        factor += max(0, min(no_repeat_ngram, length - no_repeat_ngram + 1)) / NGRAM_CELLS
    if repetition_penalty > 1:
        factor *= REPETITION_FACTOR
    return factor


def text_chars(trace) -> int:
    """Characters of text a trace carries: model, prompts, final texts and token strings."""
    final = trace.final.get("texts", [])
    return (len(trace.model) + sum(map(len, trace.prompts)) + sum(len(t) for texts in final for t in texts)
            + sum(map(len, trace.vocab.values())))


@dataclass(frozen=True)
class Limits:
    """Upper bounds the app checks before any sampling or replay starts (the sampler's own checks come on top)."""

    max_particles: int = 64
    max_gen_length: int = 512  # and prompt + gen length ≤ the model's maximum length
    max_prompt_chars: int = 2000
    max_cost: int = 150_000  # cell-steps of one Run press, all its runs together
    max_trace_cost: int = 500_000  # cell-steps of the traces loaded together (uploads, examples)
    max_upload_bytes: int = 20 * 2**20  # one trace file
    max_upload_files: int = 3  # files per upload (one per kind of run); one upload request carries at most
    # max_upload_files × max_upload_bytes (`upload_request_bytes`)
    max_text_chars: int = 2_000_000  # characters of text of the traces loaded together (scored on the server)
    # drawing in the browser, which a GPU server does not make faster (see `draw_cost`; measured in chromium
    # on the 2-core box by tests/explorer/test_player_extremes.py)
    max_draw_cells: int = 1_000_000
    max_draw_nodes: int = 6_000  # measured when the genealogy was SVG (~3 s for 6,000 nodes); now a canvas, not re-measured
    max_draw_particles: int = 256
    max_draw_positions: int = 8_192  # one particle's text is one <canvas>: taller than ~32k px it cannot draw
    max_draw_words: int = 300_000

    def request_cost(self, request: RunRequest, prompt_tokens: int) -> int:
        """Cell-steps a request will decode: Σ over its runs of rows × planned steps × (prompt + gen length)."""
        total = 0
        for cfg in request.configs("cpu").values():
            length = prompt_tokens + cfg.gen_length
            cells = cost(len(cfg.prompts) * cfg.n_particles, cfg.planned_steps, length)
            total += math.ceil(cells * knob_factor(cfg.no_repeat_ngram, cfg.repetition_penalty, length))
        return total

    def check_request(self, request: RunRequest, prompt_tokens: int) -> None:
        """Raise ValueError naming the first setting over its limit, or the cost and how to raise it."""
        gen_length = request.settings["gen_length"]
        self.check_particles(request.n_particles, "N")
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
                f"best-of-N and the repetition controls included); this app allows {self.max_cost:,}, about "
                f"{TIME_LIMIT_S} s on a 2-core CPU. "
                "Lower N, steps or gen length, or turn best-of-N off; on a machine with a GPU start the app "
                f"with --max-cost {estimate}")

    def check_branch(self, trace, cfg, step: int) -> None:
        """Raise ValueError when a branch of `trace` after `step` with settings `cfg` (N' ≥ N particles: a grown
        branch decodes and records N' rows) is over `max_particles`, the drawing budget or `max_cost`."""
        N, n = cfg.n_particles, trace.n_particles
        self.check_particles(N, "N'")
        # the branch draws like its parent with N' rows: cells and nodes grow by N'/N, the rest stays
        have = self.draw_cost({"branch": trace})
        have.update(cells=have["cells"] // n * N, nodes=have["nodes"] // n * N, particles=N)
        over = self.draw_over(have)
        if over:
            raise ValueError(f"particles N' = {N}: the branch would be too large to draw in the browser ({over})")
        estimate = cost(len(cfg.prompts) * N, cfg.planned_steps - step, trace.length)
        if estimate > self.max_cost:
            raise ValueError(f"this branch would cost {estimate:,} cell-steps (rows × steps left × sequence length, "
                             f"N' = {N} particles); this app allows {self.max_cost:,}")

    def trace_cost(self, traces) -> int:
        """Cell-steps of replaying traces (each `Trace`, already validated): Σ rows × steps × length, plus
        `ALTERNATIVE_CELLS` per recorded alternative (rows × generated positions × k)."""
        return sum(cost(t.n_rows, max(t.n_steps, 1), t.length)
                   + alternatives_cost(t.n_rows, t.length - t.prompt_width, t.alternatives_k) for t in traces)

    def check_trace(self, *traces) -> None:
        """Raise ValueError when the traces together exceed `max_trace_cost` or `max_text_chars`, or one is over
        the browser's drawing budget (`check_draw`), before any replay."""
        chars = sum(text_chars(t) for t in traces)
        if chars > self.max_text_chars:
            raise ValueError(f"these traces hold {chars:,} characters of text (prompts, final texts, token "
                             f"strings); this app allows {self.max_text_chars:,}")
        estimate = self.trace_cost(traces)
        if estimate > self.max_trace_cost:
            shapes = ", ".join(f"{t.n_rows} rows × {t.n_steps} steps × {t.length} positions" for t in traces)
            raise ValueError(
                f"these traces would cost {estimate:,} cell-steps to replay ({shapes}); this app allows "
                f"{self.max_trace_cost:,}, about {TIME_LIMIT_S} s on a 2-core CPU. Start the app with "
                f"--max-trace-cost {estimate} to load them")
        self.check_draw(dict(enumerate(traces)))

    @property
    def upload_request_bytes(self) -> int:
        """The most one upload request may carry: its files and the form's own bytes."""
        return self.max_upload_files * self.max_upload_bytes + 2**16

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

    def draw_over(self, have: dict[str, int]) -> str | None:
        """The first measure of `have` (as `draw_cost` gives them) over its limit, in words; None if all fit."""
        for name, limit, what in (
                ("particles", self.max_draw_particles, "particles in one run"),
                ("positions", self.max_draw_positions, "generated positions in one run"),
                ("cells", self.max_draw_cells, "cells (steps + 1) × N × generated positions"),
                ("nodes", self.max_draw_nodes, "genealogy nodes (steps + 1) × N"),
                ("words", self.max_draw_words, "words of final texts")):
            if have[name] > limit:
                return f"{have[name]:,} {what}; the player draws at most {limit:,}"
        return None

    def check_draw(self, traces: dict) -> None:
        """Raise ValueError naming the first measure of `draw_cost` over its limit, before anything is sent."""
        over = self.draw_over(self.draw_cost(traces))
        if over:
            raise ValueError(f"too large to draw in the browser: {over}. The trace itself is valid: replay it in "
                             "Python (sampler.trace.Trace.load) or record a smaller run")

    def check_particles(self, n: int, name: str) -> None:
        """Raise ValueError when `n` particles (called `name`: N, or N' for a grown branch) exceed `max_particles`."""
        if n > self.max_particles:
            raise ValueError(f"particles {name} = {n}: this app allows at most {self.max_particles} "
                             "(start it with --max-particles to allow more)")
