// Function minimization (target descent::minimize): minimize() with Newton, Newton-CG, L-BFGS,
// trust-region Newton and every optimizer, objectives, the derivatives toolbox and the test problems.
#pragma once

#include "descent/descent.hpp"
#include "descent/minimize/derivatives.hpp"
#include "descent/minimize/lbfgs.hpp"
#include "descent/minimize/minimize.hpp"
#include "descent/minimize/objective.hpp"
#include "descent/minimize/test_problems.hpp"
