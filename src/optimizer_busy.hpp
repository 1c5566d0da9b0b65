// Optimizer::Busy, shared by optimizer.cpp and optimizer_state.cpp.
#pragma once

#include <atomic>
#include <string>

#include "descent/optimizer.hpp"

namespace descent {

// Marks step() and the other calls that change state as in progress: a second thread entering one of
// them while the first is inside throws instead of racing or deadlocking on the engine's pool.
class Optimizer::Busy {
 public:
  Busy(const Optimizer& o, const char* what) : flag_(*o.busy_) {
    if (flag_.exchange(true, std::memory_order_acquire)) {
      throw Error(std::string(o.name_) + ": " + what +
                  " called while another call on the same optimizer is running (an optimizer is not thread-safe: "
                  "use it from one thread at a time)");
    }
  }
  ~Busy() { flag_.store(false, std::memory_order_release); }
  Busy(const Busy&) = delete;
  Busy& operator=(const Busy&) = delete;

 private:
  std::atomic<bool>& flag_;
};

}  // namespace descent
