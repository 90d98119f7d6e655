"""matplotlib helpers (the optional `plots` extra): figures without pyplot's global state,
written atomically as PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from .files import atomic_write_bytes


def figure(n: int, width: float = 5.0, height: float = 3.6):
    """A figure with n side-by-side axes (raises ImportError without matplotlib)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width * n, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, [fig.add_subplot(1, n, i + 1) for i in range(n)]


def png_bytes(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120, bbox_inches="tight")
    return buf.getvalue()


def save_png(path: Path, fig) -> None:
    atomic_write_bytes(path, png_bytes(fig))


def heatmap_png(values: np.ndarray, title: str) -> bytes:
    """One sensitivity map (rows: output neurons, columns: inputs) as a PNG heatmap."""
    fig, (ax,) = figure(1, 5.0, 3.6)
    im = ax.imshow(values, aspect="auto", cmap="viridis")
    ax.set(title=title, xlabel="input neuron (column)", ylabel="output neuron (row)")
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.colorbar(im, ax=ax, label="|w| |dO/dw|")
    return png_bytes(fig)
