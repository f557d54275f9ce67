# Installing strata like a library (docs/install.md): strata.pc, the CMake
# package (find_package(strata) -> strata::strata, STRATA_PRELOAD_LIBRARY) and
# the Debian package built by CPack.
include(CMakePackageConfigHelpers)

# strata.pc, relocatable: prefix is found from the .pc file's own place.
set(STRATA_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
file(RELATIVE_PATH STRATA_PC_TO_PREFIX /${STRATA_PC_DIR} /)
string(REGEX REPLACE "/$" "" STRATA_PC_TO_PREFIX "${STRATA_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/strata.pc.in ${CMAKE_BINARY_DIR}/strata.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/strata.pc DESTINATION ${STRATA_PC_DIR})

set(STRATA_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/strata)
install(EXPORT strataTargets NAMESPACE strata:: DESTINATION ${STRATA_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/strataConfig.cmake.in
  ${CMAKE_BINARY_DIR}/strataConfig.cmake INSTALL_DESTINATION ${STRATA_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/strataConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CMAKE_BINARY_DIR}/strataConfig.cmake ${CMAKE_BINARY_DIR}/strataConfigVersion.cmake
  DESTINATION ${STRATA_CMAKE_DIR})

# --- the .deb: cpack -G DEB --config build/CPackConfig.cmake ------------------
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME strata)
set(CPACK_PACKAGE_VENDOR "strata")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "tiered memory for unmodified Linux programs")
set(CPACK_PACKAGE_DESCRIPTION
  "strata places the memory of unmodified programs on DRAM, CXL and PMEM tiers by\n"
  "interposing their allocations (LD_PRELOAD=libstrata.so or strata-run), migrates\n"
  "hot and cold pages, and profiles allocation sites (strata-report).")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "strata developers <strata@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION utils)
# Depends: what the binaries NEED, found by dpkg-shlibdeps (jemalloc is linked
# in statically and privately, so it is not one). libstrata dlopens libdw (site
# names for STRATA_POLICY site= rules) and libpmem2 (PMEM file heaps) only when
# they are used: recommended, not required.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libdw1, libpmem2")
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_STRIP_FILES OFF)
# Only what an installation needs: tests and benchmarks install nothing.
include(CPack)
