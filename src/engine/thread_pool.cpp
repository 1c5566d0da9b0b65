#include "engine/thread_pool.hpp"

#include <utility>

#include <exception>
#include <string>

#include "descent/error.hpp"

namespace descent::detail {

std::size_t checked_thread_count(std::size_t threads, std::string_view who) {
  if (threads > kMaxThreads) {
    throw InvalidArgument(std::string(who) + ": " + std::to_string(threads) + " threads is more than the " +
                          std::to_string(kMaxThreads) + " an optimizer may use (0 picks the number of hardware threads)");
  }
  return threads;
}

ThreadPool::ThreadPool(std::size_t threads, const Spawn& spawn) {
  checked_thread_count(threads, "thread pool");
  try {
    workers_.reserve(threads > 0 ? threads - 1 : 0);
    for (std::size_t i = 1; i < threads; ++i) {
      if (spawn) {
        workers_.push_back(spawn([this] { work(); }));
      } else {
        workers_.emplace_back([this] { work(); });
      }
    }
  } catch (const std::exception& e) {
    // The destructor does not run for a constructor that throws: the workers started so far wait on
    // wake_, which would be destroyed under them (and a joinable std::thread destroyed terminates).
    const std::size_t started = workers_.size();  // the caller is thread 1
    stop_and_join();
    throw Error("thread pool: could not start thread " + std::to_string(started + 2) + " of " +
                std::to_string(threads) + " (" + e.what() + "); the " + std::to_string(started) +
                " worker threads started were stopped and joined. Use fewer threads (set_num_threads)");
  }
}

ThreadPool::~ThreadPool() { stop_and_join(); }

void ThreadPool::stop_and_join() noexcept {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void ThreadPool::work() {
  std::size_t seen = 0;
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    drain();
    std::lock_guard lock(mutex_);
    if (--busy_ == 0) done_.notify_one();
  }
}

void ThreadPool::drain() {
  for (std::size_t i = next_.fetch_add(1, std::memory_order_relaxed); i < count_;
       i = next_.fetch_add(1, std::memory_order_relaxed)) {
    try {
      (*job_)(i);
    } catch (...) {
      // The first failure is kept and thrown by run() once every thread has left the job; the
      // remaining indices are skipped.
      std::lock_guard lock(mutex_);
      if (!failure_) failure_ = std::current_exception();
      next_.store(count_, std::memory_order_relaxed);
    }
  }
}

void ThreadPool::run(std::size_t count, const std::function<void(std::size_t)>& fn) {
  if (count == 0) return;
  if (workers_.empty() || count == 1) {
    for (std::size_t i = 0; i < count; ++i) fn(i);
    return;
  }
  {
    std::lock_guard lock(mutex_);
    job_ = &fn;
    count_ = count;
    next_.store(0, std::memory_order_relaxed);
    busy_ = workers_.size();
    ++generation_;
  }
  wake_.notify_all();
  drain();
  std::unique_lock lock(mutex_);
  done_.wait(lock, [&] { return busy_ == 0; });
  job_ = nullptr;
  if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
}

}  // namespace descent::detail
