// Fixed-chunk parallel loop on std::thread (no OpenMP: its runtime collides across wheels).
//
// Work is cut into chunks whose boundaries depend only on the problem size, never on the thread
// count; each chunk writes a disjoint slice of the output with its own scratch, so every n_jobs
// gives bitwise-identical results.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace xplain {

/// Thrown when the caller's interruption check asked the loop to stop (e.g. Ctrl-C).
struct interrupted_error : std::runtime_error {
  interrupted_error() : std::runtime_error("interrupted") {}
};

/// Number of threads to use for a requested n_jobs: <= 0 means all hardware threads; never more
/// than there are chunks, nor more than 4 per hardware thread (an absurd n_jobs would otherwise
/// start thousands of threads for nothing: chunks, not threads, fix the results).
inline int resolve_threads(int n_jobs, int64_t n_chunks) {
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int64_t n = n_jobs <= 0 ? hw : std::min<int64_t>(n_jobs, int64_t{4} * hw);
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(n, n_chunks)));
}

/// Set when a parallel loop stops early (its interruption check fired, or a chunk threw). A chunk
/// that runs long may poll the loop's flag (passed to parallel_for_chunks) and return early: the
/// loop then throws, so a partial result is never used.
using StopFlag = std::atomic<bool>;

/// Runs work(chunk) for chunk in [0, n_chunks) on n_threads threads. Without `interrupted`, the
/// calling thread is one of them. With it, the calling thread only polls it (every 20 ms) while
/// n_threads workers run the chunks, so that a check on the caller's thread (Python's Ctrl-C)
/// answers within a chunk's time, or sooner for chunks that poll `stop`; when it returns true,
/// `stop` is set, the loop ends after the running chunks and interrupted_error is thrown. The
/// first exception thrown by any chunk is re-thrown on the calling thread after every thread has
/// joined. `stop` may be the caller's own flag, for its chunks to poll.
inline void parallel_for_chunks(int64_t n_chunks, int n_threads,
                                const std::function<void(int64_t)>& work,
                                const std::function<bool()>& interrupted = {}, StopFlag* stop = nullptr) {
  if (n_chunks <= 0) return;
  std::atomic<int64_t> next{0};
  StopFlag own_stop{false};
  StopFlag& stopping = stop ? *stop : own_stop;
  stopping = false;
  std::exception_ptr first_error;
  std::mutex mutex;  // guards first_error and running
  std::condition_variable finished;
  int running = 0;

  auto run = [&] {
    for (;;) {
      if (stopping.load(std::memory_order_relaxed)) break;
      const int64_t chunk = next.fetch_add(1, std::memory_order_relaxed);
      if (chunk >= n_chunks) break;
      try {
        work(chunk);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        if (!first_error) first_error = std::current_exception();
        stopping = true;
        break;
      }
    }
  };

  bool was_interrupted = false;
  std::vector<std::thread> threads;
  const int workers = interrupted ? std::max(1, n_threads) : n_threads - 1;
  threads.reserve(static_cast<size_t>(std::max(0, workers)));
  running = std::max(0, workers);
  for (int t = 0; t < workers; ++t)
    threads.emplace_back([&] {
      run();
      std::lock_guard<std::mutex> lock(mutex);
      --running;
      finished.notify_one();
    });
  if (interrupted) {
    std::unique_lock<std::mutex> lock(mutex);
    while (running > 0) {
      if (finished.wait_for(lock, std::chrono::milliseconds(20), [&] { return running == 0; })) break;
      lock.unlock();
      const bool asked = !was_interrupted && interrupted();
      lock.lock();
      if (asked) {
        was_interrupted = true;
        stopping = true;
      }
    }
  } else {
    run();
  }
  for (auto& th : threads) th.join();
  if (first_error) std::rethrow_exception(first_error);
  if (was_interrupted) throw interrupted_error();
}

}  // namespace xplain
