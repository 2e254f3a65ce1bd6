// The sync thread's timing as pure objects, stepped by hand: when a batch of
// events closes (quiet period, burst mode, max_delay, max_batch) and when the
// loop ticks, checks drift and retries a failed apply.
#include "agent/schedule.h"

#include <gtest/gtest.h>

#include <vector>

namespace netpol::agent {
namespace {

using std::chrono::microseconds;
using std::chrono::milliseconds;

const SteadyTime T0 = SteadyTime{} + std::chrono::hours(1);
SteadyTime at_us(int64_t us) {
  return T0 + microseconds(us);
}

// One batch: it opens at `open_us`, then each step is one wait that ended at
// `end_us`, with or without a new event; the window answers with the
// deadline that wait had and whether the batch closed after it.
struct WindowStep {
  int64_t start_us;  // when the wait began
  bool grew;         // an event arrived during it
  int64_t end_us;    // when it ended
  int64_t want_deadline_us;
  bool want_closed;
};
struct WindowCase {
  const char* name;
  std::optional<int64_t> previous_close_us;  // the batch before, if any
  int64_t open_us;
  std::vector<WindowStep> steps;
};

TEST(BatchWindow, ClosesAfterQuietOrMaxDelay) {
  const BatchWindowOptions o;  // quiet 250 us, burst_quiet 2 ms, window 5 ms, max_delay 20 ms
  const std::vector<WindowCase> cases = {
      {"isolated event: quiet period", std::nullopt, 0, {{0, false, 250, 250, true}}},
      {"each event restarts the quiet period",
       std::nullopt,
       0,
       {{0, true, 100, 250, false}, {100, true, 300, 350, false}, {300, false, 550, 550, true}}},
      {"previous batch long ago: not a burst", -5000, 0, {{0, false, 250, 250, true}}},
      {"previous batch just closed: burst quiet",
       -4999,
       0,
       {{0, true, 1000, 2000, false}, {1000, false, 3000, 3000, true}}},
      {"a steady stream stops at max_delay",
       -100,
       0,
       {{0, true, 1000, 2000, false},
        {19000, true, 19500, 20000, false},
        {19500, true, 20000, 20000, true}}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    BatchWindow w(o);
    if (c.previous_close_us) w.close(at_us(*c.previous_close_us));
    w.open(at_us(c.open_us));
    for (const auto& s : c.steps) {
      EXPECT_EQ(w.deadline(at_us(s.start_us)), at_us(s.want_deadline_us))
          << "wait from " << s.start_us;
      EXPECT_EQ(w.closes(s.grew, at_us(s.end_us)), s.want_closed) << "wait ending " << s.end_us;
    }
  }
}

TEST(BatchWindow, IsFullAtMaxBatch) {
  BatchWindowOptions o;
  o.max_batch = 3;
  BatchWindow w(o);
  w.open(T0);
  EXPECT_FALSE(w.full(2));
  EXPECT_TRUE(w.full(3));
  EXPECT_TRUE(w.full(4));
}

TEST(BatchWindow, BurstModeFollowsTheLastClose) {
  BatchWindow w(BatchWindowOptions{});
  w.open(T0);
  EXPECT_EQ(w.quiet(), microseconds(250));
  w.close(at_us(100));
  w.open(at_us(5099));
  EXPECT_EQ(w.quiet(), microseconds(2000));
  w.close(at_us(6000));
  w.open(at_us(11000));
  EXPECT_EQ(w.quiet(), microseconds(250)) << "5 ms after the last close the burst is over";
}

SyncScheduleOptions schedule_options() {
  SyncScheduleOptions o;
  o.tick = milliseconds(100);
  o.drift_interval = milliseconds(1000);
  o.drift_read_back_every = 3;
  o.backoff = {milliseconds(10), milliseconds(50), 2.0, 0.0};
  return o;
}
SteadyTime at_ms(int64_t ms) {
  return T0 + milliseconds(ms);
}

TEST(SyncSchedule, TicksFromWhenTheyFire) {
  SyncSchedule s(schedule_options(), T0, nullptr);
  EXPECT_EQ(s.next_wake(), T0) << "the first tick is at once";
  struct Step {
    int64_t now_ms;
    bool want_tick;
    int64_t want_next_ms;
  };
  const std::vector<Step> steps = {
      {0, true, 100}, {50, false, 100}, {100, true, 200}, {250, true, 350}, {349, false, 350}};
  for (const auto& st : steps) {
    EXPECT_EQ(s.tick(at_ms(st.now_ms)), st.want_tick) << "at " << st.now_ms;
    EXPECT_EQ(s.next_wake(), at_ms(st.want_next_ms)) << "at " << st.now_ms;
  }
}

TEST(SyncSchedule, DriftChecksReadBackEveryNth) {
  SyncSchedule s(schedule_options(), T0, nullptr);
  struct Step {
    int64_t now_ms;
    bool want_due;
    bool want_read_back;
  };
  const std::vector<Step> steps = {
      {999, false, false}, {1000, true, false}, {1500, false, false},
      {2000, true, false}, {3100, true, true},  {4099, false, false},
      {4100, true, false}, {9000, true, false}, {10000, true, true},
  };
  for (const auto& st : steps) {
    const auto d = s.drift(at_ms(st.now_ms));
    EXPECT_EQ(d.due, st.want_due) << "at " << st.now_ms;
    EXPECT_EQ(d.read_back, st.want_read_back) << "at " << st.now_ms;
  }
}

TEST(SyncSchedule, FailedAppliesBackOffExponentiallyAndSuccessResets) {
  SyncSchedule s(schedule_options(), T0, nullptr);
  (void)s.tick(T0);
  EXPECT_TRUE(s.apply_due(T0));
  EXPECT_FALSE(s.retrying());
  struct Step {
    int64_t fail_at_ms;
    int64_t want_delay_ms;
  };
  // 10, 20, 40, then capped at 50.
  int64_t t = 0;
  for (const Step st : {Step{0, 10}, Step{10, 20}, Step{30, 40}, Step{70, 50}, Step{120, 50}}) {
    ASSERT_EQ(st.fail_at_ms, t);
    EXPECT_TRUE(s.apply_due(at_ms(t)));
    EXPECT_EQ(s.failed(at_ms(t)), milliseconds(st.want_delay_ms));
    EXPECT_TRUE(s.retrying());
    EXPECT_FALSE(s.apply_due(at_ms(t + st.want_delay_ms - 1))) << "no apply before the retry";
    EXPECT_EQ(s.next_wake(), std::min(at_ms(t + st.want_delay_ms), at_ms(100)))
        << "the retry or the tick, whichever comes first";
    t += st.want_delay_ms;
  }
  EXPECT_EQ(s.attempts(), 3) << "the exponent stops growing once capped";
  s.succeeded();
  EXPECT_FALSE(s.retrying());
  EXPECT_EQ(s.attempts(), 0);
  EXPECT_EQ(s.failed(at_ms(500)), milliseconds(10)) << "after a success the backoff starts over";
}

TEST(SyncSchedule, JitterStretchesTheDelay) {
  SyncScheduleOptions o = schedule_options();
  o.backoff.jitter = 0.5;
  SyncSchedule s(o, T0, [] { return 0.5; });
  EXPECT_EQ(s.failed(T0), milliseconds(12)) << "10 ms * (1 + 0.5 * 0.5)";
}

}  // namespace
}  // namespace netpol::agent
