// `mpirun -np N descent train --distributed ...`: data-parallel training over MPI with descent::dist.
#pragma once

#include <iosfwd>

#include "train.hpp"

namespace descent::cli {

// Whether this build has --distributed (descent built with -DDESCENT_WITH_MPI=ON).
bool distributed_available();

// Trains on every rank of MPI_COMM_WORLD (initialising and finalising MPI): each rank computes part
// `rank` of `world size` of each batch (nn::micro_batch_gradient), descent::dist reduces the gradients in
// rank order and the ranks' owners step, so the final parameters are bitwise those of `descent train
// --micro-batches N` with the same data, seed and batch size. Every --schedule works: each rank schedules
// its own optimizer alike (plateau with the test loss rank 0 computes and broadcasts). Only rank 0 prints
// (to `log`) and writes <out>/metrics.csv, steps.csv and metrics.json (write_train_metrics, as `descent
// train`) and --save-params. Checkpoints are descent::dist's (an index beside one shard per rank), carry
// the schedule's state and the epochs' metrics, and resume at any rank count.
void run_train_distributed(const TrainCommand& command, std::ostream& log);

}  // namespace descent::cli
