# Installs the built descent into a scratch prefix, then builds and runs the consumer project three
# times: through find_package(descent) (the optimizers alone; they need OpenBLAS for Muon, which the
# package config finds for the user), through find_package(descent COMPONENTS nn), and through
# FetchContent of the source tree.
# cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -P check.cmake
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE result OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGN}\n${out}\n${err}")
  endif()
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
foreach(mode find_package find_package_nn fetch_content)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/package/consumer -B ${WORK_DIR}/${mode} -DCMAKE_BUILD_TYPE=Release
      -DDESCENT_CONSUMER_MODE=${mode} -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DDESCENT_SOURCE_DIR=${SOURCE_DIR})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/${mode} -j 2)
  set(programs consumer)
  if(NOT mode STREQUAL "find_package")
    list(APPEND programs consumer_nn)
  endif()
  foreach(program IN LISTS programs)
    execute_process(COMMAND ${WORK_DIR}/${mode}/${program} RESULT_VARIABLE result OUTPUT_VARIABLE out)
    if(NOT result EQUAL 0)
      message(FATAL_ERROR "${mode}: ${program} did not run as expected (exit ${result}): ${out}")
    endif()
    message(STATUS "${mode} ${program}: ${out}")
  endforeach()
endforeach()
