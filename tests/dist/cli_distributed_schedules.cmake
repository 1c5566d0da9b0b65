# `mpirun -np N descent train --distributed --schedule S` for each schedule S in SCHEDULES ("a|b|..."):
# - its final parameters are bitwise those of `descent train --micro-batches N --schedule S`, and rank 0
#   writes the same metrics (metrics.csv's epochs, steps, losses, accuracy and lr; the times differ) plus
#   metrics.json and steps.csv;
# - the schedule changed the learning rate during the run (else the comparisons would not test it);
# - saved at N ranks mid-run and resumed at N ranks, it ends bitwise as the uninterrupted run, and its
#   metrics.csv lists every epoch (the history crosses the resume) with the same numbers;
# - at N != 2, saved at 2 ranks and resumed at N, it runs on with every epoch listed and the same rates.
# The test loss comes from OpenBLAS, whose sums depend on its thread count: the test sets
# OPENBLAS_NUM_THREADS=1 so that one process and rank 0 compute it alike.
# Needs CLI, MPIEXEC, NP, WORK, SCHEDULES.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
string(REPLACE "|" ";" schedules "${SCHEDULES}")
# 7 epochs at a high rate: the plateau schedule (patience 2) cuts the rate before the last epoch.
set(common train --data spirals --epochs 7 --batch-size 50 --lr 0.3 --threads 1)
set(mpirun ${MPIEXEC} --oversubscribe -x OPENBLAS_NUM_THREADS)

# metrics.csv without its two time columns (seconds, epoch_seconds).
function(read_metrics file out)
  file(STRINGS ${file} lines)
  set(kept "")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^([^,]*,[^,]*,[^,]*,[^,]*,[^,]*),[^,]*,[^,]*,([^,]*)$" "\\1,\\2" line "${line}")
    list(APPEND kept "${line}")
  endforeach()
  set(${out} "${kept}" PARENT_SCOPE)
endfunction()

foreach(schedule IN LISTS schedules)
  set(w ${WORK}/${schedule})
  set(run ${common} --schedule ${schedule})
  execute_process(COMMAND ${CLI} ${run} --micro-batches ${NP} --out ${w}/one --save-params ${w}/one.st
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${schedule}: descent train --micro-batches ${NP} failed: ${rc}\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${mpirun} -np ${NP} ${CLI} ${run} --distributed --out ${w}/dist --save-params ${w}/dist.st
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${schedule}: mpirun -np ${NP} descent train --distributed failed: ${rc}\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${w}/one.st ${w}/dist.st RESULT_VARIABLE same)
  if(NOT same EQUAL 0)
    message(FATAL_ERROR "${schedule}: the parameters of --micro-batches ${NP} and of ${NP} ranks differ")
  endif()
  read_metrics(${w}/one/metrics.csv one)
  read_metrics(${w}/dist/metrics.csv dist)
  list(LENGTH dist rows)
  if(NOT one STREQUAL dist OR NOT rows EQUAL 8)
    message(FATAL_ERROR "${schedule}: rank 0's metrics.csv differs from one process's:\n${dist}\n${one}")
  endif()
  set(rates "")
  foreach(line IN LISTS dist)
    string(REGEX REPLACE "^.*," "" rate "${line}")
    list(APPEND rates ${rate})
  endforeach()
  list(REMOVE_DUPLICATES rates)
  list(LENGTH rates distinct)
  if(distinct LESS 3)  # the header's "lr" and at least two rates
    message(FATAL_ERROR "${schedule}: the learning rate never changed (${rates}): the test cannot tell")
  endif()
  file(READ ${w}/dist/metrics.json json)
  string(JSON epochs LENGTH "${json}" epochs)
  string(JSON optimizer GET "${json}" optimizer)
  file(STRINGS ${w}/dist/steps.csv steps)
  list(LENGTH steps step_lines)
  if(NOT epochs EQUAL 7 OR NOT optimizer STREQUAL "adam" OR NOT step_lines EQUAL 281)
    message(FATAL_ERROR "${schedule}: metrics.json (${epochs} epochs, ${optimizer}) or steps.csv (${step_lines} lines)")
  endif()

  # Saved at N ranks in epoch 5 (step 170 of 280) and resumed at N ranks: bitwise the uninterrupted run,
  # with every epoch in its metrics.
  execute_process(COMMAND ${mpirun} -np ${NP} ${CLI} ${run} --distributed --max-steps 170 --checkpoint ${w}/ck/run.ckpt
                          --out ${w}/first
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${schedule}: the first part at ${NP} ranks failed: ${rc}\n${out}\n${err}")
  endif()
  execute_process(COMMAND ${mpirun} -np ${NP} ${CLI} ${run} --distributed --resume ${w}/ck/run.ckpt --out ${w}/second
                          --save-params ${w}/resumed.st
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${w}/resumed.st ${w}/dist.st RESULT_VARIABLE same)
  if(NOT rc EQUAL 0 OR NOT same EQUAL 0)
    message(FATAL_ERROR "${schedule}: saved and resumed at ${NP} ranks, the run did not continue bitwise: "
                        "${rc} ${same}\n${out}\n${err}")
  endif()
  read_metrics(${w}/second/metrics.csv second)
  file(STRINGS ${w}/second/steps.csv resumed_steps LIMIT_COUNT 2)
  list(GET resumed_steps 1 first_step)
  if(NOT second STREQUAL dist OR NOT first_step MATCHES "^171,")
    message(FATAL_ERROR "${schedule}: the resumed run's metrics lack the saved epochs or differ:\n${second}\n"
                        "steps.csv begins with ${first_step}")
  endif()
  # Saved at 2 ranks (at NP 3 only): resumes at NP with the schedule's state, the history and the same rates
  # (the parameters differ in rounding: 2 and 3 parts of a batch add differently).
  if(NOT NP EQUAL 2)
    execute_process(COMMAND ${mpirun} -np 2 ${CLI} ${run} --distributed --max-steps 170 --checkpoint ${w}/ck2/run.ckpt
                            --out ${w}/first2 RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
    execute_process(COMMAND ${mpirun} -np ${NP} ${CLI} ${run} --distributed --resume ${w}/ck2/run.ckpt --out ${w}/second2
                    RESULT_VARIABLE rc2 OUTPUT_VARIABLE out ERROR_VARIABLE err)
    read_metrics(${w}/second2/metrics.csv resharded)
    list(LENGTH resharded rows)
    set(lrs "")
    set(lrs_dist "")
    foreach(line IN LISTS resharded)
      string(REGEX REPLACE "^.*," "" rate "${line}")
      list(APPEND lrs ${rate})
    endforeach()
    foreach(line IN LISTS dist)
      string(REGEX REPLACE "^.*," "" rate "${line}")
      list(APPEND lrs_dist ${rate})
    endforeach()
    if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 0 OR NOT rows EQUAL 8 OR NOT lrs STREQUAL lrs_dist)
      message(FATAL_ERROR "${schedule}: saved at 2 ranks, resumed at ${NP}: ${rc} ${rc2}, rates ${lrs} (uninterrupted "
                          "${lrs_dist})\n${out}\n${err}")
    endif()
  endif()
endforeach()

# A run saved with one schedule does not resume with another.
list(GET schedules 0 saved)
set(other step)
if(saved STREQUAL "step")
  set(other cosine)
endif()
execute_process(COMMAND ${mpirun} -np ${NP} ${CLI} ${common} --schedule ${other} --distributed
                        --resume ${WORK}/${saved}/ck/run.ckpt --out ${WORK}/other
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0 OR NOT err MATCHES "saved with schedule ${saved}, this one has ${other}")
  message(FATAL_ERROR "resuming a ${saved} run with --schedule ${other}: ${rc}\n${out}\n${err}")
endif()
