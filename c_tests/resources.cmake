# Process exit programs (included by c_tests/CMakeLists.txt, in its scope).
#
#   exit_live MODE   exits with live connections, pending deliveries, a drain, a reconnect,
#                    a background connect retry and threads blocked in the library:
#                    MODE = return (from main), exit (exit(0) from main), callback (exit(0)
#                    from a message handler)
#   never_used       links the library and never calls it
#
# Each must exit with status 0, without crashing and without hanging (TIMEOUT; exit_live
# also arms an alarm). Under valgrind (ctest -L memcheck -T memcheck) no error either.

add_executable(exit_live exit_live.c)
set_target_properties(exit_live PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(exit_live PRIVATE ${_nats_ct_warn})
target_link_libraries(exit_live PRIVATE nats_ct_harness)

foreach(_mode return exit callback)
  add_test(NAME c_exit_live_${_mode} COMMAND exit_live ${_mode})
  set_tests_properties(c_exit_live_${_mode} PROPERTIES
    TIMEOUT 300
    LABELS "c_api;memcheck")
  if(_nats_ct_env)
    set_tests_properties(c_exit_live_${_mode} PROPERTIES ENVIRONMENT "${_nats_ct_env}")
  endif()
endforeach()

add_executable(never_used never_used.c)
set_target_properties(never_used PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON C_EXTENSIONS OFF)
target_compile_options(never_used PRIVATE ${_nats_ct_warn})
target_link_libraries(never_used PRIVATE ${_nats_ct_target})
add_test(NAME c_never_used COMMAND never_used)
set_tests_properties(c_never_used PROPERTIES
  TIMEOUT 120
  LABELS "c_api;memcheck")
