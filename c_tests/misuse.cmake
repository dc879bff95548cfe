# Included by c_tests/CMakeLists.txt (the test program itself, test_misuse, is registered
# there with the other programs).
#
# c_test_misuse_coverage: fails when c_tests/misuse_generated.inc (the API-misuse sweep of
# test_misuse.c) no longer matches include/nats/nats.h, for instance when the header gained
# a function the sweep does not cover. Fix: python3 c_tests/tools/gen_misuse.py, then add
# expectations to its EXCEPTIONS table if it asks for them.
#
# The header is always the repository's (the generated file is made from it), also when the
# C tests are built against another library. Labelled c_api only: not a memcheck program.
set(_nats_misuse_dir "${CMAKE_CURRENT_LIST_DIR}")
set(_nats_misuse_header "${_nats_misuse_dir}/../include/nats/nats.h")

find_package(Python3 COMPONENTS Interpreter QUIET)
if(NOT Python3_Interpreter_FOUND)
  message(WARNING "c_tests: python3 not found, the misuse sweep coverage check (c_test_misuse_coverage) is not registered")
elseif(NOT EXISTS "${_nats_misuse_header}")
  message(STATUS "c_tests: ${_nats_misuse_header} not found, c_test_misuse_coverage not registered")
else()
  add_test(NAME c_test_misuse_coverage
           COMMAND "${Python3_EXECUTABLE}" "${_nats_misuse_dir}/tools/gen_misuse.py" --check
                   --header "${_nats_misuse_header}"
                   --output "${_nats_misuse_dir}/misuse_generated.inc")
  set_tests_properties(c_test_misuse_coverage PROPERTIES TIMEOUT 60 LABELS "c_api")
endif()
