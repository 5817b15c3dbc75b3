// set_flush_denormal: denormal results and inputs become zero on this thread
// while it is on, and IEEE 754 arithmetic comes back when it is off.
#include <limits>

#include "test_util.hpp"

namespace tg = tapegrad;

namespace {
// Through a volatile, so that the compiler cannot fold the arithmetic.
float times(float a, float b) {
    volatile float x = a, y = b;
    return x * y;
}
}  // namespace

TEST_CASE("set_flush_denormal flushes denormal results and inputs on this thread, and restores", "[float_mode]") {
    const float tiny = std::numeric_limits<float>::min();  // the smallest normal float, 1.18e-38
    const float denormal = std::numeric_limits<float>::denorm_min();
    REQUIRE_FALSE(tg::flush_denormal());  // off by default
    REQUIRE(times(tiny, 0.5f) > 0.0f);    // a denormal result
    REQUIRE(times(denormal, 2.0f) == 2.0f * denormal);
    {
        tg::FlushDenormalGuard flush;
        REQUIRE(tg::flush_denormal());
        CHECK(times(tiny, 0.5f) == 0.0f);      // flush to zero
        CHECK(times(denormal, 2.0f) == 0.0f);  // denormals are zero
        CHECK(times(tiny, 2.0f) == 2.0f * tiny);  // normal numbers untouched
        // The library's kernels run on this thread too: a denormal through tanh is 0.
        tg::Tape<float> tape;
        const tg::Tensor<float> x{denormal, tiny};
        const tg::Tensor<float> y = tape.value(tg::tanh(tape.constant(x)) * 0.5f);
        CHECK(y(0) == 0.0f);
        CHECK(y(1) == 0.0f);
    }
    REQUIRE_FALSE(tg::flush_denormal());  // the guard restored IEEE arithmetic
    REQUIRE(times(tiny, 0.5f) > 0.0f);
    REQUIRE(tg::set_flush_denormal(true));  // supported on x86-64
    REQUIRE(tg::flush_denormal());
    tg::set_flush_denormal(false);
    REQUIRE_FALSE(tg::flush_denormal());
}
