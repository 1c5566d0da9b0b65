// Refusing concurrent use of an object that is not thread-safe. An Optimizer is used by one thread at a
// time (its step() runs its own worker threads); two threads calling step() at once would race on the
// state and on the thread pool, which waits for the other call's workers and never returns. Instead the
// second call finds the flag taken and throws, changing nothing.
#pragma once

#include <atomic>
#include <string>
#include <string_view>

#include "descent/error.hpp"

namespace descent::detail {

// Whether a mutating call is running. Copying or moving an object yields one not in use: the flag
// belongs to a call in flight, not to the object's value.
class InUseFlag {
 public:
  InUseFlag() noexcept = default;
  InUseFlag(const InUseFlag&) noexcept {}
  InUseFlag& operator=(const InUseFlag&) noexcept { return *this; }

 private:
  friend class ExclusiveUse;
  std::atomic<bool> busy_{false};
};

// Takes the flag for the lifetime of a call, or throws Error naming `owner` and `call` when another call
// holds it. Only a guard that took the flag releases it.
class ExclusiveUse {
 public:
  ExclusiveUse(InUseFlag& flag, std::string_view owner, std::string_view call) : flag_(flag) {
    if (flag_.busy_.exchange(true, std::memory_order_acquire)) {
      throw Error(std::string(owner) + ": " + std::string(call) +
                  " called while another call is running on the same optimizer: an optimizer is not "
                  "thread-safe; use it from one thread at a time (each thread may have its own)");
    }
  }
  ~ExclusiveUse() { flag_.busy_.store(false, std::memory_order_release); }
  ExclusiveUse(const ExclusiveUse&) = delete;
  ExclusiveUse& operator=(const ExclusiveUse&) = delete;

 private:
  InUseFlag& flag_;
};

}  // namespace descent::detail
