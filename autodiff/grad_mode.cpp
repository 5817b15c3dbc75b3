#include "grad_mode.hpp"

namespace tapegrad {

namespace {
thread_local bool t_grad_enabled = true;
}

bool grad_enabled() noexcept { return t_grad_enabled; }

NoGradGuard::NoGradGuard() noexcept : previous_(t_grad_enabled) { t_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { t_grad_enabled = previous_; }

}  // namespace tapegrad
