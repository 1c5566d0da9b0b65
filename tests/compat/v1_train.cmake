# A `descent train` run saved by descent 0.1.0 (tests/compat/v1/train.safetensors, format version 1,
# stopped by --max-steps 25) resumes with today's CLI to the same final checkpoint as the old CLI's
# uninterrupted run (train-after.safetensors): every tensor byte for byte, the same metadata but for what
# newer releases add (tests/compat/same_run.py). Both were written by:
#   descent train --data spirals --optimizer adam --epochs 3 --batch-size 32 --schedule onecycle
#                 --model 2-16-3 --threads 1 [--max-steps 25 | --checkpoint-every 0] --checkpoint FILE
# cmake -DCLI=... -DWORK=dir -DV1=tests/compat/v1 -P v1_train.cmake
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})
file(COPY ${V1}/train.safetensors DESTINATION ${WORK})
execute_process(COMMAND ${CLI} train --data spirals --optimizer adam --epochs 3 --batch-size 32 --schedule onecycle
                        --model 2-16-3 --threads 1 --resume ${WORK}/train.safetensors --out ${WORK}/out
                RESULT_VARIABLE status OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "resuming the 0.1.0 checkpoint: exit ${status}\n${out}\n${err}")
endif()
execute_process(COMMAND python3 ${V1}/../same_run.py ${V1}/train-after.safetensors ${WORK}/train.safetensors
                RESULT_VARIABLE differ OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(differ)
  message(FATAL_ERROR "the run resumed from 0.1.0's checkpoint ends elsewhere than 0.1.0's uninterrupted run:\n${out}${err}")
endif()
