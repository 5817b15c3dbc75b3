#pragma once
/// \file
/// `detail::run_two_parts`: one piece of work split in two, one part on the
/// calling thread and one on a helper thread the process keeps.
///
/// libxsmm's kernels are single-threaded. On two OpenBLAS threads a medium
/// product cut in two halves, one per thread, runs libxsmm's AVX-512 kernels
/// on both cores (small_gemm.cpp); starting a thread per product would cost
/// more than a half of one takes. The helper waits for work by spinning
/// briefly (products come in bursts: a recurrent step runs several in a row)
/// and then sleeps on a futex, so an idle helper costs no CPU.

namespace tapegrad::detail {

/// A part of a split piece of work: called with the caller's context and the
/// part's index (0 on the calling thread, 1 on the helper). Must not throw.
using WorkPart = void (*)(void* context, int part) noexcept;

/// Calls part(context, 0) here and part(context, 1) on the helper thread, and
/// returns true once both have returned. Returns false, having called
/// nothing, when the helper is taken by another thread's call, cannot be
/// started, or is not in this process (a child after fork): the caller then
/// does the whole work itself.
bool run_two_parts(WorkPart part, void* context);

}  // namespace tapegrad::detail
