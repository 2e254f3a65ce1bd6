// Clang thread-safety annotations (-Wthread-safety) and a mutex that carries
// them. libstdc++'s std::mutex has none, so guarded state uses netpol::Mutex
// with MutexLock; std::condition_variable_any waits on a MutexLock. A
// predicate run under the lock says so: `[&]() REQUIRES(mu_) { ... }`.
// Under gcc the macros expand to nothing. Header-only; no dependencies.
#pragma once

#include <mutex>

#if defined(__clang__)
#define NETPOL_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define NETPOL_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) NETPOL_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY NETPOL_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) NETPOL_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) NETPOL_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) NETPOL_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) NETPOL_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) NETPOL_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) NETPOL_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) NETPOL_THREAD_ANNOTATION(try_acquire_capability(__VA_ARGS__))
#define RETURN_CAPABILITY(x) NETPOL_THREAD_ANNOTATION(lock_returned(x))
#define NO_THREAD_SAFETY_ANALYSIS NETPOL_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace netpol {

// std::mutex with annotations. Lockable, so std::condition_variable_any and
// std::scoped_lock accept it.
class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { mu_.lock(); }
  void unlock() RELEASE() { mu_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return mu_.try_lock(); }

 private:
  std::mutex mu_;
};

// Holds a Mutex for its scope, like std::unique_lock: unlock() and lock()
// release and take it again in between, and a condition_variable_any waits
// on it (which unlocks and relocks it through the same two calls).
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& mu) ACQUIRE(mu) : mu_(mu) { mu_.lock(); }
  ~MutexLock() RELEASE() {
    if (held_) mu_.unlock();
  }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

  void lock() ACQUIRE() {
    mu_.lock();
    held_ = true;
  }
  void unlock() RELEASE() {
    held_ = false;
    mu_.unlock();
  }
  Mutex& mutex() const { return mu_; }

 private:
  Mutex& mu_;
  bool held_ = true;
};

}  // namespace netpol
