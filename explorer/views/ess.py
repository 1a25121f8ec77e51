"""The effective sample size per step, the κ·N resampling threshold and the resampling events."""
import numpy as np
import plotly.graph_objects as go

from explorer import palette
from explorer.runs import Run
from explorer.views.common import add_cursor, figure


def ess_figure(run: Run, t: int) -> go.Figure:
    """Figure with traces `ESS` `[T]`, `threshold` and `resampled` (markers) and a cursor at step t."""
    T, N = run.n_steps, run.n_particles
    steps = np.arange(1, T + 1)
    fig = figure(f"Effective sample size ({run.label}): resample when ESS < κ·N = {run.kappa * N:g}", 260,
                 xaxis=dict(title="step", range=[0, max(T, 1) + 0.5]),
                 yaxis=dict(title="ESS", range=[0, N * 1.08]), revision=run.key)
    fig.add_trace(go.Scatter(x=steps, y=run.ess[1:], mode="lines", name="ESS",
                             line=dict(color=palette.OKABE_ITO["blue"]),
                             hovertemplate="step %{x}: ESS %{y:.2f}<extra></extra>"))
    fig.add_trace(go.Scatter(x=[0, max(T, 1) + 0.5], y=[run.kappa * N] * 2, mode="lines", name="threshold",
                             line=dict(color=palette.OKABE_ITO["orange"], dash="dot"), hoverinfo="skip"))
    events = np.flatnonzero(run.resampled)
    fig.add_trace(go.Scatter(x=events, y=run.ess[events], mode="markers", name="resampled",
                             marker=dict(symbol="x", size=9, color=palette.RESAMPLE),
                             hovertemplate="step %{x}: resampled (ESS %{y:.2f})<extra></extra>"))
    add_cursor(fig, t)
    return fig
