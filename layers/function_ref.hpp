#pragma once
/// \file
/// `FunctionRef<R(A...)>`: a non-owning reference to a callable.

#include <memory>
#include <type_traits>
#include <utility>

namespace tapegrad::detail {

/// An object pointer and a function pointer: calling it is one indirect call,
/// and making it never allocates (a `std::function` holding a lambda that
/// captures more than two pointers does, which a training step must not).
/// It refers to the callable, which must outlive it: pass lambdas by name.
template <class Signature>
class FunctionRef;

template <class R, class... A>
class FunctionRef<R(A...)> {
public:
    template <class F>
        requires(!std::is_same_v<std::remove_cvref_t<F>, FunctionRef> && std::is_invocable_r_v<R, F&, A...>)
    FunctionRef(F& f) noexcept
        : object_(const_cast<void*>(static_cast<const void*>(std::addressof(f)))),
          call_([](void* object, A... args) -> R { return (*static_cast<F*>(object))(std::forward<A>(args)...); }) {}

    R operator()(A... args) const { return call_(object_, std::forward<A>(args)...); }

private:
    void* object_;
    R (*call_)(void*, A...);
};

}  // namespace tapegrad::detail
