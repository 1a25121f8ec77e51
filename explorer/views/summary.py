"""Summary tables: one row per run (quality, diversity, SMC bookkeeping, cost) and one per final particle."""
import numpy as np
import pandas as pd

from explorer.runs import Run
from sampler.metrics import text_metrics
from sampler.trace import ParticlesAt


def final_texts(run: Run) -> list[str]:
    """The N final generations as the model decodes them."""
    return list(run.trace.final["texts"][0])


def final_state(run: Run) -> ParticlesAt:
    """The particles after the last step (arrays `[N, L]`)."""
    return run.trace.state_at(run.n_steps)


def run_table(runs: list[Run]) -> pd.DataFrame:
    """One column per run, one row per measure. Log-confidences are the chosen particle's; the
    text metrics are over all N final texts; `unique sequences` counts distinct final
    sequences, `surviving lineages` the initial particles that still have descendants."""
    columns = {}
    for run in runs:
        texts, final = final_texts(run), final_state(run)
        logp = final.log_conf[:, run.gen]
        metrics = text_metrics(texts)
        columns[run.label] = {
            "particles N": run.n_particles, "steps": run.n_steps,
            "total log-conf (chosen)": round(float(np.nansum(logp[run.chosen])), 2),
            "mean log-conf (chosen)": round(float(np.nanmean(logp[run.chosen])), 3) if logp.size else float("nan"),
            "unique sequences": len({tuple(row) for row in final.tokens[:, run.gen].tolist()}),
            "distinct-1": round(metrics["distinct_1"], 3), "distinct-2": round(metrics["distinct_2"], 3),
            "distinct-3": round(metrics["distinct_3"], 3),
            "repeated 3-gram rate": round(metrics["repeated_3gram_rate"], 3),
            "unigram entropy (bits)": round(metrics["unigram_entropy"], 2),
            "surviving lineages": len(set(final.roots.tolist())),
            "resamples": int(run.resampled.sum()),
            "forwards": int(run.trace.stats.get("forwards", run.n_steps * run.n_particles)),
            "wall time (s)": round(float(run.trace.stats.get("wall_time_s", float("nan"))), 2),
        }
    measures = list(next(iter(columns.values()), {}))
    return pd.DataFrame([[m, *(c[m] for c in columns.values())] for m in measures], columns=["measure", *columns],
                        dtype=object)  # object: counts stay integers beside the float measures


def particle_table(runs: list[Run]) -> pd.DataFrame:
    """One row per final particle of every run: score, log-confidence, lineage root and text."""
    rows = []
    for run in runs:
        texts, final = final_texts(run), final_state(run)
        logp = final.log_conf[:, run.gen]
        scores = run.trace.final.get("scores", [[float("nan")] * run.n_particles])[0]
        roots = final.roots
        for i in range(run.n_particles):
            rows.append({"run": run.label, "particle": i, "chosen": "★" if i == run.chosen else "",
                         "score": round(float(scores[i]), 3), "total log-conf": round(float(np.nansum(logp[i])), 2),
                         "root": int(roots[i]), "text": texts[i]})
    return pd.DataFrame(rows)


def runs_markdown(runs: list[Run]) -> str:
    """One line per run: model, prompt and the settings that shape its trace."""
    lines = []
    for run in runs:
        c = run.trace.config
        resampling = (f", resample {c.get('resampling')} when ESS < {c.get('ess_threshold')}·N "
                      f"({c.get('resample_when')})" if run.role == "sr-smc" else "")
        lines.append(f"- **{run.label}** on `{run.trace.model}`: N = {run.n_particles}, τ = {c.get('temperature')}, "
                     f"{c.get('gen_length')} tokens in {run.n_steps} steps (blocks of {c.get('block_length')}, "
                     f"{c.get('policy')}), seed {c.get('seed')}{resampling}")
    return "\n".join(lines)
