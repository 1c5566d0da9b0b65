// The update engine: how a step's work is cut up and spread over threads, deterministically.
//
// Work comes as tasks. An element-range task is one parameter's element-wise update, runnable on any
// sub-range of its elements: the engine cuts [0, size) into fixed chunks of kChunk elements. A whole-
// tensor task (a matrix product, a decomposition, a row/column reduction) runs once, on one thread.
// Chunks and whole tasks are handed out to the threads in a fixed order; each touches only its own
// memory, and reductions add chunk results in chunk order, so every result is the same for any number
// of threads.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <vector>

namespace descent::detail {

class ThreadPool;

// Elements per chunk: 64 KiB of floats per array, small enough to balance 2-64 threads on a 10M
// parameter step, large enough that a chunk's cost dwarfs handing it out. A multiple of every vector
// width, and fixed: reductions add chunk results in chunk order, so results do not depend on threads.
inline constexpr std::size_t kChunk = 16384;
// Below this many elements of element-range work a step runs on the calling thread: waking workers
// would cost more.
inline constexpr std::size_t kParallelThreshold = 2 * kChunk;

struct EngineTask {
  std::function<void(std::size_t begin, std::size_t end)> run;
  std::size_t size = 0;
  bool whole = false;  // run(0, size) once on one thread instead of in chunks
};

class Engine {
 public:
  // `threads` counts the caller; 0 means one per core.
  explicit Engine(std::size_t threads = 0);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void set_threads(std::size_t threads);
  std::size_t threads() const noexcept { return threads_; }

  // Runs every task to completion: whole tasks first, in the order given, then the chunks of the
  // element-range tasks in order. The first exception a task throws is rethrown once all threads are done.
  void run(std::span<const EngineTask> tasks);

  // fn(item, begin, end) over fixed chunks of items of the given sizes; per item, the chunk results
  // added in chunk order.
  std::vector<double> sum(std::span<const std::size_t> sizes,
                          const std::function<double(std::size_t item, std::size_t begin, std::size_t end)>& fn);

  // fn(item, begin, end) over fixed chunks; the first chunk (in order) for which fn returns true, as
  // {item, begin}, or {sizes.size(), 0} when none does.
  struct Hit {
    std::size_t item, begin;
  };
  Hit find_first(std::span<const std::size_t> sizes,
                 const std::function<bool(std::size_t item, std::size_t begin, std::size_t end)>& fn);

  static std::size_t default_threads();

  // Starts the thread pool now if work of this many elements would use it, so that a thread that
  // cannot be created fails a step before the step has changed anything.
  void prepare(std::size_t elements);

 private:
  struct Chunk {
    std::size_t item, begin, end;
  };
  static std::vector<Chunk> chunks_of(std::span<const std::size_t> sizes);
  // Calls fn(i) for i in [0, count): on the pool when `parallel`, else in order on this thread.
  void for_each(std::size_t count, bool parallel, const std::function<void(std::size_t)>& fn);

  std::size_t threads_;
  std::unique_ptr<ThreadPool> pool_;  // created by the first run with enough work
};

}  // namespace descent::detail
