// Polls a condition that another thread makes true: for tests of threads
// that run on real time (the agent, informers, the fake API server).
// Header-only, test code only.
#pragma once

#include <chrono>
#include <thread>

namespace netpol::testsupport {

// True as soon as `pred()` is; false if it still is not after `timeout`
// (checked every `every`, and once more at the end).
template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                std::chrono::milliseconds every = std::chrono::milliseconds(5)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(every);
  }
  return pred();
}

}  // namespace netpol::testsupport
