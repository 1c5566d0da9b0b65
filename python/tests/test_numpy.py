"""descent's optimizers over NumPy arrays (in place, checked), checkpoints, schedules, and descent.minimize
against SciPy on Rosenbrock."""
import numpy as np
import pytest

import descent

scipy_optimize = pytest.importorskip("scipy.optimize")


def arrays(dtype=np.float32, shape=(3, 4), seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape).astype(dtype), np.zeros(shape, dtype)


def test_every_registry_optimizer_is_a_class():
    for name in descent.optimizer_names():
        assert issubclass(getattr(descent, descent._descent.kind_name(name)), descent.NumpyOptimizer)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_updates_the_callers_array_in_place(dtype):
    w, g = arrays(dtype)
    w0 = w.copy()
    g[...] = 0.5
    opt = descent.SGD([("w", w, g)], lr=dtype(0.25))
    opt.step()
    # SGD without momentum is w - lr * g, in the array's dtype (PyTorch's rule)
    np.testing.assert_array_equal(w, w0 - dtype(0.25) * dtype(0.5))


def test_adam_matches_torch_bitwise():
    torch = pytest.importorskip("torch")
    w, g = arrays(np.float64, (5,))
    t = torch.from_numpy(w.copy()).requires_grad_(True)
    ref = torch.optim.Adam([t], lr=0.01, betas=(0.8, 0.99), weight_decay=0.1, foreach=False)
    opt = descent.Adam([("w", w, g)], lr=0.01, beta1=0.8, beta2=0.99, weight_decay=0.1)
    rng = np.random.default_rng(1)
    for _ in range(20):
        g[...] = rng.standard_normal(5)
        t.grad = torch.from_numpy(g.copy())
        ref.step()
        opt.step()
    np.testing.assert_array_equal(w, t.detach().numpy())
    np.testing.assert_array_equal(opt.state("w", "exp_avg_sq"), ref.state[t]["exp_avg_sq"].numpy())
    assert opt.step_count("w") == 20


def test_arrays_descent_cannot_use_in_place_are_refused():
    w, g = arrays()
    with pytest.raises(ValueError, match="w's value is not C-contiguous"):
        descent.Adam([("w", w[:, ::2], g[:, ::2])])
    with pytest.raises(ValueError, match="w's value is not C-contiguous"):
        descent.Adam([("w", np.asfortranarray(w), np.asfortranarray(g))])
    ro = w.copy()
    ro.setflags(write=False)
    with pytest.raises(ValueError, match="w's value is read-only"):
        descent.Adam([("w", ro, g)])
    with pytest.raises(TypeError, match="w's value has dtype float16"):
        descent.Adam([("w", w.astype(np.float16), g.astype(np.float16))])
    with pytest.raises(TypeError, match="w's gradient is float64"):
        descent.Adam([("w", w, g.astype(np.float64))])
    with pytest.raises(TypeError, match="numpy.ndarray"):
        descent.Adam([("w", [1.0, 2.0], g)])


def test_bad_options_and_names_map_to_python_exceptions():
    w, g = arrays()
    with pytest.raises(ValueError, match="'lr' = -1 is out of range"):
        descent.Adam([("w", w, g)], lr=-1.0)
    with pytest.raises(KeyError, match="no option 'betas'"):
        descent.Adam([("w", w, g)], betas=(0.9, 0.99))
    opt = descent.Adam([("w", w, g)], lr=0.1)
    with pytest.raises(ValueError, match="beta1"):
        opt.set_options(lr=0.2, beta1=2.0)
    assert opt.lr == 0.1  # all or nothing
    with pytest.raises(KeyError, match="no parameter 'v'"):
        opt.state("v", "exp_avg")


def test_checkpoint_round_trip_continues_bitwise(tmp_path):
    rng = np.random.default_rng(2)
    grads = rng.standard_normal((10, 3, 4)).astype(np.float32)
    w, g = arrays()
    opt = descent.AdamW([("w", w, g)], lr=0.01)
    for k in range(5):
        g[...] = grads[k]
        opt.step()
    opt.save(tmp_path / "opt.safetensors")
    w_mid = w.copy()
    for k in range(5, 10):
        g[...] = grads[k]
        opt.step()
    w2, g2 = w_mid.copy(), np.zeros_like(g)
    opt2 = descent.AdamW([("w", w2, g2)], lr=0.01)
    opt2.load(tmp_path / "opt.safetensors")
    for k in range(5, 10):
        g2[...] = grads[k]
        opt2.step()
    np.testing.assert_array_equal(w, w2)
    (tmp_path / "bad.safetensors").write_bytes(b"not a checkpoint")
    before = opt2.state("w", "exp_avg")
    with pytest.raises(ValueError, match="bad.safetensors"):
        opt2.load(tmp_path / "bad.safetensors")
    with pytest.raises(KeyError, match="missing.safetensors"):
        opt2.load(tmp_path / "missing.safetensors")
    np.testing.assert_array_equal(opt2.state("w", "exp_avg"), before)


def test_step_lr_follows_its_closed_form():
    w, g = arrays()
    opt = descent.SGD([("w", w, g)], lr=0.8)
    sched = descent.StepLR(opt, step_size=3, gamma=0.5)
    for k in range(1, 10):
        sched.step()
        assert opt.lr == 0.8 * 0.5 ** (k // 3)


ROSEN_X0 = np.array([-1.2, 1.0, -1.2, 1.0])


def rosen_fg(x):
    return scipy_optimize.rosen(x), scipy_optimize.rosen_der(x)


# SciPy's tolerances tightened to descent's gtol, so that both runs end at the minimizer's rounding level
@pytest.mark.parametrize("method,scipy_method,scipy_options,second", [
    ("newton-cg", "Newton-CG", {"xtol": 1e-12}, "hessp"),
    ("trust-ncg", "trust-ncg", {"gtol": 1e-10}, "hessp"),
    ("trust-krylov", "trust-krylov", {"gtol": 1e-10}, "hessp"),
    ("trust-exact", "trust-exact", {"gtol": 1e-10}, "hess"),
    ("newton", "trust-exact", {"gtol": 1e-10}, "hess"),   # SciPy has no line-search Newton with a dense Hessian
    ("lbfgs", "L-BFGS-B", {}, None),
])
def test_minimize_reaches_scipys_minimizer_of_rosenbrock(method, scipy_method, scipy_options, second):
    extra = {}
    if second == "hessp":
        extra["hessp"] = scipy_optimize.rosen_hess_prod
    elif second == "hess":
        extra["hess"] = scipy_optimize.rosen_hess
    ours = descent.minimize(rosen_fg, ROSEN_X0, method=method, jac=True, options={"gtol": 1e-10}, **extra)
    ref = scipy_optimize.minimize(scipy_optimize.rosen, ROSEN_X0, method=scipy_method,
                                  jac=scipy_optimize.rosen_der, options=scipy_options, **extra)
    assert ref.success and ours.success, (ours.message, ref.message)
    tol = 1e-4 if method == "lbfgs" else 1e-7  # L-BFGS stops on torch's tolerance_change (1e-9 in f)
    np.testing.assert_allclose(ours.x, ref.x, atol=max(tol, 1e-5 if scipy_method == "L-BFGS-B" else 0))
    np.testing.assert_allclose(ours.x, np.ones(4), atol=tol)
    assert ours.fun == pytest.approx(scipy_optimize.rosen(ours.x))
    assert {"x", "fun", "nit", "nfev", "success", "status", "message"} <= set(ours)


def test_minimize_with_a_first_order_optimizer_solves_a_quadratic():
    a = np.array([[3.0, 1.0], [1.0, 2.0]])
    b = np.array([1.0, -1.0])

    def fg(x):
        return 0.5 * x @ a @ x - b @ x, a @ x - b

    r = descent.minimize(fg, np.zeros(2), method="adam", jac=True, options={"lr": 0.05, "maxiter": 5000, "gtol": 1e-9})
    np.testing.assert_allclose(r.x, np.linalg.solve(a, b), atol=1e-8)


def test_minimize_errors():
    with pytest.raises(ValueError, match="jac"):
        descent.minimize(scipy_optimize.rosen, ROSEN_X0)
    with pytest.raises(KeyError, match="nonesuch"):
        descent.minimize(rosen_fg, ROSEN_X0, method="nonesuch", jac=True)
    with pytest.raises(ValueError, match="(?i)hessian"):
        descent.minimize(rosen_fg, ROSEN_X0, method="newton", jac=True)
    with pytest.raises(ValueError, match="the gradient has 3 values"):
        descent.minimize(lambda x: (0.0, np.zeros(3)), ROSEN_X0, method="lbfgs", jac=True)
