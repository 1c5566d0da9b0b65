// The engine under misuse and resource failure: a worker thread that cannot start, an absurd thread
// count, two threads stepping one optimizer. Each must end in a clear error, never a hang or a crash.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "descent/descent.hpp"
#include "descent/detail/exclusive_use.hpp"
#include "engine/thread_pool.hpp"
#include "support/expect_throw.hpp"

namespace descent {
namespace {

using detail::ThreadPool;

// A pool of 8 whose 4th thread (the caller is the 1st) cannot start: the constructor reports it with
// the count, and the two workers already started are stopped and joined before it returns. Before the
// fix the unwinding destroyed the condition variable under the waiting workers (a hang) and then
// joinable threads (std::terminate).
TEST(EngineThreadPool, AThreadThatCannotStartIsReportedAndTheStartedOnesAreJoined) {
  std::atomic<int> spawned{0};
  std::atomic<int> finished{0};
  const ThreadPool::Spawn failing_third = [&](std::function<void()> body) {
    if (++spawned == 3) {
      throw std::system_error(std::make_error_code(std::errc::resource_unavailable_try_again), "thread");
    }
    return std::thread([body = std::move(body), &finished] {
      body();
      ++finished;
    });
  };
  EXPECT_THROW_WITH(ThreadPool(8, failing_third), Error, "could not start thread 4 of 8");
  EXPECT_EQ(spawned.load(), 3);
  EXPECT_EQ(finished.load(), 2);  // joined: their bodies returned before the constructor threw
}

TEST(EngineThreadPool, AFailureAtTheFirstWorkerLeavesNothingRunning) {
  const ThreadPool::Spawn failing = [](std::function<void()>) -> std::thread { throw std::bad_alloc(); };
  EXPECT_THROW_WITH(ThreadPool(2, failing), Error, "could not start thread 2 of 2");
}

TEST(EngineThreadPool, RunsEveryIndexOnceWithAnInjectedSpawn) {
  const ThreadPool::Spawn plain = [](std::function<void()> body) { return std::thread(std::move(body)); };
  ThreadPool pool(4, plain);
  EXPECT_EQ(pool.threads(), 4u);
  std::vector<std::atomic<int>> hits(1000);
  pool.run(hits.size(), [&](std::size_t i) { ++hits[i]; });
  for (const auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(EngineThreadPool, AbsurdThreadCountsAreRefused) {
  EXPECT_THROW_WITH(ThreadPool(100000), InvalidArgument, "100000 threads is more than the 1024");
  std::vector<float> w(4), g(4);
  Adam adam({Parameter("w", std::span(w), std::span(g))});
  adam.set_num_threads(3);
  EXPECT_THROW_WITH(adam.set_num_threads(100000), InvalidArgument, "Adam: set_num_threads(): 100000 threads");
  EXPECT_EQ(adam.num_threads(), 3u);  // unchanged by the refused call
  adam.set_num_threads(detail::kMaxThreads);
  EXPECT_EQ(adam.num_threads(), detail::kMaxThreads);
}

TEST(EngineExclusiveUse, ASecondHolderIsRefusedAndTheFirstKeepsTheFlag) {
  detail::InUseFlag flag;
  {
    const detail::ExclusiveUse first(flag, "Adam", "step()");
    EXPECT_THROW_WITH(detail::ExclusiveUse(flag, "Adam", "zero_grad()"), Error,
                      "Adam: zero_grad() called while another call is running on the same optimizer");
    // The refused guard did not release the flag it never took.
    EXPECT_THROW(detail::ExclusiveUse(flag, "Adam", "step()"), Error);
  }
  EXPECT_NO_THROW(detail::ExclusiveUse(flag, "Adam", "step()"));  // released with the first guard
}

// Two threads step one optimizer (with a pool of its own) until one of them is refused. Before the fix
// this deadlocked in the pool (the second run() reset the first one's counters). Now every call either
// steps or throws having changed nothing: the step count equals the steps that succeeded.
TEST(EngineExclusiveUse, TwoThreadsSteppingOneOptimizerGetAnErrorNotAHang) {
  std::vector<float> w(1 << 20, 1.0f), g(1 << 20, 0.5f);
  Adam adam({Parameter("w", std::span(w), std::span(g))});
  adam.set_num_threads(2);
  std::atomic<int> ready{0}, refused{0}, stepped{0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  const auto hammer = [&] {
    ++ready;
    while (ready.load() < 2) std::this_thread::yield();
    while (refused.load() == 0 && std::chrono::steady_clock::now() < deadline) {
      try {
        adam.step();
        ++stepped;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("not thread-safe"), std::string::npos) << e.what();
        ++refused;
      }
    }
  };
  std::thread a(hammer), b(hammer);
  a.join();
  b.join();
  EXPECT_GT(refused.load(), 0);
  EXPECT_EQ(adam.step_count("w"), stepped.load());
}

}  // namespace
}  // namespace descent
