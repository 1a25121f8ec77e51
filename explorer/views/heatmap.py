"""Position × step heatmap: when each generated position of one particle was committed, and how surely."""
import numpy as np
import plotly.graph_objects as go

from explorer import palette
from explorer.runs import Frame
from explorer.views.common import add_cursor, figure


def commit_grid(frame: Frame, particle: int) -> np.ndarray:
    """Confidence `[T, G]` (float32) of the token `particle` holds at position g, in the row of
    the step that committed it (its own or an ancestor's); NaN elsewhere."""
    run, state = frame.run, frame.state
    commit, prob = state.commit_step[particle, run.gen], np.exp(state.log_conf[particle, run.gen])
    grid = np.full((run.n_steps, commit.size), np.nan, dtype=np.float32)
    done = np.flatnonzero(commit > 0)
    grid[commit[done] - 1, done] = prob[done]
    return grid


def heatmap_figure(frame: Frame, particle: int) -> go.Figure:
    """Figure with one heatmap trace `commits` (see `commit_grid`) and a cursor line at step t."""
    run = frame.run
    grid = commit_grid(frame, particle)
    fig = figure(f"Particle {particle}: step each position was committed at, coloured by confidence", 300,
                 xaxis=dict(title="generated position"),
                 yaxis=dict(title="step", range=[0.5, max(run.n_steps, 1) + 0.5]), revision=run.key)
    fig.add_trace(go.Heatmap(
        z=grid, x=np.arange(grid.shape[1]), y=np.arange(1, run.n_steps + 1), name="commits",
        zmin=0, zmax=1, colorscale=palette.CONFIDENCE_SCALE, colorbar=dict(title=dict(text="p"), thickness=10),
        hovertemplate="position %{x}, step %{y}<br>p = %{z:.2f}<extra></extra>"))
    add_cursor(fig, frame.t, axis="y")
    return fig
