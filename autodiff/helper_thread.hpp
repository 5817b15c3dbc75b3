#pragma once
/// \file
/// `detail::run_parts`: one piece of work cut in parts that the calling
/// thread and a helper thread the process keeps take in turn.
///
/// libxsmm's kernels are single-threaded. On two OpenBLAS threads a medium
/// product cut in pieces of C's columns or rows runs libxsmm's AVX-512
/// kernels on both cores (small_gemm.cpp); starting a thread per product
/// would cost more than a piece takes. The helper waits for work by spinning
/// for 2 ms (products come in bursts: a recurrent step runs several in a
/// row) and then sleeps on a futex, so an idle helper costs no CPU.
///
/// The parts are handed out one at a time, whoever is free takes the next:
/// when the helper's core is shared (another process, or OpenBLAS's idle
/// threads polling after a product someone else ran), the caller simply
/// takes more of them, and when the helper wakes too late it takes none.

#include <cstddef>

namespace tapegrad::detail {

/// A part of a cut piece of work: called with the caller's context and the
/// part's index, on the calling thread or on the helper. Must not throw.
using WorkPart = void (*)(void* context, std::size_t part) noexcept;

/// Calls part(context, i) for every i in [0, count), each exactly once, and
/// returns when all have returned (what the helper wrote is then visible
/// here). Returns how many of them the helper ran: 0 when it is taken by
/// another thread's call, was too late, cannot be started, or is not in
/// this process (a child after fork); the calling thread ran the rest.
std::size_t run_parts(std::size_t count, WorkPart part, void* context);

}  // namespace tapegrad::detail
