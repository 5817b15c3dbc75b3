# Included by ctest after the discovered Catch2 tests (see CMakeLists.txt).
# COST orders scheduling only: the longest first. Figures are seconds under
# ASan+UBSan on 2 cores, where the order matters most.
# ("short copy and NTM copy runs beat their baselines clearly", [learning],
# runs in plain builds only: 12 s.)
set_tests_properties("weight gradients of thin products are exact whether or not backward gathers them" PROPERTIES COST 62)
set_tests_properties(kill_during_checkpoint PROPERTIES COST 51)
set_tests_properties(example_custom_model PROPERTIES COST 14)
set_tests_properties(install_and_consume PROPERTIES COST 13)
set_tests_properties(example_classify_quick PROPERTIES COST 29)
