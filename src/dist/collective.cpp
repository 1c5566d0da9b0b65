#include "dist/collective.hpp"

#include <climits>
#include <cstdint>
#include <exception>
#include <vector>

#include "descent/error.hpp"

namespace descent::dist::detail {

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char reason[MPI_MAX_ERROR_STRING];
  int length = 0;
  if (MPI_Error_string(rc, reason, &length) != MPI_SUCCESS) length = 0;
  throw Error(std::string("descent::dist: ") + call + " failed: " + std::string(reason, static_cast<std::size_t>(length)));
}

std::string broadcast_text(MPI_Comm comm, const std::string& text, int root) {
  int rank = 0;
  check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  std::uint64_t size = text.size();
  check_mpi(MPI_Bcast(&size, 1, MPI_UINT64_T, root, comm), "MPI_Bcast");
  if (size > static_cast<std::uint64_t>(INT_MAX)) throw Error("descent::dist: a text of " + std::to_string(size) + " bytes is too long to broadcast");
  std::string out = rank == root ? text : std::string(size, '\0');
  check_mpi(MPI_Bcast(out.data(), static_cast<int>(size), MPI_CHAR, root, comm), "MPI_Bcast");
  return out;
}

void agree(MPI_Comm comm, const std::function<void()>& work) {
  // 0: no error; 1 InvalidArgument, 2 NotFound, 3 any other exception.
  int code = 0;
  std::string message;
  try {
    work();
  } catch (const InvalidArgument& e) {
    code = 1;
    message = e.what();
  } catch (const NotFound& e) {
    code = 2;
    message = e.what();
  } catch (const std::exception& e) {
    code = 3;
    message = e.what();
  }
  int rank = 0, world = 1;
  check_mpi(MPI_Comm_rank(comm, &rank), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm, &world), "MPI_Comm_size");
  std::vector<int> codes(static_cast<std::size_t>(world));
  check_mpi(MPI_Allgather(&code, 1, MPI_INT, codes.data(), 1, MPI_INT, comm), "MPI_Allgather");
  int first = -1;
  std::string others;
  for (int r = 0; r < world; ++r) {
    if (codes[static_cast<std::size_t>(r)] == 0) continue;
    if (first < 0) {
      first = r;
    } else {
      others.append(others.empty() ? "" : ", ").append(std::to_string(r));
    }
  }
  if (first < 0) return;
  const std::string text = "descent::dist: rank " + std::to_string(first) + " of " + std::to_string(world) + ": " +
                           broadcast_text(comm, message, first) +
                           (others.empty() ? "" : " (ranks " + others + " failed too)");
  switch (codes[static_cast<std::size_t>(first)]) {
    case 1: throw InvalidArgument(text);
    case 2: throw NotFound(text);
    default: throw Error(text);
  }
}

}  // namespace descent::dist::detail
