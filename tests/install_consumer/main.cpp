// A project outside the tree, built against the installed package.
#include <iostream>

#include <tapegrad/tapegrad.hpp>

int main() {
    namespace tg = tapegrad;
    tg::Tape<double> tape;
    tg::Tensor<double> x0 = 3.0;
    auto x = tape.variable(x0);
    auto y = x * x;  // dy/dx = 2x = 6
    tape.backward(y);
    std::cout << "grad " << x.grad()() << '\n';
}
