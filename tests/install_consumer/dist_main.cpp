// A user's data-parallel program against the installed package: run alone it
// is a world of one (under mpirun -np N, N replicas). It must compile with
// the consumer's flags and link MPI through tapegrad::dist alone.
#include <cstdio>

#include <tapegrad/optim/dist/data_parallel.hpp>
#include <tapegrad/optim/dist/shard.hpp>
#include <tapegrad/tapegrad.hpp>

namespace tg = tapegrad;

int main(int argc, char** argv) {
    tg::dist::Session mpi(argc, argv);
    tg::Generator gen(1);
    tg::Linear<float> model(3, 1, gen);
    tg::SGD<float> opt(model.parameters(), {.lr = 0.1});
    tg::dist::DataParallel<float> parallel(opt.params(), {.bucket_bytes = 1 << 16});
    const tg::dist::Shard shard = tg::dist::shard_of(8, tg::dist::rank(), tg::dist::world_size());
    tg::Tape<float> tape;
    const tg::Tensor<float> x = tg::ones<float>({shard.rows(), std::size_t(3)}), y = tg::zeros<float>({shard.rows(), std::size_t(1)});
    auto loss = tg::mse_loss(model(tape.constant(x)), tape.constant(y));
    parallel.backward(tape, loss, shard.share);
    opt.step();
    tg::dist::check_in_sync(opt.params(), "consumer");
    std::printf("dist: rank %d of %d, %zu buckets\n", tg::dist::rank(), tg::dist::world_size(), parallel.last_stats().buckets);
}
