#pragma once
/// \file
/// Flushing denormal numbers to zero, as PyTorch's `torch.set_flush_denormal`.
///
/// A gradient that fades through many recurrent steps (the vanishing
/// gradient of a long sequence, a loss on the last state only) passes
/// through denormal floats, below 1.2e-38 in float, and x86 CPUs compute with
/// those up to a hundred times slower. Flushing them to zero trades that
/// tail of tiny values, far below anything that moves a weight, for speed.
/// Off by default: results then follow IEEE 754 exactly.

namespace tapegrad {

/// Sets flush-to-zero (results) and denormals-are-zero (inputs) for this
/// thread's SSE/AVX arithmetic, the library's elementwise kernels and the
/// BLAS calls made from this thread. Threads started earlier (OpenBLAS's
/// worker threads) keep their own setting: with several BLAS threads the
/// GEMMs they run may still meet denormals. Returns false, changing
/// nothing, where the CPU has no such mode (outside x86-64).
bool set_flush_denormal(bool on) noexcept;
/// Whether this thread flushes denormals.
bool flush_denormal() noexcept;

/// `set_flush_denormal(on)` for a scope; restores the previous mode on exit.
class FlushDenormalGuard {
public:
    explicit FlushDenormalGuard(bool on = true) noexcept : previous_(flush_denormal()) { set_flush_denormal(on); }
    ~FlushDenormalGuard() { set_flush_denormal(previous_); }
    FlushDenormalGuard(const FlushDenormalGuard&) = delete;
    FlushDenormalGuard& operator=(const FlushDenormalGuard&) = delete;

private:
    bool previous_;
};

}  // namespace tapegrad
