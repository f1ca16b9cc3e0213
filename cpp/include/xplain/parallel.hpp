// Fixed-chunk parallel loop on std::thread (no OpenMP: its runtime collides across wheels).
//
// Work is cut into chunks whose boundaries depend only on the problem size, never on the thread
// count; each chunk writes a disjoint slice of the output with its own scratch, so every n_jobs
// gives bitwise-identical results.
#pragma once

#include <algorithm>
#include <atomic>
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

/// Runs work(chunk) for chunk in [0, n_chunks) on n_threads threads (the calling thread is one).
/// `interrupted`, if set, is polled by the calling thread between its chunks; when it returns
/// true the loop stops early and interrupted_error is thrown. The first exception thrown by any
/// chunk is re-thrown on the calling thread after every thread has joined.
inline void parallel_for_chunks(int64_t n_chunks, int n_threads,
                                const std::function<void(int64_t)>& work,
                                const std::function<bool()>& interrupted = {}) {
  if (n_chunks <= 0) return;
  std::atomic<int64_t> next{0};
  std::atomic<bool> stop{false};
  std::exception_ptr first_error;
  std::mutex error_mutex;
  bool was_interrupted = false;

  auto run = [&](bool is_caller) {
    for (;;) {
      if (stop.load(std::memory_order_relaxed)) return;
      int64_t chunk = next.fetch_add(1, std::memory_order_relaxed);
      if (chunk >= n_chunks) return;
      try {
        work(chunk);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!first_error) first_error = std::current_exception();
        stop = true;
        return;
      }
      if (is_caller && interrupted && interrupted()) {
        was_interrupted = true;
        stop = true;
        return;
      }
    }
  };

  std::vector<std::thread> threads;
  threads.reserve(static_cast<size_t>(std::max(0, n_threads - 1)));
  for (int t = 1; t < n_threads; ++t) threads.emplace_back(run, false);
  run(true);
  for (auto& th : threads) th.join();
  if (first_error) std::rethrow_exception(first_error);
  if (was_interrupted) throw interrupted_error();
}

}  // namespace xplain
