// When the sync thread acts, as pure objects over a time it is given (no
// clock, no thread, no kernel), so their tests step time by hand.
//
// BatchWindow: how long a batch of events stays open. It opens when the
// sync thread sees an event; it closes after `quiet` without a new one, at
// `max_delay` after it opened, or at `max_batch` events. A batch opening
// within `burst_window` of the previous batch's close is part of a burst
// (kubectl writing objects one by one) and waits `burst_quiet` instead.
//
// SyncSchedule: the thread's other deadlines. A heartbeat tick (and
// resourceVersion watermark) every `tick`; a drift check every
// `drift_interval`, reading the table back on every Nth; after a failed
// apply, a retry after exponential backoff, and no apply before it.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>

#include "k8s/api/informer.h"

namespace netpol::agent {

using SteadyTime = std::chrono::steady_clock::time_point;

struct BatchWindowOptions {
  std::chrono::microseconds quiet{250};
  std::chrono::microseconds burst_quiet{2000};
  std::chrono::microseconds burst_window{5000};
  std::chrono::milliseconds max_delay{20};
  size_t max_batch = 1000;
};

class BatchWindow {
 public:
  explicit BatchWindow(BatchWindowOptions o) : o_(o) {}

  // A batch opens at `now`: picks its quiet period.
  void open(SteadyTime now);
  // The quiet period of the open batch (burst_quiet in a burst, else quiet).
  std::chrono::microseconds quiet() const { return quiet_; }
  // With `queued` events waiting: true if the batch is full.
  bool full(size_t queued) const { return queued >= o_.max_batch; }
  // Until when to wait for the next event, waiting from `now`.
  SteadyTime deadline(SteadyTime now) const;
  // A wait ended at `now`; `grew`: a new event arrived during it.
  bool closes(bool grew, SteadyTime now) const { return !grew || now >= opened_ + o_.max_delay; }
  // The batch was taken at `now` (the next one may be part of a burst).
  void close(SteadyTime now) { last_close_ = now; }

 private:
  BatchWindowOptions o_;
  SteadyTime opened_{};
  std::chrono::microseconds quiet_{0};
  std::optional<SteadyTime> last_close_;
};

struct SyncScheduleOptions {
  std::chrono::milliseconds tick{100};
  std::chrono::milliseconds drift_interval{60'000};
  unsigned drift_read_back_every = 10;
  k8s::api::BackoffPolicy backoff;
};

class SyncSchedule {
 public:
  // `random` in [0, 1) stretches the backoff (its jitter).
  SyncSchedule(SyncScheduleOptions o, SteadyTime now, std::function<double()> random);

  // The earliest of the next tick, drift check and retry.
  SteadyTime next_wake() const;
  // True (and the next tick scheduled from `now`) if a tick is due.
  bool tick(SteadyTime now);
  // Waiting for the retry of a failed apply.
  bool retrying() const { return retry_at_.has_value(); }
  // An apply may run now: no failure waits for its retry, or its time came.
  bool apply_due(SteadyTime now) const { return !retry_at_ || now >= *retry_at_; }
  // Called after a successful apply: whether a drift check is due (the next
  // one scheduled from `now`), and whether it must read the table back.
  struct Drift {
    bool due = false;
    bool read_back = false;
  };
  Drift drift(SteadyTime now);
  // The apply (or drift check) succeeded: the backoff starts over.
  void succeeded();
  // It failed at `now`: the retry waits the returned delay.
  std::chrono::milliseconds failed(SteadyTime now);
  int attempts() const { return backoff_.attempts(); }

 private:
  SyncScheduleOptions o_;
  k8s::api::Backoff backoff_;
  SteadyTime tick_at_;
  SteadyTime drift_at_;
  unsigned drift_checks_ = 0;
  std::optional<SteadyTime> retry_at_;
};

}  // namespace netpol::agent
