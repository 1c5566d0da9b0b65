# Exact resume through the command line, across processes: a run split into three sessions by --max-steps
# and --resume (one split at an epoch's end, one mid-epoch) writes a final checkpoint byte for byte equal
# to the uninterrupted run's (model, optimizer state, schedule, data position, metrics; no times).
# cmake -DCLI=... -DWORK=dir -DSCHEDULE=onecycle -DOPTIMIZER=adam -P cli_resume.cmake
file(REMOVE_RECURSE ${WORK})
set(common train --data spirals --epochs 3 --optimizer ${OPTIMIZER} --schedule ${SCHEDULE} --threads 2)
function(run)
  execute_process(COMMAND ${CLI} ${common} ${ARGN} RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT status EQUAL 0)
    message(FATAL_ERROR "descent ${common} ${ARGN}: exit ${status}\n${out}\n${err}")
  endif()
endfunction()
run(--checkpoint-every 5 --checkpoint ${WORK}/straight.safetensors --out ${WORK}/straight)
run(--max-steps 32 --checkpoint ${WORK}/split.safetensors --out ${WORK}/split)   # 16 batches an epoch: an epoch's end
run(--resume ${WORK}/split.safetensors --max-steps 37 --checkpoint ${WORK}/split.safetensors --out ${WORK}/split)
run(--resume ${WORK}/split.safetensors --checkpoint-every 5 --out ${WORK}/split)  # saves where it resumed from
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/straight.safetensors ${WORK}/split.safetensors
                RESULT_VARIABLE differ)
if(differ)
  message(FATAL_ERROR "the resumed run's checkpoint differs from the uninterrupted run's")
endif()
# The resumed run's metrics hold all three epochs.
file(STRINGS ${WORK}/split/metrics.csv lines)
list(LENGTH lines count)
if(NOT count EQUAL 4)
  message(FATAL_ERROR "metrics.csv of the resumed run has ${count} lines, expected a header and 3 epochs")
endif()
