# capi.dynamic: dynamic calls (polyrpc/dynamic.h) from C against a real gRPC server, included by
# capi/tests/CMakeLists.txt. The server (dynamic_test_server.cc) is grpc++ 1.51 with its
# reflection plugin; the grpc.testing protos come from Debian's grpc-proto package and are
# compiled here, into the build folder, with the FileDescriptorSet the test loads.
find_package(Protobuf REQUIRED)
pkg_check_modules(CAPI_DYN_GRPCXX REQUIRED IMPORTED_TARGET grpc++)
find_program(CAPI_DYN_GRPC_CPP_PLUGIN grpc_cpp_plugin REQUIRED)
find_library(CAPI_DYN_GRPCXX_REFLECTION grpc++_reflection REQUIRED)
set(GRPC_PROTO_ROOT /usr/share/grpc-proto CACHE PATH "Root of the grpc/... proto files")

set(_dyn_gen ${CMAKE_CURRENT_BINARY_DIR}/dynamic_gen)
set(_dyn_srcs)
set(_dyn_deps)
foreach(name empty messages test)
  list(APPEND _dyn_deps ${GRPC_PROTO_ROOT}/grpc/testing/${name}.proto)
  list(APPEND _dyn_srcs ${_dyn_gen}/grpc/testing/${name}.pb.cc
                        ${_dyn_gen}/grpc/testing/${name}.grpc.pb.cc)
endforeach()
add_custom_command(
  OUTPUT ${_dyn_srcs} ${_dyn_gen}/grpc_testing.fds
  COMMAND ${CMAKE_COMMAND} -E make_directory ${_dyn_gen}
  COMMAND ${POLYRPC_DYNAMIC_PROTOC} -I${GRPC_PROTO_ROOT}
          --cpp_out=${_dyn_gen} --grpc_out=${_dyn_gen}
          --plugin=protoc-gen-grpc=${CAPI_DYN_GRPC_CPP_PLUGIN}
          --descriptor_set_out=${_dyn_gen}/grpc_testing.fds --include_imports
          grpc/testing/empty.proto grpc/testing/messages.proto grpc/testing/test.proto
  DEPENDS ${_dyn_deps}
  COMMENT "protoc: grpc.testing protos and their FileDescriptorSet, for capi.dynamic"
  VERBATIM)

add_executable(capi_dynamic_test_server dynamic_test_server.cc ${_dyn_srcs})
target_include_directories(capi_dynamic_test_server PRIVATE ${_dyn_gen})
target_link_libraries(capi_dynamic_test_server PRIVATE PkgConfig::CAPI_DYN_GRPCXX
                      ${CAPI_DYN_GRPCXX_REFLECTION} ${Protobuf_LIBRARIES} Threads::Threads)
set_source_files_properties(${_dyn_srcs} PROPERTIES COMPILE_OPTIONS -w)  # generated code

# google/protobuf/struct.proto's FileDescriptorSet (google.protobuf.Value's JSON cases).
add_custom_command(
  OUTPUT ${_dyn_gen}/struct.fds
  COMMAND ${CMAKE_COMMAND} -E make_directory ${_dyn_gen}
  COMMAND ${POLYRPC_DYNAMIC_PROTOC} -I${Protobuf_INCLUDE_DIR}
          --descriptor_set_out=${_dyn_gen}/struct.fds google/protobuf/struct.proto
  COMMENT "protoc: google/protobuf/struct.proto's FileDescriptorSet, for capi.dynamic"
  VERBATIM)
add_custom_target(capi_dynamic_struct_fds DEPENDS ${_dyn_gen}/struct.fds)

add_executable(capi_test_dynamic test_dynamic.c)
target_link_libraries(capi_test_dynamic PRIVATE capi_test_util)
add_dependencies(capi_test_dynamic capi_dynamic_test_server capi_dynamic_struct_fds)
set(_dyn_env "POLYRPC_DYNAMIC_SERVER=$<TARGET_FILE:capi_dynamic_test_server>"
             "POLYRPC_DYNAMIC_FDS=${_dyn_gen}/grpc_testing.fds"
             "POLYRPC_DYNAMIC_STRUCT_FDS=${_dyn_gen}/struct.fds")
add_test(NAME capi.dynamic COMMAND capi_test_dynamic)
set_tests_properties(capi.dynamic PROPERTIES LABELS capi TIMEOUT 120 ENVIRONMENT "${_dyn_env}")

# capi.services: the health and reflection services of a C server (test_services.c).
add_executable(capi_test_services test_services.c)
target_link_libraries(capi_test_services PRIVATE capi_test_util)
add_test(NAME capi.services COMMAND capi_test_services)
set_tests_properties(capi.services PROPERTIES LABELS capi TIMEOUT 120 ENVIRONMENT "${_dyn_env}")

if(VALGRIND)
  # Only the test process runs under valgrind (the server is a child it starts).
  add_test(NAME capi.valgrind.dynamic COMMAND ${VG} $<TARGET_FILE:capi_test_dynamic>)
  set_tests_properties(capi.valgrind.dynamic PROPERTIES
    LABELS "capi;valgrind" TIMEOUT 240 ENVIRONMENT "${_dyn_env}")
endif()

# capi.dynamic.reflection_v1: reflection against grpc-go (capi/tests/dynamic_v1_server), the one
# real server at hand that serves grpc.reflection.v1. Built with the Go toolchain (>= 1.26, what
# grpc-go 1.85 needs; modules from the Go module proxy, pinned by go.sum). Without one, the
# test still runs and reports itself skipped, with the reason.
find_program(CAPI_DYN_GO go)
set(_dyn_v1_env)
if(CAPI_DYN_GO)
  execute_process(COMMAND ${CAPI_DYN_GO} env GOVERSION OUTPUT_VARIABLE _dyn_go_version
                  OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  string(REGEX REPLACE "^go([0-9]+\\.[0-9]+).*" "\\1" _dyn_go_version "${_dyn_go_version}")
  if(_dyn_go_version VERSION_LESS 1.26)
    message(STATUS "capi.dynamic.reflection_v1: Go ${_dyn_go_version} is older than 1.26; skipped")
    set(CAPI_DYN_GO "")
  endif()
endif()
if(CAPI_DYN_GO)
  set(_dyn_v1_src ${CMAKE_CURRENT_SOURCE_DIR}/dynamic_v1_server)
  set(_dyn_v1_bin ${CMAKE_CURRENT_BINARY_DIR}/dynamic_v1/capi_dynamic_v1_server)
  add_custom_command(
    OUTPUT ${_dyn_v1_bin}
    COMMAND ${CMAKE_COMMAND} -E env GOFLAGS=-mod=readonly GOTOOLCHAIN=local
            ${CAPI_DYN_GO} build -o ${_dyn_v1_bin} .
    WORKING_DIRECTORY ${_dyn_v1_src}
    DEPENDS ${_dyn_v1_src}/main.go ${_dyn_v1_src}/go.mod ${_dyn_v1_src}/go.sum
    COMMENT "go build: the grpc-go reflection v1 server for capi.dynamic.reflection_v1"
    VERBATIM)
  add_custom_target(capi_dynamic_v1_server_build ALL DEPENDS ${_dyn_v1_bin})
  add_dependencies(capi_test_dynamic capi_dynamic_v1_server_build)
  set(_dyn_v1_env "POLYRPC_DYNAMIC_V1_SERVER=${_dyn_v1_bin}")
else()
  message(STATUS "capi.dynamic.reflection_v1: no Go toolchain; the test will report itself skipped")
endif()
add_test(NAME capi.dynamic.reflection_v1 COMMAND capi_test_dynamic reflection_v1)
set_tests_properties(capi.dynamic.reflection_v1 PROPERTIES
  LABELS capi TIMEOUT 120 SKIP_RETURN_CODE 77 ENVIRONMENT "${_dyn_env};${_dyn_v1_env}")
