#include "op_support.hpp"

namespace tapegrad::detail {

void throw_dropped_input(const char* op, NodeId id, const std::string& shape) {
    throw ArgumentError(std::string(op) + ": input node #" + std::to_string(id) + " of shape " + shape +
                        " had its value dropped (Tape::drop_value); it can no longer be used by new ops");
}

void throw_grad_shape(const char* op, const Dims& grad, const Dims& input) {
    throw ShapeError(std::string("backward of '") + op + "': gradient of shape " + shape_str(grad) +
                     " for an input of shape " + shape_str(input));
}

template <class T>
void add_reduced(T* dst, const Dims& dshape, const T* src, const Dims& sshape) {
    const std::size_t r = sshape.size();
    if (r == 0) {
        dst[0] += src[0];
        return;
    }
    constexpr std::size_t kMaxRank = 32;
    if (r > kMaxRank) throw ArgumentError("broadcast backward: rank above 32 is not supported");
    // Strides of dst aligned to src's axes; 0 where dst is broadcast.
    std::array<std::size_t, kMaxRank> stride{}, idx{};
    std::size_t s = 1;
    for (std::size_t k = r; k-- > 0;) {
        const std::size_t off = r - dshape.size();
        const std::size_t d = k < off ? 1 : dshape[k - off];
        stride[k] = (d == 1 && sshape[k] != 1) ? 0 : s;
        s *= d;
    }
    const std::size_t inner = sshape[r - 1];
    const std::size_t istride = stride[r - 1];
    const std::size_t total = shape_size(sshape);
    if (total == 0) return;
    std::size_t off = 0;
    for (std::size_t base = 0; base < total; base += inner) {
        const T* sp = src + base;
        if (istride == 0) {
            T acc = 0;
            for (std::size_t i = 0; i < inner; ++i) acc += sp[i];
            dst[off] += acc;
        } else {
            T* dp = dst + off;
            for (std::size_t i = 0; i < inner; ++i) dp[i] += sp[i];
        }
        for (std::size_t k = r - 1; k-- > 0;) {
            ++idx[k];
            off += stride[k];
            if (idx[k] < sshape[k]) break;
            off -= stride[k] * sshape[k];
            idx[k] = 0;
        }
    }
}

template void add_reduced<float>(float*, const Dims&, const float*, const Dims&);
template void add_reduced<double>(double*, const Dims&, const double*, const Dims&);

}  // namespace tapegrad::detail
