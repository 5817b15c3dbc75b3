// The copying-memory task, or the NTM copy task with --variant ntm: see `copy --help`.
#include "tasks/trainer.hpp"

int main(int argc, char** argv) { return tapegrad::tasks::run_cli("copy", argc, argv); }
