# metrics.json stays valid JSON when the run diverges (NaN and infinite losses are written as null) and
# when the data folder's name holds a quote and a backslash. The data: a tiny MNIST-format set (4 training
# and 2 test images of 2 x 2 pixels, 2 classes) written here in IDX (big-endian magic, counts, sizes, bytes).
# cmake -DCLI=... -DWORK=dir -P cli_json.cmake
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK}/idx)
function(idx file octal)  # printf turns \ooo escapes into bytes, NUL included, which CMake strings cannot hold
  execute_process(COMMAND printf "${octal}" OUTPUT_FILE ${WORK}/idx/${file} RESULT_VARIABLE status)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "printf failed writing ${file}")
  endif()
endfunction()
idx(train-images-idx3-ubyte "\\000\\000\\010\\003\\000\\000\\000\\004\\000\\000\\000\\002\\000\\000\\000\\002\\377\\000\\000\\377\\000\\377\\377\\000\\377\\377\\000\\000\\000\\000\\377\\377")
idx(train-labels-idx1-ubyte "\\000\\000\\010\\001\\000\\000\\000\\004\\000\\001\\000\\001")
idx(t10k-images-idx3-ubyte "\\000\\000\\010\\003\\000\\000\\000\\002\\000\\000\\000\\002\\000\\000\\000\\002\\377\\000\\000\\377\\000\\377\\377\\000")
idx(t10k-labels-idx1-ubyte "\\000\\000\\010\\001\\000\\000\\000\\002\\000\\001")
# CMake's file commands would read the backslash as a folder separator; cp takes the name as it is.
set(data "${WORK}/we\"ird\\name")
execute_process(COMMAND cp -r ${WORK}/idx "${data}" RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "cannot create the folder ${data}")
endif()
# SGD at lr 1e30 overflows after its first step; --nonfinite skip lets the run finish with NaN losses.
execute_process(COMMAND ${CLI} train --data "${data}" --optimizer gd --lr 1e30 --nonfinite skip --epochs 2
                        --batch-size 2 --set weight_decay=0.5 --out ${WORK}/out
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "descent train: exit ${status}\n${out}\n${err}")
endif()
if(NOT out MATCHES "skipped [1-9]")
  message(FATAL_ERROR "the run did not diverge, so the test shows nothing:\n${out}")
endif()
file(READ ${WORK}/out/metrics.json text)
string(JSON name ERROR_VARIABLE bad GET "${text}" data)
if(bad)
  message(FATAL_ERROR "metrics.json is not valid JSON (${bad}):\n${text}")
endif()
if(NOT name STREQUAL "we\"ird\\name/train")
  message(FATAL_ERROR "metrics.json names the data '${name}', not the folder's name")
endif()
string(JSON loss TYPE "${text}" epochs 1 test_loss)
string(JSON decay GET "${text}" options weight_decay)
if(NOT loss STREQUAL "NULL" OR NOT decay STREQUAL "0.5")
  message(FATAL_ERROR "expected test_loss null (a NaN) and options.weight_decay 0.5 (--set):\n${text}")
endif()
