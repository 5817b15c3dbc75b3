#pragma once
/// \file
/// Everything tapegrad offers, in one include: `#include <tapegrad/tapegrad.hpp>`.

#include "autodiff/custom_op.hpp"
#include "autodiff/errors.hpp"
#include "autodiff/grad_mode.hpp"
#include "autodiff/gradcheck.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/parameter.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "autodiff/var.hpp"
#include "layers/dropout.hpp"
#include "layers/embedding.hpp"
#include "layers/init.hpp"
#include "layers/layer_norm.hpp"
#include "layers/linear.hpp"
#include "layers/cell.hpp"
#include "layers/module.hpp"
#include "layers/recurrent.hpp"
#include "optim/optim.hpp"
#include "io/checkpoint.hpp"
#include "io/npz.hpp"
