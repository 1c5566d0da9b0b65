#!/usr/bin/python3
"""SciPy's side of docs/convergence.md: scipy.optimize.minimize (BFGS, L-BFGS-B, Newton-CG, trust-ncg,
trust-krylov, trust-exact) on descent's test problems, from the same starts, to the same target
||grad f||_2 <= 1e-6.

Usage: /usr/bin/python3 tools/convergence/scipy_convergence.py PROBLEMS.json [OUT.json]

PROBLEMS.json is what `descent-convergence problems` prints ("-" reads standard input). The problems are written
here again in NumPy, from their formulas (include/descent/minimize/test_problems.hpp), independently of the C++
code; logistic regression takes its generated data (inputs, labels, l2) from the export. Before anything runs,
f, the gradient and the Hessian at every start are checked against the C++ export (f and gradient to 1e-12
relative, the Hessian to 1e-10): a mismatch stops the script, since then the two sides would not be solving
the same problem.

Each method gets a combined fun returning (f, g) (jac=True), wrapped to count every call; Newton-CG,
trust-ncg and trust-krylov get a Hessian-vector product (hessp), trust-exact the Hessian (hess), counted
too. The dense methods, BFGS and trust-exact, are not run above n = 100 (nor are descent's Newton and
trust-exact). SciPy's own stopping tests
are switched off (gtol, ftol, xtol 0) so that only the common target, its iteration limit (10000) and the
evaluation limit (20000) end a run.
(Newton-CG gets xtol 1e-300: with 0 its loop test `sum |update| > xtol` fails before the first iteration.)
Recorded per run: the calls of fun made when the target was first met (at any evaluation, line-search trials
included), the calls when an accepted iterate first met it (SciPy's callback), the Hessian-vector products
then, the iterations, the length of the first step, the final x, f and ||g||, and the failure when the target
was never met. L-BFGS-B also runs from the problem's perturbed starts (`perturbed_starts` in the export), so
that a difference in counts can be told apart from the chance of one trajectory.
"""

import json
import math
import sys
import warnings

import numpy as np
import scipy
import scipy.optimize

TARGET = 1e-6
MAX_ITERATIONS = 10000
MAX_DENSE_DIMENSION = 100  # the dense methods are not run above this (nor descent's Newton and trust-exact):
# trust-exact factors the dense Hessian, and BFGS updates its n x n inverse Hessian with two n x n matrix
# products per iteration (2e9 flops at n = 1000, for thousands of iterations)
DENSE_METHODS = ("BFGS", "trust-exact")
MAX_EVALUATIONS = 20000
UNBOUNDED_LEVEL = -1e20  # on a problem unbounded below, f under this counts as f -> -inf
METHODS = ("BFGS", "L-BFGS-B", "Newton-CG", "trust-ncg", "trust-krylov", "trust-exact")
HESSP_METHODS = ("Newton-CG", "trust-ncg", "trust-krylov")


# ---- the problems, from their formulas ------------------------------------------------------------------

def sphere(x):
    return float(x @ x), 2.0 * x, 2.0 * np.eye(x.size)


def quadratic_factory(n):
    # 0.5 sum_i a_i x_i^2 with a_i = kappa^(i/(n-1)) from 1 to kappa; make_test_problem uses kappa = 100
    # (1 in dimension 1), and the last a_i is kappa exactly.
    kappa = 100.0 if n > 1 else 1.0
    a = np.array([kappa ** (i / (n - 1)) if n > 1 else 1.0 for i in range(n)])
    a[-1] = kappa

    def quadratic(x):
        return float(0.5 * np.sum(a * x * x)), a * x, np.diag(a)
    return quadratic


def rosenbrock_tridiagonal(x):
    """The Hessian's diagonal and off-diagonal (it is tridiagonal)."""
    head, tail = x[:-1], x[1:]
    diagonal = np.zeros(x.size)
    diagonal[:-1] += 1200.0 * head ** 2 - 400.0 * tail + 2.0
    diagonal[1:] += 200.0
    return diagonal, -400.0 * head


def rosenbrock_hessp(x, p):
    diagonal, off = rosenbrock_tridiagonal(x)
    hp = diagonal * p
    hp[:-1] += off * p[1:]
    hp[1:] += off * p[:-1]
    return hp


def rosenbrock(x):
    n = x.size
    head, tail = x[:-1], x[1:]
    valley = tail - head ** 2
    f = float(np.sum(100.0 * valley ** 2 + (1.0 - head) ** 2))
    g = np.zeros(n)
    g[:-1] += -400.0 * head * valley - 2.0 * (1.0 - head)
    g[1:] += 200.0 * valley
    if n > MAX_DENSE_DIMENSION:  # only products are needed there (rosenbrock_hessp); the dense one on demand
        return f, g, None
    h = np.zeros((n, n))
    idx = np.arange(n - 1)
    h[idx, idx] += 1200.0 * head ** 2 - 400.0 * tail + 2.0
    h[idx + 1, idx + 1] += 200.0
    h[idx, idx + 1] = -400.0 * head
    h[idx + 1, idx] = -400.0 * head
    return f, g, h


def beale(v):
    x, y = v
    c = (1.5, 2.25, 2.625)
    f = 0.0
    g = np.zeros(2)
    h = np.zeros((2, 2))
    for k in (1, 2, 3):
        t = c[k - 1] - x + x * y ** k
        tx, ty = y ** k - 1.0, k * x * y ** (k - 1)            # first derivatives of t
        txy, tyy = k * y ** (k - 1), k * (k - 1) * x * y ** (k - 2) if k > 1 else 0.0
        f += t * t
        g += 2.0 * t * np.array([tx, ty])
        h += 2.0 * np.array([[tx * tx, tx * ty + t * txy], [tx * ty + t * txy, ty * ty + t * tyy]])
    return f, g, h


def booth(v):
    x, y = v
    a, b = x + 2 * y - 7, 2 * x + y - 5
    return a * a + b * b, np.array([2 * a + 4 * b, 4 * a + 2 * b]), np.array([[10.0, 8.0], [8.0, 10.0]])


def himmelblau(v):
    x, y = v
    a, b = x * x + y - 11, x + y * y - 7
    g = np.array([4 * x * a + 2 * b, 2 * a + 4 * y * b])
    h = np.array([[12 * x * x + 4 * y - 42, 4 * (x + y)], [4 * (x + y), 4 * x + 12 * y * y - 26]])
    return a * a + b * b, g, h


def matyas(v):
    x, y = v
    return (0.26 * (x * x + y * y) - 0.48 * x * y, np.array([0.52 * x - 0.48 * y, 0.52 * y - 0.48 * x]),
            np.array([[0.52, -0.48], [-0.48, 0.52]]))


def three_hump_camel(v):
    x, y = v
    f = 2 * x ** 2 - 1.05 * x ** 4 + x ** 6 / 6 + x * y + y ** 2
    g = np.array([4 * x - 4.2 * x ** 3 + x ** 5 + y, x + 2 * y])
    h = np.array([[4 - 12.6 * x ** 2 + 5 * x ** 4, 1.0], [1.0, 2.0]])
    return f, g, h


def styblinski_tang(x):
    f = float(0.5 * np.sum(x ** 4 - 16 * x ** 2 + 5 * x))
    return f, 0.5 * (4 * x ** 3 - 32 * x + 5), np.diag(6 * x ** 2 - 16)


def rastrigin(x):
    # The textbook form; descent computes the same function as sum x^2 + 20 sin^2(pi x).
    w = 2 * math.pi * x
    f = float(10 * x.size + np.sum(x ** 2 - 10 * np.cos(w)))
    return f, 2 * x + 20 * math.pi * np.sin(w), np.diag(2 + 40 * math.pi ** 2 * np.cos(w))


def ackley(x):
    # -20 exp(-0.2 r) - exp(c) + 20 + e, r = sqrt(mean x^2) = |x| / sqrt(n), c = mean cos(2 pi x).
    n = x.size
    r = float(np.linalg.norm(x)) / math.sqrt(n)
    w = 2 * math.pi * x
    c = float(np.mean(np.cos(w)))
    decay, ripple = math.exp(-0.2 * r), math.exp(c)
    f = -20 * decay - ripple + 20 + math.e
    grad_c = -(2 * math.pi / n) * np.sin(w)
    hess_c = -(4 * math.pi ** 2 / n) * np.diag(np.cos(w))
    if r == 0.0:  # the cone point: gradient 0 (the minimum-norm subgradient), no Hessian
        return f, -ripple * grad_c, None
    grad_r = x / (n * r)
    hess_r = np.eye(n) / (n * r) - np.outer(x, x) / (n * n * r ** 3)
    g = 4 * decay * grad_r - ripple * grad_c
    h = 4 * decay * (hess_r - 0.2 * np.outer(grad_r, grad_r)) - ripple * (hess_c + np.outer(grad_c, grad_c))
    return f, g, h


def saddle(v):
    x, y = v
    return x * x - y * y, np.array([2 * x, -2 * y]), np.diag([2.0, -2.0])


def logistic_factory(data):
    a = np.array(data["inputs"], dtype=float)
    labels = np.array(data["labels"], dtype=float)
    l2 = float(data["l2"])
    samples = a.shape[0]

    def logistic(w):
        margin = labels * (a @ w)
        f = float(np.mean(np.logaddexp(0.0, -margin)) + 0.5 * l2 * (w @ w))
        sig_minus = 0.5 * (1.0 + np.tanh(-0.5 * margin))  # sigmoid(-margin), without overflow
        g = a.T @ (-labels * sig_minus) / samples + l2 * w
        s = sig_minus * (1.0 - sig_minus)
        h = (a.T * s) @ a / samples + l2 * np.eye(w.size)
        return f, g, h
    return logistic


def make_function(problem):
    name, n = problem["name"], problem["dimension"]
    table = {"sphere": sphere, "rosenbrock": rosenbrock, "beale": beale, "booth": booth, "himmelblau": himmelblau,
             "matyas": matyas, "three-hump-camel": three_hump_camel, "styblinski-tang": styblinski_tang,
             "rastrigin": rastrigin, "ackley": ackley, "saddle": saddle}
    if name in table:
        return table[name]
    if name == "quadratic":
        return quadratic_factory(n)
    if name == "logistic-regression":
        return logistic_factory(problem["data"])
    return None


def hessian_of(function, x):
    """The dense Hessian, also where `function` leaves it out (rosenbrock above MAX_DENSE_DIMENSION)."""
    h = function(x)[2]
    if h is None and function is rosenbrock:
        diagonal, off = rosenbrock_tridiagonal(x)
        h = np.diag(diagonal) + np.diag(off, 1) + np.diag(off, -1)
    return h


def hessp_of(function, x, p):
    if function is rosenbrock:
        return rosenbrock_hessp(x, p)
    return function(x)[2] @ p


# ---- the cross-check -----------------------------------------------------------------------------------

def relative_error(mine, theirs):
    mine, theirs = np.atleast_1d(np.asarray(mine, float)), np.atleast_1d(np.asarray(theirs, float))
    scale = np.max(np.abs(theirs))
    difference = np.max(np.abs(mine - theirs))
    return 0.0 if difference == 0.0 else difference / scale if scale > 0 else math.inf


def cross_check(problem, function):
    x = np.array(problem["start"], dtype=float)
    f, g, h = function(x)
    n = problem["dimension"]
    checks = [("f(start)", f, problem["f_start"], 1e-12), ("gradient(start)", g, problem["gradient_start"], 1e-12)]
    if h is not None and problem.get("hessian_start") is not None:
        checks.append(("Hessian(start)", h.ravel(), problem["hessian_start"], 1e-10))
    for what, mine, theirs, tolerance in checks:
        if np.size(mine) != np.size(theirs) or np.size(theirs) not in (1, n, n * n):
            sys.exit(f"{problem['id']}: {what} has the wrong size")
        error = relative_error(mine, theirs)
        if not error <= tolerance:
            sys.exit(f"{problem['id']}: {what} differs from the C++ export by {error:.3g} relative "
                     f"(tolerance {tolerance:g}): NumPy {mine}, C++ {theirs}")


# ---- running SciPy -------------------------------------------------------------------------------------

class Stop(Exception):
    """Ends a run from inside fun or the callback."""


def finite_or_none(v):
    return float(v) if v is not None and math.isfinite(v) else None


def classify(problem, function, x, f):
    """'' at the global minimum (or where it is not known); else 'local minimum' or 'saddle point'."""
    minimum = problem["minimum"]
    if minimum is None and not problem["unbounded_below"]:
        return ""
    if minimum is not None and f - minimum <= 1e-6 * max(1.0, abs(minimum)):
        return ""
    h = hessian_of(function, np.asarray(x, float))
    if h is None:
        return ""
    eigenvalues = np.linalg.eigvalsh(h)
    scale = max(1.0, float(np.max(np.abs(np.diag(h)))))
    return "local minimum" if eigenvalues.min() >= -1e-8 * scale else "saddle point"


def run(problem, function, method, start=None):
    x0 = np.array(problem["start"] if start is None else start, dtype=float)
    if method in DENSE_METHODS and x0.size > MAX_DENSE_DIMENSION:
        return {"skipped": True, "reached": False, "unbounded": False, "evaluations": 0, "iterations": 0,
                "hessian_vector_products": 0, "hessians": 0, "failure": "not run", "message": "",
                "evaluations_by_iteration": []}
    state = {"calls": 0, "hv": 0, "h": 0, "first": None, "accepted": None, "unbounded": None, "iterations": 0,
             "by_iteration": [], "recent": [], "stop": None,
             "first_step": None}

    def fun(x):
        state["calls"] += 1
        if state["calls"] > MAX_EVALUATIONS:
            state["stop"] = "evaluations"
            raise Stop()
        f, g, _ = function(x)
        f = float(f)
        gn = float(np.linalg.norm(g))
        state["recent"] = ([(x.tobytes(), f, gn)] + state["recent"])[:50]
        if state["first"] is None and math.isfinite(f) and gn <= TARGET:
            state["first"] = {"calls": state["calls"], "hv": state["hv"], "h": state["h"], "x": x.copy(), "f": f,
                              "gn": gn}
        if problem["unbounded_below"] and f < UNBOUNDED_LEVEL:
            state["unbounded"] = state["calls"]
            raise Stop()
        return f, g

    def hessp(x, p):
        state["hv"] += 1
        return hessp_of(function, x, p)

    def hess(x):
        state["h"] += 1
        return hessian_of(function, x)

    def callback(xk, *args):
        state["iterations"] += 1
        if state["iterations"] == 1:
            state["first_step"] = float(np.linalg.norm(np.asarray(xk, float) - x0))
        state["by_iteration"].append(state["calls"])
        key = np.asarray(xk, float).tobytes()
        found = [e for e in state["recent"] if e[0] == key]
        gn = found[0][2] if found else float(np.linalg.norm(function(np.asarray(xk, float))[1]))
        if gn <= TARGET:
            state["accepted"] = {"calls": state["calls"], "iterations": state["iterations"]}
            raise Stop()

    options = {
        "BFGS": {"gtol": 0.0, "maxiter": MAX_ITERATIONS},
        "L-BFGS-B": {"maxcor": 10, "ftol": 0.0, "gtol": 0.0, "maxiter": MAX_ITERATIONS, "maxfun": MAX_EVALUATIONS},
        "Newton-CG": {"xtol": 1e-300, "maxiter": MAX_ITERATIONS},  # 0 would stop at once
        "trust-ncg": {"gtol": 0.0, "maxiter": MAX_ITERATIONS},
        "trust-krylov": {"gtol": 0.0, "maxiter": MAX_ITERATIONS},
        "trust-exact": {"gtol": 0.0, "maxiter": MAX_ITERATIONS},
    }[method]
    result, error = None, None
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            result = scipy.optimize.minimize(fun, x0, jac=True, method=method, callback=callback,
                                             hessp=hessp if method in HESSP_METHODS else None,
                                             hess=hess if method == "trust-exact" else None, options=options)
        except Stop:
            pass
        except Exception as e:  # noqa: BLE001 -- any failure inside SciPy is a result to report
            error = f"{type(e).__name__}: {e}"

    out = {"reached": False, "unbounded": False, "evaluations": state["calls"], "hessian_vector_products": state["hv"],
           "hessians": state["h"],
           "iterations": state["iterations"], "accepted_evaluations": None, "final_f": None,
           "final_gradient_norm": None, "where": "", "failure": "", "message": "",
           "evaluations_by_iteration": [1] + state["by_iteration"], "first_step": state["first_step"],
           "final_x": None}
    first = state["first"]
    if first is not None:
        out.update(reached=True, evaluations=first["calls"], hessian_vector_products=first["hv"], hessians=first["h"],
                   final_f=finite_or_none(first["f"]), final_gradient_norm=first["gn"],
                   final_x=[float(v) for v in first["x"]],
                   where=classify(problem, function, first["x"], first["f"]))
        if state["accepted"] is not None:
            out["accepted_evaluations"] = state["accepted"]["calls"]
            out["iterations"] = state["accepted"]["iterations"]
        return out
    if state["unbounded"] is not None:
        out.update(unbounded=True, evaluations=state["unbounded"], failure="f → −∞",
                   message=f"f < {UNBOUNDED_LEVEL:g} after {state['unbounded']} evaluations")
        return out
    if state["stop"] == "evaluations":
        out.update(evaluations=MAX_EVALUATIONS, failure=f"not reached in {MAX_EVALUATIONS} ev.",
                   message="evaluation limit")
    elif error is not None:
        out.update(failure="error", message=error)
    else:
        message = str(result.message)
        lower = message.lower()
        if result.nit >= MAX_ITERATIONS or "maximum number" in lower or "total no. of" in lower:
            failure = f"not reached in {MAX_ITERATIONS} it."
        elif "precision loss" in lower or "abnormal" in lower or "line search" in lower:
            failure = "line search failed"
        elif "nan" in lower:
            failure = "non-finite f or g"
        else:
            failure = "stopped: " + message
        out.update(failure=failure, message=message, iterations=int(result.nit))
    # The last point SciPy evaluated, or its result when it returned one.
    if result is not None:
        f, g, _ = function(np.asarray(result.x, float))
        out.update(final_f=finite_or_none(f), final_gradient_norm=finite_or_none(float(np.linalg.norm(g))),
                   final_x=[float(v) for v in result.x] if np.all(np.isfinite(result.x)) else None)
    elif state["recent"]:
        _, f, gn = state["recent"][0]
        out.update(final_f=finite_or_none(f), final_gradient_norm=finite_or_none(gn))
    return out


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    source = sys.stdin if sys.argv[1] == "-" else open(sys.argv[1], encoding="utf-8")
    with source:
        problems = json.load(source)["problems"]
    functions = []
    for problem in problems:
        function = make_function(problem)
        if function is None:
            sys.exit(f"{problem['id']}: no NumPy implementation of '{problem['name']}'")
        cross_check(problem, function)
        functions.append(function)
    print(f"scipy_convergence: f, gradient and Hessian at the start of all {len(problems)} problems match the "
          "C++ export", file=sys.stderr)

    results = []
    for problem, function in zip(problems, functions):
        runs = {method: run(problem, function, method) for method in METHODS}
        # L-BFGS-B again from the perturbed starts, to tell a systematic difference from a chance one.
        perturbed = [run(problem, function, "L-BFGS-B", start) for start in problem.get("perturbed_starts", [])]
        results.append({"id": problem["id"], "name": problem["name"], "dimension": problem["dimension"],
                        "runs": runs,
                        "perturbed": {"L-BFGS-B": [{k: r[k] for k in ("reached", "unbounded", "evaluations",
                                                                        "iterations", "final_f", "where", "failure")}
                                                   for r in perturbed]}})
        summary = ", ".join(f"{m} {r['evaluations'] if r['reached'] else r['failure']}" for m, r in runs.items())
        print(f"  {problem['id']}: {summary}", file=sys.stderr)
    document = {
        "versions": {"python": sys.version.split()[0], "numpy": np.__version__, "scipy": scipy.__version__},
        "target_gradient_norm": TARGET,
        "max_iterations": MAX_ITERATIONS,
        "max_evaluations": MAX_EVALUATIONS,
        "problems": results,
    }
    text = json.dumps(document, indent=1, ensure_ascii=False, allow_nan=False)
    if len(sys.argv) == 3:
        with open(sys.argv[2], "w", encoding="utf-8") as out:
            out.write(text + "\n")
    else:
        print(text)


if __name__ == "__main__":
    main()
