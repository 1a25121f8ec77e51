"""Weight bars: each particle's normalised weight at the cursor, labelled with its increment."""
import numpy as np
import plotly.graph_objects as go

from explorer import palette
from explorer.runs import Frame
from explorer.views.common import figure


def weights_figure(frame: Frame, selected: int) -> go.Figure:
    """Figure with one bar trace `weights` `[N]`; bar text is step t's log-weight increment."""
    run, t = frame.run, frame.t
    N = run.n_particles
    note = " → resampled" if run.resampled[t] else ""
    fig = figure(f"Step {t}: normalised weights w̄ (bar) and log-weight increment Δ (label){note}", 260,
                 xaxis=dict(title="particle", dtick=1 if N <= 16 else None),
                 yaxis=dict(title="w̄", range=[0, 1.05]), revision=run.key)
    increment = frame.increment
    fig.add_trace(go.Bar(
        x=np.arange(N), y=frame.weights, name="weights",
        marker=dict(color=[palette.lineage_colour(r) for r in frame.state.roots],
                    line=dict(color=palette.CURSOR, width=[3 if i == selected else 0 for i in range(N)])),
        text=[f"Δ {d:+.2f}" for d in increment], textposition="outside", cliponaxis=False,
        customdata=np.stack([increment, frame.state.log_weight, frame.state.roots], axis=1),
        hovertemplate="particle %{x}<br>w̄ = %{y:.3f}<br>Δ log w = %{customdata[0]:.3f}"
                      "<br>log w = %{customdata[1]:.3f}<br>root %{customdata[2]}<extra></extra>"))
    return fig
