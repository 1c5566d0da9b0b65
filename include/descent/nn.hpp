// descent's neural network and data front end: a multilayer perceptron on OpenBLAS, IDX and CSV data
// sets, and a training loop over any descent optimizer. Link the target descent::nn
// (find_package(descent COMPONENTS nn)); the optimizers alone (descent/descent.hpp) do not need it.
#pragma once

#include "descent/nn/data.hpp"
#include "descent/nn/mlp.hpp"
#include "descent/nn/train.hpp"
