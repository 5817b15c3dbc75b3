// The distributed tests' main: MPI around Catch2's session. Run under
// `mpirun -np N` (tests/CMakeLists.txt); every rank runs every test case in
// the same order, as the collectives inside them need.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <tapegrad/optim/dist/dist.hpp>

int main(int argc, char** argv) {
    tapegrad::dist::Session mpi(argc, argv);
    const int failed = Catch::Session().run(argc, argv);
    // A rank whose assertions failed may have left the others in a
    // collective; ending the job here turns a hang into a failure.
    int any = failed != 0 ? 1 : 0;
    float f = static_cast<float>(any);
    tapegrad::dist::allreduce_sum(std::span<float>(&f, 1));
    return f > 0 ? 1 : 0;
}
