"""backprop.network: sizes, θ and its views, forward pass, loss, copies and dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import backprop as bp


def _np_forward(theta, p, hidden, output, X):
    """The feed-forward pass written directly in NumPy (independent unflattening of θ)."""
    acts = {
        "identity": lambda z: z,
        "relu": lambda z: np.maximum(z, 0),
        "tanh": np.tanh,
        "logistic": lambda z: 1 / (1 + np.exp(-z)),
    }
    a, k = X, 0
    L = len(p) - 1
    for l in range(1, L + 1):
        W = theta[k : k + p[l] * p[l - 1]].reshape(p[l], p[l - 1])
        k += p[l] * p[l - 1]
        b = theta[k : k + p[l]]
        k += p[l]
        z = a @ W.T + b
        if l < L:
            a = acts[hidden](z)
        elif output == "softmax":
            e = np.exp(z - z.max(axis=1, keepdims=True))
            a = e / e.sum(axis=1, keepdims=True)
        else:
            a = acts[output](z)
    assert k == theta.size
    return a


@pytest.mark.parametrize(
    "p, expected",
    [([1, 20, 20, 1], 481), ([4, 1], 5), ([3, 5, 2], 3 * 5 + 5 + 5 * 2 + 2), ([2, 2, 2, 2, 2], 24)],
)
def test_dim_theta(p, expected):
    net = bp.Network(p)
    assert net.dim_theta == expected == net.theta.size
    assert net.L == len(p) - 1
    assert net.p == tuple(p)


def test_shapes_of_W_and_b(backend):
    net = bp.Network([3, 5, 4, 2], backend=backend)
    assert [tuple(W.shape) for W in net.W] == [(5, 3), (4, 5), (2, 4)]
    assert [tuple(b.shape) for b in net.b] == [(5,), (4,), (2,)]
    assert net.K == 2


def test_theta_order_is_W1_b1_W2_b2(backend):
    net = bp.Network([2, 3, 1], init="normal", seed=4, backend=backend)
    theta = net.theta
    np.testing.assert_array_equal(theta[0:6], bp.to_numpy(net.W[0]).ravel())  # row-major
    np.testing.assert_array_equal(theta[6:9], bp.to_numpy(net.b[0]))
    np.testing.assert_array_equal(theta[9:12], bp.to_numpy(net.W[1]).ravel())
    np.testing.assert_array_equal(theta[12:13], bp.to_numpy(net.b[1]))
    assert net.layer_slices() == [(slice(0, 6), slice(6, 9)), (slice(9, 12), slice(12, 13))]


def test_setting_theta_updates_every_W_and_b(backend):
    net = bp.Network([2, 3, 2], backend=backend)
    new = np.arange(net.dim_theta, dtype=float)
    net.theta = new
    np.testing.assert_array_equal(net.theta, new)
    np.testing.assert_array_equal(bp.to_numpy(net.W[0]), [[0, 1], [2, 3], [4, 5]])
    np.testing.assert_array_equal(bp.to_numpy(net.b[0]), [6, 7, 8])
    np.testing.assert_array_equal(bp.to_numpy(net.W[1]), [[9, 10, 11], [12, 13, 14]])
    np.testing.assert_array_equal(bp.to_numpy(net.b[1]), [15, 16])


def test_theta_is_a_copy(backend):
    net = bp.Network([2, 3, 1], backend=backend)
    theta = net.theta
    before = theta.copy()
    theta[:] = 99.0
    np.testing.assert_array_equal(net.theta, before)


def test_assigning_a_layer_writes_into_theta(backend):
    net = bp.Network([2, 3, 1], backend=backend)
    before = net.theta
    net.W[1] = np.array([[1.0, -2.0, 3.0]])
    net.b[0] = np.array([0.5, 0.25, 0.125])
    after = net.theta
    np.testing.assert_array_equal(after[9:12], [1.0, -2.0, 3.0])
    np.testing.assert_array_equal(after[6:9], [0.5, 0.25, 0.125])
    np.testing.assert_array_equal(after[:6], before[:6])
    np.testing.assert_array_equal(after[12:], before[12:])


def test_flatten_unflatten_round_trip(backend):
    net = bp.Network([3, 4, 2], backend=backend, seed=2)
    v = np.random.default_rng(0).standard_normal(net.dim_theta)
    Ws, bs = net.unflatten(v)
    assert [tuple(W.shape) for W in Ws] == [(4, 3), (2, 4)]
    assert [tuple(b.shape) for b in bs] == [(4,), (2,)]
    np.testing.assert_array_equal(bp.to_numpy(net.flatten(Ws, bs)), v)
    np.testing.assert_array_equal(bp.to_numpy(Ws[1]), v[16:24].reshape(2, 4))


def test_flatten_checks_shapes():
    net = bp.Network([3, 4, 2])
    Ws, bs = net.unflatten(net.theta)
    with pytest.raises(ValueError, match=r"layer l = 2 needs shapes \(2, 4\) and \(2,\); got \(4, 2\) and \(2,\)"):
        net.flatten([Ws[0], Ws[1].T], bs)


@pytest.mark.parametrize("hidden", ["identity", "logistic", "relu", "tanh"])
@pytest.mark.parametrize("output", ["identity", "logistic", "relu", "tanh", "softmax"])
def test_forward_matches_direct_numpy(backend, hidden, output):
    net = bp.Network([3, 5, 4, 3], hidden=hidden, output=output, loss="squared_error",
                     init="normal", seed=11, backend=backend)
    X = np.random.default_rng(1).standard_normal((6, 3))
    zs, activations = net.forward(X)
    assert len(zs) == 3 and len(activations) == 4
    assert [tuple(z.shape) for z in zs] == [(6, 5), (6, 4), (6, 3)]
    np.testing.assert_array_equal(bp.to_numpy(activations[0]), X)
    expected = _np_forward(net.theta, net.p, hidden, output, X)
    np.testing.assert_allclose(bp.to_numpy(activations[-1]), expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_array_equal(bp.to_numpy(net.predict(X)), bp.to_numpy(activations[-1]))
    # z_l = W_l a_{l-1} + b_l, row by row
    for l in range(1, 4):
        z = bp.to_numpy(activations[l - 1]) @ bp.to_numpy(net.W[l - 1]).T + bp.to_numpy(net.b[l - 1])
        np.testing.assert_allclose(bp.to_numpy(zs[l - 1]), z, rtol=1e-13, atol=1e-14)


def test_softmax_reduced_gives_K_equal_p_L_plus_1(backend):
    net = bp.Network([2, 4, 2], output="softmax_reduced", backend=backend)
    assert net.K == 3 and net.loss_name == "cross_entropy"
    X = np.random.default_rng(0).standard_normal((5, 2))
    zs, activations = net.forward(X)
    assert tuple(zs[-1].shape) == (5, 2)
    G = bp.to_numpy(activations[-1])
    assert G.shape == (5, 3)
    np.testing.assert_allclose(G.sum(axis=1), 1.0, rtol=1e-14)


def test_default_loss_follows_the_output():
    assert bp.Network([2, 3], output="softmax").loss_name == "cross_entropy"
    assert bp.Network([2, 3], output="softmax_reduced").loss_name == "cross_entropy"
    assert bp.Network([2, 3], output="logistic").loss_name == "squared_error"
    assert bp.Network([2, 3], output="softmax", loss="squared_error").loss_name == "squared_error"


def test_squared_error_loss_is_the_mean_of_squared_norms(backend):
    net = bp.Network([3, 4, 2], hidden="tanh", seed=5, backend=backend)
    rng = np.random.default_rng(2)
    X, y = rng.standard_normal((7, 3)), rng.standard_normal((7, 2))
    G = _np_forward(net.theta, net.p, "tanh", "identity", X)
    assert net.loss(X, y) == pytest.approx(np.mean(np.sum((y - G) ** 2, axis=1)), rel=1e-13)


def test_cross_entropy_loss_is_the_mean_of_minus_log_g(backend):
    net = bp.Network([3, 4, 3], hidden="relu", output="softmax", seed=5, backend=backend)
    rng = np.random.default_rng(3)
    X, y = rng.standard_normal((8, 3)), rng.integers(0, 3, 8)
    G = _np_forward(net.theta, net.p, "relu", "softmax", X)
    assert net.loss(X, y) == pytest.approx(-np.mean(np.log(G[np.arange(8), y])), rel=1e-13)


def test_single_output_regression_takes_y_of_shape_n(backend):
    net = bp.Network([2, 3, 1], backend=backend)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((4, 2)), rng.standard_normal(4)
    assert net.loss(X, y) == net.loss(X, y[:, None])
    np.testing.assert_array_equal(bp.to_numpy(net.gradient(X, y)), bp.to_numpy(net.gradient(X, y[:, None])))


def test_float_labels_that_are_whole_numbers_are_accepted(backend):
    net = bp.Network([2, 3, 3], output="softmax", backend=backend)
    X = np.ones((3, 2))
    assert net.loss(X, np.array([0.0, 2.0, 1.0])) == net.loss(X, np.array([0, 2, 1]))


def test_loss_and_gradient_equals_loss_and_gradient(backend, batch):
    net = bp.Network([3, 4, 3], hidden="tanh", output="softmax", seed=1, backend=backend)
    X, y = batch(net, 6)
    loss, grad = net.loss_and_gradient(X, y)
    assert isinstance(loss, float)
    assert loss == pytest.approx(net.loss(X, y), rel=1e-15)
    np.testing.assert_array_equal(bp.to_numpy(grad), bp.to_numpy(net.gradient(X, y)))
    assert tuple(grad.shape) == (net.dim_theta,)


def test_init_schemes(backend):
    p = [200, 300, 100]
    normal = bp.Network(p, init="normal", seed=0, backend=backend)
    xavier = bp.Network(p, init="xavier", seed=0, backend=backend)
    he = bp.Network(p, init="he", seed=0, backend=backend)
    W1 = [bp.to_numpy(net.W[0]) for net in (normal, xavier, he)]
    assert np.std(W1[0]) == pytest.approx(1.0, rel=0.02)
    assert np.std(W1[1]) == pytest.approx(np.sqrt(2 / (200 + 300)), rel=0.02)
    assert np.std(W1[2]) == pytest.approx(np.sqrt(2 / 200), rel=0.02)
    assert np.std(bp.to_numpy(normal.b[0])) == pytest.approx(1.0, rel=0.15)
    for net in (xavier, he):
        assert not np.any(bp.to_numpy(net.b[0])) and not np.any(bp.to_numpy(net.b[1]))


def test_same_seed_same_theta_other_seed_other_theta():
    a = bp.Network([3, 4, 1], seed=3)
    b = bp.Network([3, 4, 1], seed=3)
    c = bp.Network([3, 4, 1], seed=4)
    np.testing.assert_array_equal(a.theta, b.theta)
    assert not np.array_equal(a.theta, c.theta)


def test_float32_stays_float32_end_to_end(backend, batch):
    for output in ("identity", "logistic", "softmax", "softmax_reduced"):
        net = bp.Network([3, 5, 2], hidden="tanh", output=output, dtype="float32", backend=backend)
        xp = net.xp
        X, y = batch(net, 4)  # float64 data: cast on the way in
        assert net.theta.dtype == np.float32
        zs, activations = net.forward(X)
        for arr in [*zs, *activations, net.predict(X), net.gradient(X, y), *net.W, *net.b]:
            assert arr.dtype == xp.float32
        loss, grad = net.loss_and_gradient(X, y)
        assert grad.dtype == xp.float32
        dW, db, _ = bp.algorithm2(net, X, y)
        assert all(a.dtype == xp.float32 for a in [*dW, *db])
        dW1, db1, g = bp.algorithm1(net, X[0], y[0])
        assert all(a.dtype == xp.float32 for a in [*dW1, *db1, g])
        net.theta = np.zeros(net.dim_theta)  # float64 in, float32 kept
        assert net.theta.dtype == np.float32


def test_float32_network_agrees_with_float64(backend, batch, rel):
    net64 = bp.Network([3, 6, 2], hidden="tanh", seed=2, backend=backend)
    net32 = net64.copy(dtype="float32")
    X, y = batch(net64, 5)
    assert rel(net32.theta, net64.theta) < 1e-7
    assert rel(net32.predict(X), net64.predict(X)) < 1e-5
    assert rel(net32.gradient(X, y), net64.gradient(X, y)) < 1e-4


def test_copy_is_independent(backend):
    net = bp.Network([2, 3, 1], backend=backend)
    twin = net.copy()
    twin.theta = np.zeros(net.dim_theta)
    assert np.any(net.theta != 0)
    assert not np.any(twin.theta)
    assert twin.p == net.p and twin.hidden == net.hidden and twin.backend == backend
    assert twin.hidden is not net.hidden  # no list shared with the original


def test_layer_index_may_be_a_numpy_integer_but_not_a_slice_or_bool():
    net = bp.Network([2, 3, 1])
    net.W[np.int64(1)] = np.array([[1.0, -2.0, 3.0]])
    np.testing.assert_array_equal(net.theta[9:12], [1.0, -2.0, 3.0])
    for index in (slice(0, 1), True, 1.0):
        with pytest.raises(TypeError, match="integer layer index"):
            net.b[index] = np.zeros(3)
    with pytest.raises(IndexError, match="L = 2 layers"):
        net.b[2] = np.zeros(1)


def test_copy_to_another_backend_and_dtype(backend):
    net = bp.Network([2, 3, 1], hidden="logistic", seed=6)
    moved = net.copy(backend=backend, dtype="float32")
    assert moved.backend == backend and moved.dtype == "float32"
    np.testing.assert_array_equal(moved.theta, net.theta.astype(np.float32))
    assert net.dtype == "float64" and net.backend == "numpy"


def test_predict_does_not_change_theta(backend, batch):
    net = bp.Network([3, 4, 2], backend=backend)
    before = net.theta
    X, y = batch(net, 3)
    net.predict(X)
    net.gradient(X, y)
    net.loss(X, y)
    np.testing.assert_array_equal(net.theta, before)


def test_S_of_layer_l(backend):
    net = bp.Network([2, 3, 3, 2], hidden=["tanh", "relu"], output="softmax", backend=backend)
    assert net.S(1) is bp.ACTIVATIONS["tanh"]
    assert net.S(2) is bp.ACTIVATIONS["relu"]
    assert net.S(3) is bp.OUTPUTS["softmax"]


def test_repr_names_the_architecture():
    text = repr(bp.Network([1, 20, 20, 1], hidden="relu", output="identity"))
    assert text == (
        "Network([1, 20, 20, 1], hidden='relu', output='identity', loss='squared_error', "
        "dtype='float64', backend='numpy', dim_theta=481)"
    )


def test_gradient_is_a_backend_array(backend, xp, batch):
    net = bp.Network([2, 3, 1], backend=backend)
    X, y = batch(net, 3)
    grad = net.gradient(X, y)
    assert type(grad) is type(xp.asarray([1.0]))


def test_loss_at_evaluates_another_theta_and_keeps_the_network_theta():
    net = bp.Network([3, 4, 2], hidden="tanh", seed=1)
    X, y = np.ones((5, 3)), np.zeros((5, 2))
    theta0, other = net.theta, net.theta + 0.5
    value = net.loss_at(other, X, y)
    np.testing.assert_array_equal(net.theta, theta0)
    net.theta = other
    assert value == net.loss(X, y) and value != bp.Network([3, 4, 2], hidden="tanh",
                                                            seed=1).loss(X, y)
    net.theta = theta0
    with pytest.raises(ValueError):
        net.loss_at(np.ones(3), X, y)  # wrong length: rejected, theta untouched
    np.testing.assert_array_equal(net.theta, theta0)


# ----------------------------------------------------------------------------- issue 11 and 12


@pytest.mark.parametrize("name, value", [("p", (2, 3, 1)), ("hidden", ["tanh"]),
                                         ("output", "tanh"), ("loss_name", "cross_entropy"),
                                         ("dtype", "float32"), ("backend", "cupy"), ("seed", 3),
                                         ("init", "normal"), ("L", 5), ("dim_theta", 1)])
def test_settings_are_read_only(name, value):
    net = bp.Network([2, 4, 1], hidden="relu", seed=0)
    before = (repr(net), net.theta, net.predict(np.ones((2, 2))))
    with pytest.raises(AttributeError, match=rf"net.{name} is fixed .* net.copy"):
        setattr(net, name, value)
    assert repr(net) == before[0]
    np.testing.assert_array_equal(net.theta, before[1])
    np.testing.assert_array_equal(net.predict(np.ones((2, 2))), before[2])


def test_hidden_list_is_a_copy():
    net = bp.Network([2, 4, 3, 1], hidden="relu")
    net.hidden.append("tanh")
    net.hidden[0] = "tanh"
    assert net.hidden == ["relu", "relu"]


def test_W_and_b_are_read_only_sequences_with_item_assignment():
    net = bp.Network([2, 3, 1], seed=0)
    assert len(net.W) == 2 and net.W is net.W  # one object, not a new list per access
    for method in ("append", "extend", "pop", "insert"):
        assert not hasattr(net.W, method)
    with pytest.raises((TypeError, AttributeError)):
        del net.W[0]
    net.b[-1] = np.array([7.0])
    assert net.theta[-1] == 7.0 and float(net.b[1][0]) == 7.0
    with pytest.raises(IndexError, match="L = 2 layers"):
        net.W[2] = np.zeros((1, 3))
    with pytest.raises(AttributeError, match="fixed"):
        net.W = [np.zeros((3, 2)), np.zeros((1, 3))]


@pytest.mark.parametrize("how", ["deepcopy", "pickle"])
def test_deepcopy_and_pickle_give_an_equal_independent_network(how):
    import copy
    import pickle

    net = bp.Network([3, 5, 4, 2], hidden=["tanh", "relu"], output="softmax", init="xavier",
                     seed=7, dtype="float32")
    X = np.random.default_rng(0).standard_normal((9, 3))
    net.gradient(X, np.arange(9) % 2)  # a workspace exists and is not copied
    twin = copy.deepcopy(net) if how == "deepcopy" else pickle.loads(pickle.dumps(net))
    assert repr(twin) == repr(net) and (twin.init, twin.seed) == (net.init, net.seed)
    np.testing.assert_array_equal(twin.theta, net.theta)
    np.testing.assert_array_equal(twin.predict(X), net.predict(X))
    twin.theta = np.zeros(net.dim_theta)
    assert np.any(net.theta != 0)


def test_seed_beyond_int64_is_refused():
    with pytest.raises(ValueError, match=r"seed must lie in 0 .. 2\*\*63 - 1"):
        bp.Network([2, 1], seed=2**70)
    assert bp.Network([2, 1], seed=2**63 - 1).seed == 2**63 - 1


@pytest.mark.parametrize("dtype", [np.float32, np.dtype("float32"), "float32"])
def test_numpy_dtypes_are_accepted_by_the_constructor_and_by_copy(dtype):
    assert bp.Network([2, 1], dtype=dtype).dtype == "float32"
    assert bp.Network([2, 1]).copy(dtype=dtype).dtype == "float32"


@pytest.mark.parametrize("dtype, error", [(None, TypeError), ("int32", ValueError),
                                          (np.int64, ValueError), (True, TypeError)])
def test_bad_dtypes_are_refused(dtype, error):
    with pytest.raises(error, match="dtype must be 'float64' or 'float32'"):
        bp.Network([2, 1], dtype=dtype)
    if dtype is None:  # copy(dtype=None) keeps the network's dtype, as documented
        assert bp.Network([2, 1], dtype="float32").copy(dtype=None).dtype == "float32"
        return
    with pytest.raises(error, match="dtype must be 'float64' or 'float32'"):
        bp.Network([2, 1]).copy(dtype=dtype)


@pytest.mark.parametrize("p", [{3: 0, 2: 0}, {3, 2}, "32", 5])
def test_widths_must_be_a_sequence(p):
    with pytest.raises(TypeError, match="p must be a list of layer widths"):
        bp.Network(p)
    assert bp.Network(np.array([3, 2])).p == (3, 2)


def test_release_workspace_frees_the_kernel_arrays():
    net = bp.Network([3, 50, 2], hidden="relu")
    X, y = np.ones((100, 3)), np.zeros((100, 2))
    g = net.gradient(X, y)
    assert [n for n, _ in net.kept_workspaces()] == [100]
    net.release_workspace()
    assert net.kept_workspaces() == []
    np.testing.assert_array_equal(net.gradient(X, y), g)
    bp.Network([3, 2], backend="array_api_strict").release_workspace()  # no kernel: no-op


def test_layers_name_the_blocks_of_theta():
    net = bp.Network([3, 5, 2])
    first, second = net.layers
    assert (first.l, first.W, first.b, first.shape) == (1, slice(0, 15), slice(15, 20), (5, 3))
    assert (second.l, second.W, second.b, second.shape) == (2, slice(20, 30), slice(30, 32), (2, 5))
    assert net.layer_slices() == [(first.W, first.b), (second.W, second.b)]


@pytest.mark.parametrize("output, loss", [("identity", "squared_error"), ("logistic", "squared_error"),
                                          ("softmax", "cross_entropy"),
                                          ("softmax_reduced", "cross_entropy")])
def test_deltas_are_the_rows_of_algorithm1_and_what_backward_returns(backend, output, loss):
    net = bp.Network([3, 5, 4, 2], hidden="tanh", output=output, loss=loss, seed=5,
                     backend=backend)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((6, 3))
    y = rng.integers(0, net.K, 6) if loss == "cross_entropy" else rng.uniform(size=(6, 2))
    deltas = net.deltas(X, y)
    assert [tuple(D.shape) for D in deltas] == [(6, 5), (6, 4), (6, 2)]
    for i in range(6):  # δ_l = ∂C/∂b_l of example i (Algorithm 1)
        _, dC_db, _ = bp.algorithm1(net, X[i], y[i])
        for l in range(net.L):
            np.testing.assert_allclose(bp.to_numpy(deltas[l])[i], bp.to_numpy(dC_db[l]),
                                       rtol=1e-12, atol=1e-15)
    # the same as back-propagating the output errors by hand with net.backward
    zs, activations = net.forward(X)
    Y = bp.to_numpy(net.checked_batch(X, y)[1])
    Delta_L = bp.output_delta(net.xp, net.output_layer, net.loss_function, zs[-1],
                              activations[-1], net.xp.asarray(Y))
    grad, by_hand = net.backward(activations, Delta_L)
    for D, E in zip(deltas, by_hand, strict=True):
        np.testing.assert_allclose(bp.to_numpy(D), bp.to_numpy(E), rtol=1e-13, atol=1e-16)
    np.testing.assert_allclose(bp.to_numpy(grad), bp.to_numpy(net.gradient(X, y)),
                               rtol=1e-10, atol=1e-13)


def test_deltas_checks_its_input():
    net = bp.Network([3, 4, 2], seed=0)
    with pytest.raises(ValueError, match=r"X must have p_0 = 3 columns .*got shape \(5, 2\)"):
        net.deltas(np.ones((5, 2)), np.ones((5, 2)))
