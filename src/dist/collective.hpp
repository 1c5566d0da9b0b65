// Collective helpers of descent::dist: errors that every rank agrees on, texts broadcast from one rank.
#pragma once

#include <mpi.h>

#include <functional>
#include <string>

namespace descent::dist::detail {

// Throws descent::Error naming the MPI call and MPI's reason when rc is not MPI_SUCCESS (the library's
// communicators return errors instead of aborting: see ShardedOptimizer's constructor).
void check_mpi(int rc, const char* call);

// Runs `work` on this rank, then agrees with every rank of `comm` on whether any threw. If one did,
// every rank throws the same exception type (InvalidArgument, NotFound or Error) with the message of the
// lowest failing rank, prefixed with that rank and followed by the other failing ranks, so that no rank
// goes on to a collective call the others will never make.
void agree(MPI_Comm comm, const std::function<void()>& work);

// `text` of rank `root`, on every rank.
std::string broadcast_text(MPI_Comm comm, const std::string& text, int root);

}  // namespace descent::dist::detail
