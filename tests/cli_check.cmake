# Runs the descent CLI and checks its exit status (and, optionally, that it wrote a file, what it printed,
# and that a file it wrote is valid JSON).
# cmake -DCLI=... -DARGS="a|b|c" -DEXPECT=0 [-DFILE=path] [-DSTDERR=regex] [-DSTDOUT=regex] [-DJSON=path]
#       -P cli_check.cmake
string(REPLACE "|" ";" ARGS "${ARGS}")
execute_process(COMMAND ${CLI} ${ARGS} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT status EQUAL EXPECT)
  message(FATAL_ERROR "descent ${ARGS}: exit ${status}, expected ${EXPECT}\n${out}\n${err}")
endif()
if(DEFINED FILE AND NOT EXISTS ${FILE})
  message(FATAL_ERROR "descent ${ARGS}: did not write ${FILE}\n${out}")
endif()
if(DEFINED STDERR AND NOT err MATCHES "${STDERR}")
  message(FATAL_ERROR "descent ${ARGS}: stderr does not mention '${STDERR}':\n${err}")
endif()
if(DEFINED STDOUT AND NOT out MATCHES "${STDOUT}")
  message(FATAL_ERROR "descent ${ARGS}: stdout does not mention '${STDOUT}':\n${out}")
endif()
if(DEFINED JSON)
  file(READ ${JSON} text)
  string(JSON type ERROR_VARIABLE bad TYPE "${text}")  # CMake's own JSON parser
  if(bad)
    message(FATAL_ERROR "descent ${ARGS}: ${JSON} is not valid JSON (${bad}):\n${text}")
  endif()
endif()
