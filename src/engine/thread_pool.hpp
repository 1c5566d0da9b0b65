// A small persistent thread pool for the update engine: run(count, fn) calls fn(i) for i in [0, count)
// on the caller and the workers, each index exactly once, and returns when all are done. Indices are
// handed out by an atomic counter; the work they do must not depend on which thread runs them, so
// results are the same for any number of threads.
#pragma once

#include <atomic>
#include <exception>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

namespace descent::detail {

// The most threads an optimizer may use. Far above any core count descent's chunking can feed (a 10M
// parameter step has 610 chunks of 16384 elements), low enough that a typo such as 100000 is refused
// with a clear message instead of exhausting the process's thread or memory limits.
inline constexpr std::size_t kMaxThreads = 1024;

// `threads` when it is at most kMaxThreads, else InvalidArgument naming it and `who`.
std::size_t checked_thread_count(std::size_t threads, std::string_view who);

class ThreadPool {
 public:
  // Starts a thread that runs `body`; tests pass one that fails on purpose.
  using Spawn = std::function<std::thread(std::function<void()> body)>;

  // `threads` counts the caller: 1 runs everything inline. When a worker cannot be started, every
  // worker already started is stopped and joined, and Error names the thread count and the reason.
  explicit ThreadPool(std::size_t threads, const Spawn& spawn = {});
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t threads() const noexcept { return workers_.size() + 1; }
  void run(std::size_t count, const std::function<void(std::size_t)>& fn);

 private:
  void work();
  void drain();
  void stop_and_join() noexcept;

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(std::size_t)>* job_ = nullptr;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0};
  std::size_t busy_ = 0;          // workers still inside the current job
  std::size_t generation_ = 0;    // bumped per job, so a worker runs each job once
  std::exception_ptr failure_;    // the first exception a task of the current job threw
  bool stop_ = false;
};

}  // namespace descent::detail
