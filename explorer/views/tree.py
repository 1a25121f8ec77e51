"""The genealogy tree: particles × steps, one node per particle per step, edges to ancestors.

Node (t, k) is particle k after step t's self-reward, sized by its normalised weight and
coloured by the initial particle it descends from; an edge joins it to the node the
resampling after step t-1 drew it from (horizontal when nothing moved). The final
particle `selected` has its whole ancestry drawn thick; nodes after the cursor are faded.
"""
import numpy as np
import plotly.graph_objects as go

from explorer import palette
from explorer.runs import Run, normalise
from explorer.views.common import add_cursor, figure


def node_sizes(weights: np.ndarray) -> np.ndarray:
    """Marker diameters (px) `[...]` of normalised weights `[...]`."""
    return 3.0 + 13.0 * np.sqrt(weights)


def tree_figure(run: Run, t: int, selected: int) -> go.Figure:
    """Figure with traces `edges`, `lineage`, `nodes` (in drawing order) and a cursor shape at step t."""
    T, N = run.n_steps, run.n_particles
    steps = np.arange(T + 1, dtype=np.int32)
    fig = figure(f"Genealogy: who descends from whom ({run.label}, N = {N})", 320,
                 xaxis=dict(title="step", range=[-0.5, T + 0.5]),
                 yaxis=dict(title="particle", range=[-0.7, N - 0.3], dtick=1 if N <= 16 else None),
                 revision=run.key)

    # edges (t-1, parents[t-1][k]) -> (t, k), NaN-separated into one polyline
    if T:
        gap = np.full(T * N, np.nan)
        x = np.stack([np.repeat(steps[:-1], N), np.repeat(steps[1:], N), gap], axis=1).ravel().astype(np.float32)
        y = np.stack([run.parents[:-1].ravel(), np.tile(np.arange(N), T), gap], axis=1).ravel().astype(np.float32)
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name="edges", hoverinfo="skip",
                                 line=dict(color=palette.EDGE_GREY, width=1)))

    path = run.ancestry(selected)
    fig.add_trace(go.Scatter(x=steps, y=path, mode="lines", name="lineage", hoverinfo="skip",
                             line=dict(color=palette.CURSOR, width=3)))
    weights = normalise(run.log_w)  # [T+1, N]
    fig.add_trace(go.Scatter(
        x=np.repeat(steps, N), y=np.tile(np.arange(N, dtype=np.int16), T + 1), mode="markers", name="nodes",
        marker=dict(size=node_sizes(weights).ravel().astype(np.float32), color=palette.lineage_index(run.roots.ravel()),
                    colorscale=palette.LINEAGE_SCALE, cmin=0, cmax=len(palette.LINEAGE) - 1,
                    opacity=np.where(np.repeat(steps, N) <= t, 1.0, 0.25).astype(np.float32), line=dict(width=0)),
        customdata=np.stack([weights.ravel(), run.roots.ravel()], axis=1).astype(np.float32),
        hovertemplate="step %{x}, particle %{y}<br>w̄ = %{customdata[0]:.3f}<br>root %{customdata[1]}<extra></extra>"))

    add_cursor(fig, t)
    return fig
