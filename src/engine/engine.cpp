#include "engine/engine.hpp"

#include <algorithm>
#include <thread>

#include "engine/thread_pool.hpp"

namespace descent::detail {

std::size_t Engine::default_threads() { return std::max(1u, std::thread::hardware_concurrency()); }

Engine::Engine(std::size_t threads) : threads_(threads == 0 ? default_threads() : threads) {}
Engine::~Engine() = default;

void Engine::set_threads(std::size_t threads) {
  threads = threads == 0 ? default_threads() : threads;
  if (threads != threads_) pool_.reset();
  threads_ = threads;
}

std::vector<Engine::Chunk> Engine::chunks_of(std::span<const std::size_t> sizes) {
  std::vector<Chunk> chunks;
  for (std::size_t item = 0; item < sizes.size(); ++item) {
    for (std::size_t begin = 0; begin < sizes[item]; begin += kChunk) {
      chunks.push_back({item, begin, std::min(begin + kChunk, sizes[item])});
    }
  }
  return chunks;
}

void Engine::for_each(std::size_t count, bool parallel, const std::function<void(std::size_t)>& fn) {
  if (threads_ <= 1 || count <= 1 || !parallel) {
    for (std::size_t i = 0; i < count; ++i) fn(i);
    return;
  }
  if (!pool_) pool_ = std::make_unique<ThreadPool>(threads_);
  pool_->run(count, fn);
}

void Engine::prepare(std::size_t elements) {
  if (threads_ > 1 && elements >= kParallelThreshold && !pool_) pool_ = std::make_unique<ThreadPool>(threads_);
}

void Engine::run(std::span<const EngineTask> tasks) {
  std::vector<const EngineTask*> whole;
  std::vector<std::size_t> ranges, sizes;
  std::size_t elements = 0;
  for (std::size_t t = 0; t < tasks.size(); ++t) {
    if (tasks[t].whole) {
      whole.push_back(&tasks[t]);
    } else {
      ranges.push_back(t);
      sizes.push_back(tasks[t].size);
      elements += tasks[t].size;
    }
  }
  const std::vector<Chunk> chunks = chunks_of(sizes);
  // Whole tasks are worth a thread of their own however small; element work only past the threshold.
  const bool parallel = whole.size() > 1 || (!whole.empty() && !chunks.empty()) || elements >= kParallelThreshold;
  for_each(whole.size() + chunks.size(), parallel, [&](std::size_t i) {
    if (i < whole.size()) {
      whole[i]->run(0, whole[i]->size);
    } else {
      const Chunk& c = chunks[i - whole.size()];
      tasks[ranges[c.item]].run(c.begin, c.end);
    }
  });
}

std::vector<double> Engine::sum(std::span<const std::size_t> sizes,
                                const std::function<double(std::size_t, std::size_t, std::size_t)>& fn) {
  const std::vector<Chunk> chunks = chunks_of(sizes);
  std::size_t elements = 0;
  for (const std::size_t s : sizes) elements += s;
  std::vector<double> partial(chunks.size());
  for_each(chunks.size(), elements >= kParallelThreshold,
           [&](std::size_t i) { partial[i] = fn(chunks[i].item, chunks[i].begin, chunks[i].end); });
  std::vector<double> sums(sizes.size(), 0.0);
  for (std::size_t i = 0; i < chunks.size(); ++i) sums[chunks[i].item] += partial[i];
  return sums;
}

Engine::Hit Engine::find_first(std::span<const std::size_t> sizes,
                               const std::function<bool(std::size_t, std::size_t, std::size_t)>& fn) {
  const std::vector<Chunk> chunks = chunks_of(sizes);
  std::size_t elements = 0;
  for (const std::size_t s : sizes) elements += s;
  std::vector<unsigned char> hit(chunks.size(), 0);
  for_each(chunks.size(), elements >= kParallelThreshold,
           [&](std::size_t i) { hit[i] = fn(chunks[i].item, chunks[i].begin, chunks[i].end) ? 1 : 0; });
  for (std::size_t i = 0; i < chunks.size(); ++i) {
    if (hit[i]) return {chunks[i].item, chunks[i].begin};
  }
  return {sizes.size(), 0};
}

}  // namespace descent::detail
