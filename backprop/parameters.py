"""θ, the network's parameters: their layout in one flat vector, their start, their views.

θ = [vec(W_1), b_1, ..., vec(W_L), b_L] (each W_l row-major), length
dim θ = Σ_l (p_l p_{l-1} + p_l). :func:`layout` describes where each layer's block sits as a
:class:`Layer` (the slices of W_l and b_l and W_l's shape); everything else here (the initial
θ, the per-layer views, flatten and unflatten) reads that description.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

INITS = ("normal", "xavier", "he")


@dataclass(frozen=True)
class Layer:
    """Where layer l's parameters sit in θ: ``theta[W]`` is vec(W_l), ``theta[b]`` is b_l."""

    l: int  # the lecture's layer number, 1..L
    W: slice
    b: slice
    shape: tuple[int, int]  # of W_l: (p_l, p_{l-1})


def layout(p) -> tuple[tuple[Layer, ...], int]:
    """(the L layer blocks of θ, dim θ) for widths p = [p_0, ..., p_L]."""
    layers, start = [], 0
    for l in range(1, len(p)):
        rows, cols = p[l], p[l - 1]
        mid = start + rows * cols
        layers.append(Layer(l, slice(start, mid), slice(mid, mid + rows), (rows, cols)))
        start = mid + rows
    return tuple(layers), start


def initial_theta(layers, init: str, rng) -> np.ndarray:
    """θ_0 drawn by the NumPy Generator ``rng``, layer by layer in θ's order.

    'normal': W_l and b_l ~ N(0, 1) (the course's choice); 'xavier': W_l ~ N(0, 2/(p_{l-1}+p_l));
    'he': W_l ~ N(0, 2/p_{l-1}); the last two start with b_l = 0.
    """
    blocks = []
    for layer in layers:
        rows, cols = layer.shape
        W = rng.standard_normal((rows, cols)).ravel()
        if init == "normal":
            blocks += [W, rng.standard_normal(rows)]
        else:
            var = 2.0 / (cols + rows) if init == "xavier" else 2.0 / cols
            blocks += [np.sqrt(var) * W, np.zeros(rows)]
    return np.concatenate(blocks)


def unflatten(xp, layers, vector):
    """([W_1, ..., W_L], [b_1, ..., b_L]) as views into the flat ``vector`` (θ's order)."""
    return ([xp.reshape(vector[layer.W], layer.shape) for layer in layers],
            [vector[layer.b] for layer in layers])


def flatten(xp, layers, Ws, bs):
    """The flat vector [vec(W_1), b_1, ..., vec(W_L), b_L] of per-layer arrays (shapes checked)."""
    Ws, bs = list(Ws), list(bs)
    if len(Ws) != len(layers) or len(bs) != len(layers):
        raise ValueError(
            f"need L = {len(layers)} weight and bias arrays; got {len(Ws)} and {len(bs)}"
        )
    parts = []
    for layer, W, b in zip(layers, Ws, bs, strict=True):
        if tuple(W.shape) != layer.shape or tuple(b.shape) != layer.shape[:1]:
            raise ValueError(
                f"layer l = {layer.l} needs shapes {layer.shape} and {layer.shape[:1]}; "
                f"got {tuple(W.shape)} and {tuple(b.shape)}"
            )
        parts += [xp.reshape(W, (-1,)), b]
    return xp.concat(parts)


class LayerViews(Sequence):
    """[X_1, ..., X_L], the per-layer views of θ (``net.W`` or ``net.b``), read-only as a list.

    ``views[l-1]`` is layer l's array, a view into θ (writing into it changes θ); the list
    itself cannot grow or shrink. ``views[l-1] = M`` copies M into θ after checking its shape
    and values, through the network's ``assign`` function. On JAX, whose arrays cannot be
    written, the views are copies: every write of θ makes a new θ and :meth:`rebind` gives the
    list the new layer arrays (an array read from the list before a write keeps the old values).
    """

    __slots__ = ("_views", "_kind", "_assign")

    def __init__(self, kind: str, views, assign):
        self._views, self._kind, self._assign = tuple(views), kind, assign

    def rebind(self, views) -> None:
        """Hold ``views``, the layer arrays of a new θ (same shapes), from now on."""
        self._views = tuple(views)

    def __len__(self) -> int:
        return len(self._views)

    def __getitem__(self, index):
        return self._views[index]

    def __iter__(self):
        return iter(self._views)

    def __setitem__(self, index, value) -> None:
        # Python and NumPy integers are layer indices; slices and bools are not.
        if isinstance(index, bool) or not isinstance(index, numbers.Integral):
            raise TypeError(f"net.{self._kind} takes one integer layer index; got {index!r}")
        L = len(self._views)
        if not -L <= index < L:
            raise IndexError(f"net.{self._kind} has L = {L} layers; index {index} is out of range")
        self._assign(self._kind, int(index) % L, value)

    def __repr__(self) -> str:
        return f"LayerViews({self._kind}: {[tuple(v.shape) for v in self._views]})"
