"""The checked batch (X, Y) that the Part IV modules (autodiff, forward mode, ...) start from.

Y is the target matrix of the loss table: one-hot rows e_{y+1} for class labels, else the
(n, p_L) targets. The checks are the package's own (``_validate``), so a bad batch gets the
same message as ``net.gradient`` gives.
"""

from __future__ import annotations

from . import _validate as check
from . import parameters
from .losses import LOSSES, OUTPUTS


def batch(net, X, y):
    """(X, Y): X of shape (n, p_0) and the target matrix Y (n, K), in net's backend and dtype."""
    xp, dtype = net.xp, net.W[0].dtype
    X = check.check_X(xp, X, net.p[0], dtype)
    n = X.shape[0]
    if LOSSES[net.loss_name].classification:
        return X, check.one_hot(xp, check.check_labels(xp, y, n, net.K), net.K, dtype)
    return X, check.check_targets(xp, y, n, net.p[-1], dtype)


def tangent_blocks(net, v, name="v"):
    """([Ẇ_1, ..., Ẇ_L], [ḃ_1, ..., ḃ_L]): a direction in θ (flat, θ's order) split by layer.

    v is checked as θ is (flat, length dim θ, finite, real), its errors naming ``name``.
    """
    v = check.check_theta(net.xp, v, net.dim_theta, net.W[0].dtype, name)
    return parameters.unflatten(net.xp, net.layers, v)


def head(net):
    """(output, loss): the network's entries of ``OUTPUTS`` and ``LOSSES``."""
    return OUTPUTS[net.output], LOSSES[net.loss_name]
