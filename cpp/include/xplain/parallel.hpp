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

/// Runs work(chunk) for chunk in [0, n_chunks) on n_threads threads, the calling thread being one
/// of them. `interrupted`, if set, is polled by the calling thread between its chunks; when it
/// returns true the loop stops early and interrupted_error is thrown. Chunks that may run for
/// seconds pass `stop`, their own flag, and poll it: the calling thread then runs no chunk but
/// polls `interrupted` every 20 ms while n_threads workers run them, and sets `stop` when it fires
/// (a thread more per call, so short chunks do without). The first exception thrown by any chunk
/// is re-thrown on the calling thread after every thread has joined.
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

  bool was_interrupted = false;
  // `check`: the interruption check, for the calling thread between its chunks (empty for workers).
  auto run = [&](const std::function<bool()>& check) {
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
      if (check && check()) {
        was_interrupted = true;
        stopping = true;
        break;
      }
    }
  };

  const bool caller_polls = interrupted && stop;
  std::vector<std::thread> threads;
  const int workers = caller_polls ? std::max(1, n_threads) : n_threads - 1;
  threads.reserve(static_cast<size_t>(std::max(0, workers)));
  running = std::max(0, workers);
  for (int t = 0; t < workers; ++t)
    threads.emplace_back([&] {
      run({});
      std::lock_guard<std::mutex> lock(mutex);
      --running;
      finished.notify_one();
    });
  if (caller_polls) {
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
    run(interrupted);
  }
  for (auto& th : threads) th.join();
  if (first_error) std::rethrow_exception(first_error);
  if (was_interrupted) throw interrupted_error();
}

}  // namespace xplain
