#pragma once
/// \file
/// Every optimizer, schedule and clipping function: `#include <tapegrad/optim/optim.hpp>`.

#include "adagrad.hpp"
#include "adam.hpp"
#include "clip.hpp"
#include "optimizer.hpp"
#include "param_groups.hpp"
#include "rmsprop.hpp"
#include "schedule.hpp"
#include "sgd.hpp"
