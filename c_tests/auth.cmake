# Included by c_tests/CMakeLists.txt: the fixture generator of test_auth.
#
# test_auth.c needs operator, account and user JWTs, NKey seeds and .creds files made at run
# time (some expire seconds after they are made). They come from a small Rust program,
# c_tests/tools/jwt_fixtures.rs, built here with cargo as the example `nats_test_jwt_fixtures`
# of the repository's Cargo.toml (it uses the crate's nkeys, serde_json and base64). Its path
# reaches test_auth as the compile definition NATS_TEST_JWT_FIXTURES (the environment variable
# of the same name overrides it at run time).
#
# Inside the top-level project it uses the same cargo, profile, flags and target directory as
# the library build (CARGO_EXECUTABLE, CARGO_PROFILE, NATS_CARGO_FLAGS,
# NATS_CARGO_TARGET_DIR). Standalone (e.g. -DNATS_TEST_AGAINST_SYSTEM=ON) it builds into
# <build>/cargo-target unless -DNATS_CARGO_TARGET_DIR=... is given. Without cargo, test_auth
# is built without fixtures and skips itself (exit 77).

if(NOT TARGET test_auth)
  return()
endif()

if(NOT CARGO_EXECUTABLE)
  find_program(CARGO_EXECUTABLE cargo HINTS "$ENV{CARGO_HOME}/bin" "$ENV{HOME}/.cargo/bin")
endif()
get_filename_component(_nats_auth_root "${CMAKE_CURRENT_SOURCE_DIR}/.." ABSOLUTE)
if(NOT CARGO_EXECUTABLE OR NOT EXISTS "${_nats_auth_root}/Cargo.toml")
  message(STATUS "c_tests: cargo or Cargo.toml not found, test_auth will skip itself")
  return()
endif()

if(CARGO_PROFILE)
  set(_nats_auth_profile "${CARGO_PROFILE}")
else()
  set(_nats_auth_profile "release")
endif()
if(_nats_auth_profile STREQUAL "dev" OR _nats_auth_profile STREQUAL "test")
  set(_nats_auth_profile_dir "debug")
elseif(_nats_auth_profile STREQUAL "bench")
  set(_nats_auth_profile_dir "release")
else()
  set(_nats_auth_profile_dir "${_nats_auth_profile}")
endif()

if(NATS_CARGO_TARGET_DIR)
  set(_nats_auth_target_dir "${NATS_CARGO_TARGET_DIR}")
else()
  set(_nats_auth_target_dir "${CMAKE_CURRENT_BINARY_DIR}/cargo-target")
endif()

set(NATS_TEST_JWT_FIXTURES_BIN
    "${_nats_auth_target_dir}/${_nats_auth_profile_dir}/examples/nats_test_jwt_fixtures")

add_custom_command(
  OUTPUT "${NATS_TEST_JWT_FIXTURES_BIN}"
  COMMAND ${CMAKE_COMMAND} -E env "CARGO_TARGET_DIR=${_nats_auth_target_dir}"
          "${CARGO_EXECUTABLE}" build --profile "${_nats_auth_profile}"
          --example nats_test_jwt_fixtures
          --manifest-path "${_nats_auth_root}/Cargo.toml"
          ${NATS_CARGO_FLAGS}
  DEPENDS "${CMAKE_CURRENT_SOURCE_DIR}/tools/jwt_fixtures.rs"
          "${_nats_auth_root}/Cargo.toml"
  WORKING_DIRECTORY "${_nats_auth_root}"
  COMMENT "Building the JWT fixture tool of test_auth with cargo"
  USES_TERMINAL
  VERBATIM)

add_custom_target(nats_test_jwt_fixtures ALL DEPENDS "${NATS_TEST_JWT_FIXTURES_BIN}")
# In the top-level project, let the library build go first: both use the same cargo target
# directory, and the example build then reuses the compiled crate instead of waiting on it.
if(TARGET nats_cargo_build)
  add_dependencies(nats_test_jwt_fixtures nats_cargo_build)
endif()
add_dependencies(test_auth nats_test_jwt_fixtures)
target_compile_definitions(test_auth PRIVATE
  "NATS_TEST_JWT_FIXTURES=\"${NATS_TEST_JWT_FIXTURES_BIN}\"")
