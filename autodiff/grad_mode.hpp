#pragma once
/// \file
/// Thread-local gradient recording switch.

namespace tapegrad {

/// True when ops on this thread record parents and backward functions.
bool grad_enabled() noexcept;

/// Within its scope, ops on this thread record plain constants: no parents,
/// no backward, nothing flows back through them. Nests; restores the previous
/// mode on exit, also when an exception leaves the scope.
class NoGradGuard {
public:
    NoGradGuard() noexcept;
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

}  // namespace tapegrad
