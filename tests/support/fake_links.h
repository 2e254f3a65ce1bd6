// FakeLinks: nft::Links over a LinkState the test sets, with events the test
// raises (Open/R's FakeNetlinkProtocolSocket in spirit). Thread-safe, since
// LinkWatcher reads it from its own thread. Test-only.
#pragma once

#include <condition_variable>
#include <mutex>

#include "nft/links.h"

namespace netpol::testsupport {

class FakeLinks : public nft::Links {
 public:
  // Replaces the state and raises one event.
  void set(nft::LinkState s) {
    {
      std::lock_guard l(mu_);
      state_ = std::move(s);
      ++pending_;
    }
    cv_.notify_all();
  }
  size_t reads() const {
    std::lock_guard l(mu_);
    return reads_;
  }

  nft::Result<nft::LinkState> read() override {
    std::lock_guard l(mu_);
    ++reads_;
    return state_;
  }
  nft::Result<bool> wait(std::chrono::milliseconds timeout) override {
    std::unique_lock l(mu_);
    cv_.wait_for(l, timeout, [&] { return pending_ > 0; });
    const bool got = pending_ > 0;
    pending_ = 0;
    return got;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  nft::LinkState state_;
  size_t pending_ = 0;
  size_t reads_ = 0;
};

}  // namespace netpol::testsupport
