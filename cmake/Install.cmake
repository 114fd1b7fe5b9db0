# Installs the library with an exported package config: find_package(nextlm) then
# link nextlm::nextlm.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_nextlm_targets nextlm nextlm_warnings)
if(NEXTLM_WITH_CUDA)
  list(APPEND _nextlm_targets nextlm_cuda)
endif()
install(TARGETS ${_nextlm_targets} EXPORT nextlmTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/nextlm DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT nextlmTargets NAMESPACE nextlm:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/nextlm)
configure_package_config_file(cmake/nextlmConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/nextlmConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/nextlm)
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/nextlmConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/nextlmConfig.cmake
  ${CMAKE_CURRENT_BINARY_DIR}/nextlmConfigVersion.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/nextlm)
