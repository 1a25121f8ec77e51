"""Layout shared by the Plotly views: margins, fonts and the step cursor."""
import plotly.graph_objects as go

from explorer import palette

_AXIS = dict(gridcolor="#EBEBEB", zeroline=False, linecolor="#888", ticks="outside", tickcolor="#888")
# a small explicit template: plotly's default ones are large and deep-copied into every figure
TEMPLATE = go.layout.Template(layout=dict(paper_bgcolor="white", plot_bgcolor="white", font=dict(size=11),
                                          xaxis=_AXIS, yaxis=_AXIS))


def figure(title: str, height: int, xaxis: dict, yaxis: dict, revision: str) -> go.Figure:
    """An empty figure with the explorer's compact layout; zoom is kept while `revision` stays."""
    return go.Figure(layout=go.Layout(
        title=dict(text=title, x=0.01, font=dict(size=13)), height=height, template=TEMPLATE,
        margin=dict(l=50, r=20, t=36, b=40), showlegend=False, xaxis=xaxis, yaxis=yaxis,
        hoverlabel=dict(font=dict(size=11)), uirevision=revision))


def add_cursor(fig: go.Figure, t: int, axis: str = "x") -> None:
    """A dashed line marking step t (vertical on an x step axis, horizontal on a y one)."""
    line = dict(color=palette.CURSOR, width=1.5, dash="dash")
    if axis == "x":
        fig.add_shape(type="line", x0=t, x1=t, y0=0, y1=1, yref="paper", line=line, name="cursor")
    else:
        fig.add_shape(type="line", y0=t, y1=t, x0=0, x1=1, xref="paper", line=line, name="cursor")
