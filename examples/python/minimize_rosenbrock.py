#!/usr/bin/env python3
"""SciPy-style minimization with descent: Rosenbrock in 10 dimensions by Newton-CG (Hessian-vector
products), L-BFGS and trust-region Newton, beside scipy.optimize.minimize with the same derivatives.

    PYTHONPATH=build/test/python /usr/bin/python3 examples/python/minimize_rosenbrock.py
"""
import numpy as np
from scipy.optimize import minimize as scipy_minimize
from scipy.optimize import rosen, rosen_der, rosen_hess_prod

import descent


def main():
    x0 = np.tile([-1.2, 1.0], 5)
    print("%-20s %5s %6s %12s %s" % ("method", "nit", "nfev", "f", "stop"))
    for method in ("newton-cg", "lbfgs", "trust-ncg", "trust-krylov"):
        r = descent.minimize(lambda x: (rosen(x), rosen_der(x)), x0, method=method, jac=True,
                             hessp=rosen_hess_prod, options={"gtol": 1e-8})
        print("%-20s %5d %6d %12.3e %s" % ("descent " + method, r.nit, r.nfev, r.fun, r.message))
    for method in ("Newton-CG", "trust-ncg", "trust-krylov"):
        r = scipy_minimize(rosen, x0, method=method, jac=rosen_der, hessp=rosen_hess_prod)
        print("%-20s %5d %6d %12.3e %s" % ("scipy " + method, r.nit, r.nfev, r.fun, r.message))


if __name__ == "__main__":
    main()
