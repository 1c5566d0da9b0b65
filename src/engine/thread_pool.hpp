// A small persistent thread pool for the update engine: run(count, fn) calls fn(i) for i in [0, count)
// on the caller and the workers, each index exactly once, and returns when all are done. Indices are
// handed out by an atomic counter; the work they do must not depend on which thread runs them, so
// results are the same for any number of threads.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace descent::detail {

class ThreadPool {
 public:
  // `threads` counts the caller: 1 runs everything inline.
  explicit ThreadPool(std::size_t threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  std::size_t threads() const noexcept { return workers_.size() + 1; }
  void run(std::size_t count, const std::function<void(std::size_t)>& fn);

 private:
  void drain();

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(std::size_t)>* job_ = nullptr;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0};
  std::size_t busy_ = 0;          // workers still inside the current job
  std::size_t generation_ = 0;    // bumped per job, so a worker runs each job once
  bool stop_ = false;
};

}  // namespace descent::detail
