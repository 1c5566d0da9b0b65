# Install rules and the package files that make find_package(descent) work: descent::descent (the
# optimizers and checkpoints) in descentTargets.cmake, and the components descent::minimize and descent::nn
# in descentMinimizeTargets.cmake and descentNNTargets.cmake, read only when a user asks for them. All
# three need OpenBLAS (descent::descent for Muon's matrix products).
include(CMakePackageConfigHelpers)

install(TARGETS descent EXPORT descentTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS descent_minimize EXPORT descentMinimizeTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS descent_nn EXPORT descentNNTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(DESCENT_WITH_TORCH)
  install(TARGETS descent_torch EXPORT descentTorchTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endif()
install(DIRECTORY include/descent DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(DESCENT_WITH_MPI)  # the component descent::dist (find_package(descent COMPONENTS dist)), which needs MPI
  install(TARGETS descent_dist EXPORT descentDistTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
    INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endif()

set(DESCENT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/descent)
install(EXPORT descentTargets NAMESPACE descent:: DESTINATION ${DESCENT_CMAKE_DIR})
install(EXPORT descentNNTargets NAMESPACE descent:: DESTINATION ${DESCENT_CMAKE_DIR})
install(EXPORT descentMinimizeTargets NAMESPACE descent:: DESTINATION ${DESCENT_CMAKE_DIR})
if(DESCENT_WITH_TORCH)
  install(EXPORT descentTorchTargets NAMESPACE descent:: DESTINATION ${DESCENT_CMAKE_DIR})
endif()
if(DESCENT_WITH_MPI)
  install(EXPORT descentDistTargets NAMESPACE descent:: DESTINATION ${DESCENT_CMAKE_DIR})
endif()
configure_package_config_file(cmake/descentConfig.cmake.in ${PROJECT_BINARY_DIR}/descentConfig.cmake
  INSTALL_DESTINATION ${DESCENT_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/descentConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/descentConfig.cmake ${PROJECT_BINARY_DIR}/descentConfigVersion.cmake
  DESTINATION ${DESCENT_CMAKE_DIR})
