# `descent train --micro-batches N` and `mpirun -np N descent train --distributed` end with bitwise the same
# parameters (compared as the files --save-params writes); a run saved and resumed at N ranks continues
# bitwise; a run saved at 2 ranks resumes at N ranks.
# Needs CLI, MPIEXEC, NP (the rank count), WORK.
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
set(common train --data spirals --epochs 2 --batch-size 50 --clip-norm 1 --threads 1)
execute_process(COMMAND ${CLI} ${common} --micro-batches ${NP} --out ${WORK}/one --save-params ${WORK}/one.st
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "descent train --micro-batches ${NP} failed: ${rc}")
endif()
execute_process(COMMAND ${MPIEXEC} -np ${NP} --oversubscribe ${CLI} ${common} --distributed --out ${WORK}/dist
                        --save-params ${WORK}/dist.st
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "mpirun -np ${NP} descent train --distributed failed: ${rc}\n${out}\n${err}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/one.st ${WORK}/dist.st RESULT_VARIABLE same)
if(NOT same EQUAL 0)
  message(FATAL_ERROR "the parameters of --micro-batches ${NP} and of ${NP} ranks differ")
endif()
# Without accumulation the parameters differ: the comparison above can fail.
execute_process(COMMAND ${CLI} ${common} --out ${WORK}/plain --save-params ${WORK}/plain.st RESULT_VARIABLE rc OUTPUT_QUIET)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/plain.st ${WORK}/dist.st RESULT_VARIABLE same)
if(same EQUAL 0)
  message(FATAL_ERROR "one batch in one pass gave the parameters of ${NP} micro-batches: the test cannot tell")
endif()
# Saved at NP ranks mid-run and resumed at NP ranks: bitwise the uninterrupted run.
execute_process(COMMAND ${MPIEXEC} -np ${NP} --oversubscribe ${CLI} ${common} --distributed --max-steps 50
                        --checkpoint ${WORK}/same/run.ckpt --out ${WORK}/same1
                RESULT_VARIABLE rc OUTPUT_QUIET ERROR_QUIET)
execute_process(COMMAND ${MPIEXEC} -np ${NP} --oversubscribe ${CLI} ${common} --distributed --resume ${WORK}/same/run.ckpt
                        --out ${WORK}/same2 --save-params ${WORK}/resumed.st
                RESULT_VARIABLE rc2 OUTPUT_VARIABLE out ERROR_VARIABLE err)
execute_process(COMMAND ${CMAKE_COMMAND} -E compare_files ${WORK}/resumed.st ${WORK}/dist.st RESULT_VARIABLE same)
if(NOT rc EQUAL 0 OR NOT rc2 EQUAL 0 OR NOT same EQUAL 0)
  message(FATAL_ERROR "saving and resuming at ${NP} ranks did not continue bitwise: ${rc} ${rc2} ${same}\n${out}\n${err}")
endif()
# Saved at 2 ranks mid-run, resumed at NP ranks.
execute_process(COMMAND ${MPIEXEC} -np 2 --oversubscribe ${CLI} ${common} --distributed --max-steps 50
                        --checkpoint ${WORK}/ck/run.ckpt --out ${WORK}/first
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the first half at 2 ranks failed: ${rc}\n${out}\n${err}")
endif()
execute_process(COMMAND ${MPIEXEC} -np ${NP} --oversubscribe ${CLI} ${common} --distributed --resume ${WORK}/ck/run.ckpt
                        --out ${WORK}/second
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0 OR NOT out MATCHES "epoch 2/2")
  message(FATAL_ERROR "resuming at ${NP} ranks failed: ${rc}\n${out}\n${err}")
endif()
