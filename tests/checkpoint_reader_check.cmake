# Checks the checkpoint format with a reader written from its documentation alone: runs the example
# (examples/checkpoint.cpp), which saves a checkpoint and prints the values it saved as "saved NAME=v1,v2,...",
# then scripts/read_checkpoint.py on the file with one --expect per such line. The values come from the
# example's own run; reading them from the file (layout, offsets, checksum, decoding) is all the reader's.
# cmake -DEXAMPLE=... -DPYTHON=... -DREADER=... -DFILE=path -P checkpoint_reader_check.cmake
get_filename_component(dir "${FILE}" DIRECTORY)
file(MAKE_DIRECTORY "${dir}")
file(REMOVE "${FILE}")
execute_process(COMMAND ${EXAMPLE} ${FILE} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT status EQUAL 0 OR NOT EXISTS "${FILE}")
  message(FATAL_ERROR "${EXAMPLE} ${FILE}: exit ${status}, file written: ${FILE}\n${out}\n${err}")
endif()

string(REGEX MATCHALL "saved [^ \n=]+=[^\n]*" lines "${out}")
set(expects)
foreach(line IN LISTS lines)
  string(REGEX REPLACE "^saved " "" spec "${line}")
  list(APPEND expects --expect ${spec})
endforeach()
list(LENGTH lines count)
if(count LESS 4)
  message(FATAL_ERROR "the example printed ${count} 'saved NAME=values' lines, expected at least 4:\n${out}")
endif()

execute_process(COMMAND ${PYTHON} ${READER} ${FILE} ${expects} RESULT_VARIABLE status OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
message("${out}")
if(NOT status EQUAL 0)
  message(FATAL_ERROR "read_checkpoint.py ${FILE} ${expects}: exit ${status}\n${err}")
endif()

# The reader is not vacuous: a wrong expectation fails, naming the element.
execute_process(COMMAND ${PYTHON} ${READER} ${FILE} --expect state/w/step=-1 RESULT_VARIABLE status
                OUTPUT_QUIET ERROR_VARIABLE err)
if(status EQUAL 0 OR NOT err MATCHES "element 0 is [0-9]+, expected -1")
  message(FATAL_ERROR "read_checkpoint.py accepted a wrong --expect (exit ${status}):\n${err}")
endif()
