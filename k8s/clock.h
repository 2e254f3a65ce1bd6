// Time as the agent sees it: now(), deadline waits and interruptible sleeps,
// behind one interface so tests step time instead of sleeping. RealClock
// reads std::chrono::steady_clock; ManualClock moves only when told to, and
// its advance() wakes every wait whose deadline it passed. Header-only.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "k8s/thread_annotations.h"

namespace netpol {

// A condition variable over a MutexLock that counts its notifications, so a
// ManualClock can tell a waiter that is parked from one already woken.
class CondVar {
 public:
  void notify_one() {
    ++notified_;
    cv_.notify_one();
  }
  void notify_all() {
    ++notified_;
    cv_.notify_all();
  }
  // Waits without a deadline (no clock involved).
  template <typename Pred>
  void wait(MutexLock& lock, Pred done) {
    cv_.wait(lock, std::move(done));
  }
  uint64_t notified() const { return notified_.load(); }
  std::condition_variable_any& native() { return cv_; }

 private:
  std::condition_variable_any cv_;
  std::atomic<uint64_t> notified_{0};
};

class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;

  virtual time_point now() = 0;
  // Wall-clock time, for timestamps people read (never for intervals).
  virtual std::chrono::system_clock::time_point wall_now() = 0;
  // With `lock` held: waits on `cv` until `done()` (evaluated under the lock;
  // it must not call the clock) or until now() reaches `deadline`. Returns done().
  virtual bool wait_until(MutexLock& lock, CondVar& cv, time_point deadline,
                          const std::function<bool()>& done) = 0;

  // Sleeps for `d`; returns false at once (now or later) after interrupt().
  virtual bool sleep_for(std::chrono::milliseconds d) {
    MutexLock lock(sleep_mu_);
    return !wait_until(lock, sleep_cv_, now() + d,
                       [this]() REQUIRES(sleep_mu_) { return interrupted_; });
  }
  // Wakes current sleepers and makes every later sleep return false at once.
  virtual void interrupt() {
    {
      MutexLock lock(sleep_mu_);
      interrupted_ = true;
    }
    sleep_cv_.notify_all();
  }

 private:
  Mutex sleep_mu_;
  CondVar sleep_cv_;
  bool interrupted_ GUARDED_BY(sleep_mu_) = false;
};

class RealClock final : public Clock {
 public:
  time_point now() override { return std::chrono::steady_clock::now(); }
  std::chrono::system_clock::time_point wall_now() override {
    return std::chrono::system_clock::now();
  }
  bool wait_until(MutexLock& lock, CondVar& cv, time_point deadline,
                  const std::function<bool()>& done) override {
    return cv.native().wait_until(lock, deadline, done);
  }
};

inline std::shared_ptr<Clock> make_real_clock() {
  return std::make_shared<RealClock>();
}

// Time that stands still until advance(). A wait parks until its condition
// variable is notified or advance() passes its deadline; tests use
// await_parked() to know the waiting thread has nothing left to do but wait.
class ManualClock : public Clock {
 public:
  explicit ManualClock(time_point start = time_point{}) : start_(start), now_(start) {}

  time_point now() override {
    MutexLock lock(mu_);
    return now_;
  }
  // The Unix epoch at `start`, moving with now().
  std::chrono::system_clock::time_point wall_now() override {
    MutexLock lock(mu_);
    return std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(now_ - start_));
  }

  bool wait_until(MutexLock& lock, CondVar& cv, time_point deadline,
                  const std::function<bool()>& done) override {
    // The waiter's mutex and ours are released together by the wait, so an
    // advance() (which notifies under ours) cannot slip in between the
    // deadline check and the wait.
    struct Both {
      MutexLock& user;
      Mutex& ours;
      void lock() NO_THREAD_SAFETY_ANALYSIS {
        user.lock();
        ours.lock();
      }
      void unlock() NO_THREAD_SAFETY_ANALYSIS {
        ours.unlock();
        user.unlock();
      }
    } both{lock, mu_};
    while (!done()) {
      mu_.lock();
      if (now_ >= deadline) {
        mu_.unlock();
        return done();
      }
      auto w = std::make_shared<Waiter>(Waiter{&cv, deadline, cv.notified(), false});
      waiters_.push_back(w);
      parked_cv_.notify_all();
      cv.native().wait(both);
      waiters_.erase(std::find(waiters_.begin(), waiters_.end(), w));
      mu_.unlock();
    }
    return true;
  }

  // Moves time on by `d` and wakes every waiter (each re-checks its deadline).
  void advance(std::chrono::nanoseconds d) {
    MutexLock lock(mu_);
    now_ += d;
    for (const auto& w : waiters_) {
      w->woken = true;
      w->cv->notify_all();
    }
  }
  // The earliest deadline a parked waiter waits for.
  std::optional<time_point> next_deadline() {
    MutexLock lock(mu_);
    std::optional<time_point> next;
    for (const auto& w : waiters_) {
      if (parked(*w) && (!next || w->deadline < *next)) next = w->deadline;
    }
    return next;
  }
  // Advances to next_deadline(); false if nobody waits for one.
  bool advance_to_next_deadline() {
    const auto next = next_deadline();
    if (!next) return false;
    advance(std::max(*next - now(), std::chrono::nanoseconds(0)));
    return true;
  }
  // Blocks (in real time, at most `limit`) until some thread is parked in
  // wait_until: its condition was false, its deadline is ahead, and neither a
  // notification nor an advance() has woken it since.
  bool await_parked(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    MutexLock lock(mu_);
    return parked_cv_.native().wait_for(lock, limit, [this]() REQUIRES(mu_) {
      return std::any_of(waiters_.begin(), waiters_.end(),
                         [](const auto& w) { return parked(*w); });
    });
  }

 private:
  struct Waiter {
    CondVar* cv;
    time_point deadline;
    uint64_t notified;  // cv's count when it parked
    bool woken;         // by advance()
  };
  static bool parked(const Waiter& w) { return !w.woken && w.cv->notified() == w.notified; }
  const time_point start_;
  Mutex mu_;
  CondVar parked_cv_;
  time_point now_ GUARDED_BY(mu_);
  std::vector<std::shared_ptr<Waiter>> waiters_ GUARDED_BY(mu_);
};

}  // namespace netpol
