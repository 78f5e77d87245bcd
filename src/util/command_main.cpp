#include "util/command_main.h"

#include <exception>
#include <iostream>

#include "util/omp_env.h"

namespace dpl {

int command_main(int (*run)(int, char**), int argc, char** argv, bool choose_omp) {
  if (choose_omp) choose_omp_wait_policy(argv);
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << std::endl;
  } catch (...) {
    std::cerr << "error: an unexpected failure (not a standard exception)" << std::endl;
  }
  return 1;
}

}  // namespace dpl
