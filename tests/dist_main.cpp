// The distributed tests' main: MPI around Catch2's session. Run under
// `mpirun -np N` (tests/CMakeLists.txt); every rank runs every test case in
// the same order, as the collectives inside them need.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <span>

#include <tapegrad/optim/dist/dist.hpp>

int main(int argc, char** argv) {
    tapegrad::dist::Session mpi(argc, argv);
    const int failed = Catch::Session().run(argc, argv);
    // Every rank exits with the job's verdict: a failure on any rank fails
    // them all. (A rank that left a test case early may leave the others in
    // a collective: ctest's timeout ends such a hang.)
    double any = failed != 0 ? 1.0 : 0.0;
    tapegrad::dist::allreduce_sum(std::span<double>(&any, 1));
    return any > 0 ? 1 : 0;
}
