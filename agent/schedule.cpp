#include "agent/schedule.h"

#include <algorithm>

namespace netpol::agent {

void BatchWindow::open(SteadyTime now) {
  opened_ = now;
  const bool burst = last_close_ && now - *last_close_ < o_.burst_window;
  quiet_ = burst ? o_.burst_quiet : o_.quiet;
}

SteadyTime BatchWindow::deadline(SteadyTime now) const {
  return std::min<SteadyTime>(opened_ + o_.max_delay, now + quiet_);
}

SyncSchedule::SyncSchedule(SyncScheduleOptions o, SteadyTime now, std::function<double()> random)
    : o_(o),
      backoff_(o.backoff, std::move(random)),
      tick_at_(now),
      drift_at_(now + o.drift_interval) {}

SteadyTime SyncSchedule::next_wake() const {
  const SteadyTime wake = std::min(tick_at_, drift_at_);
  return retry_at_ ? std::min(wake, *retry_at_) : wake;
}

bool SyncSchedule::tick(SteadyTime now) {
  if (now < tick_at_) return false;
  tick_at_ = now + o_.tick;
  return true;
}

SyncSchedule::Drift SyncSchedule::drift(SteadyTime now) {
  if (now < drift_at_) return {};
  drift_at_ = now + o_.drift_interval;
  return {true, ++drift_checks_ % std::max(1u, o_.drift_read_back_every) == 0};
}

void SyncSchedule::succeeded() {
  if (retry_at_) backoff_.reset();
  retry_at_.reset();
}

std::chrono::milliseconds SyncSchedule::failed(SteadyTime now) {
  const auto delay = backoff_.next();
  retry_at_ = now + delay;
  return delay;
}

}  // namespace netpol::agent
