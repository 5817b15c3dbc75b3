// The adding problem (Arjovsky et al. 2016): see `adding --help`.
#include "tasks/trainer.hpp"

int main(int argc, char** argv) { return tapegrad::tasks::run_cli("adding", argc, argv); }
