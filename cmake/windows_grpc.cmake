# Imports the gRPC libraries scripts/build_windows_deps.sh built for Windows.
# It builds only grpc++ and what it links (not gRPC's whole install set), so
# there is no gRPCConfig.cmake; these targets mirror gRPC 1.51's own link
# lines (its CMakeLists.txt: target_link_libraries of gpr, upb,
# address_sorting, grpc, grpc++).
find_package(absl CONFIG REQUIRED)
find_package(c-ares CONFIG REQUIRED)
find_package(re2 CONFIG REQUIRED)
set(ZLIB_USE_STATIC_LIBS ON)  # one self-contained .exe
find_package(ZLIB REQUIRED)

function(adsync_import_grpc_library name)
  find_library(ADSYNC_GRPC_LIB_${name} NAMES lib${name}.a REQUIRED
    PATHS ${ADSYNC_WINDOWS_PREFIX}/lib NO_DEFAULT_PATH)
  add_library(gRPC::${name} STATIC IMPORTED GLOBAL)
  set_target_properties(gRPC::${name} PROPERTIES
    IMPORTED_LOCATION ${ADSYNC_GRPC_LIB_${name}}
    INTERFACE_INCLUDE_DIRECTORIES ${ADSYNC_WINDOWS_PREFIX}/include
    INTERFACE_LINK_LIBRARIES "${ARGN}")
endfunction()

# gRPC's _gRPC_BASELIB_LIBRARIES on Windows.
set(_adsync_grpc_baselibs ws2_32 wsock32 crypt32 gdi32)
adsync_import_grpc_library(upb)
adsync_import_grpc_library(address_sorting ${_adsync_grpc_baselibs})
adsync_import_grpc_library(gpr absl::base absl::core_headers absl::memory
  absl::random_random absl::status absl::cord absl::str_format absl::strings
  absl::synchronization absl::time absl::optional absl::variant)
adsync_import_grpc_library(grpc ${_adsync_grpc_baselibs} ZLIB::ZLIB
  c-ares::cares gRPC::address_sorting re2::re2 gRPC::upb absl::cleanup
  absl::flat_hash_map absl::flat_hash_set absl::inlined_vector
  absl::any_invocable absl::bind_front absl::function_ref absl::hash
  absl::type_traits absl::statusor absl::span absl::utility gRPC::gpr
  OpenSSL::SSL OpenSSL::Crypto)
adsync_import_grpc_library(grpc++ ${_adsync_grpc_baselibs}
  protobuf::libprotobuf gRPC::grpc)
