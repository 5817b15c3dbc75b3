#pragma once
/// \file
/// Thread-local gradient recording switch.

namespace tapegrad {

/// True when ops recorded on this thread take part in backward.
bool grad_enabled() noexcept;

/// Within its scope, ops on this thread still record their node (the value
/// lives on the tape like any other, until `clear()`), but no node requires a
/// gradient: backward passes nothing through them. Nests; restores the
/// previous mode on exit, also when an exception leaves the scope.
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
