// descent: optimizers for neural networks and function minimization. Include this for everything in the
// target descent::descent; the neural network and data front end is descent/nn.hpp (target descent::nn).
#pragma once

#include "descent/checkpoint.hpp"
#include "descent/compose.hpp"
#include "descent/dtype.hpp"
#include "descent/error.hpp"
#include "descent/factory.hpp"
#include "descent/optimizer.hpp"
#include "descent/options.hpp"
#include "descent/optimizers/adadelta.hpp"
#include "descent/optimizers/adagrad.hpp"
#include "descent/optimizers/adam.hpp"
#include "descent/optimizers/adamax.hpp"
#include "descent/optimizers/lamb.hpp"
#include "descent/optimizers/lars.hpp"
#include "descent/optimizers/muon.hpp"
#include "descent/optimizers/nadam.hpp"
#include "descent/optimizers/radam.hpp"
#include "descent/optimizers/rmsprop.hpp"
#include "descent/optimizers/sgd.hpp"
#include "descent/parameter.hpp"
#include "descent/schedule.hpp"
