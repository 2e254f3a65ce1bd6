// /metrics must parse as Prometheus text: the registry's output checked by a
// strict parser, and the parser checked on broken inputs so it can fail.
#include "agent/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <thread>

#include "tests/unit/agent/promparse.h"

namespace netpol::agent {
namespace {

using testing::parse_exposition;

TEST(Metrics, RegistryRendersStrictlyValidText) {
  Registry r;
  r.counter("demo_events_total", "Events with \\ and\nnewline in help", {"kind", "op"})
      .with({"pod", "upsert"})
      .inc(3);
  r.counter("demo_events_total_2", "x", {"kind"}).with({"we\"ird\\va\nlue"}).inc();
  r.gauge("demo_ready", "ready").with().set(1);
  auto& h = r.histogram("demo_latency_seconds", "latency", latency_buckets(), {"mode"});
  h.with({"full"}).observe(0.0003);
  h.with({"full"}).observe(0.004);
  h.with({"full"}).observe(42);  // above every bound: only +Inf
  h.with({"incremental"});       // no observations yet: zeros, still complete
  r.gauge("demo_empty", "family without children");

  const std::string text = r.render();
  std::string err;
  auto parsed = parse_exposition(text, &err);
  ASSERT_TRUE(parsed) << err << "\n" << text;
  EXPECT_EQ(parsed->value("demo_events_total", {{"kind", "pod"}, {"op", "upsert"}}), 3);
  EXPECT_EQ(parsed->value("demo_events_total_2", {{"kind", "we\"ird\\va\nlue"}}), 1);
  EXPECT_EQ(parsed->value("demo_latency_seconds_count", {{"mode", "full"}}), 3);
  EXPECT_EQ(parsed->value("demo_latency_seconds_bucket", {{"mode", "full"}, {"le", "0.0005"}}), 1);
  EXPECT_EQ(parsed->value("demo_latency_seconds_bucket", {{"mode", "full"}, {"le", "0.005"}}), 2);
  EXPECT_EQ(parsed->value("demo_latency_seconds_bucket", {{"mode", "full"}, {"le", "10"}}), 2);
  EXPECT_EQ(parsed->value("demo_latency_seconds_bucket", {{"mode", "full"}, {"le", "+Inf"}}), 3);
  EXPECT_NEAR(*parsed->value("demo_latency_seconds_sum", {{"mode", "full"}}), 42.0043, 1e-9);
  EXPECT_EQ(parsed->value("demo_latency_seconds_count", {{"mode", "incremental"}}), 0);
  EXPECT_EQ(parsed->families.at("demo_latency_seconds").type, "histogram");
  EXPECT_EQ(parsed->families.at("demo_empty").type, "gauge");
}

TEST(Metrics, CollectorsRunBeforeEachRender) {
  Registry r;
  Gauge& g = r.gauge("demo_objects", "objects").with();
  int calls = 0;
  r.add_collector([&] { g.set(++calls * 10); });
  EXPECT_NE(r.render().find("demo_objects 10\n"), std::string::npos);
  EXPECT_NE(r.render().find("demo_objects 20\n"), std::string::npos);
}

TEST(Metrics, ConcurrentObservationsAreAllCounted) {
  Registry r;
  Histogram& h = r.histogram("demo_seconds", "x", latency_buckets()).with();
  Counter& c = r.counter("demo_total", "x").with();
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        h.observe(0.001);
        c.inc();
      }
    });
  }
  // Scrapes racing the writers must stay valid (buckets never above +Inf).
  for (int i = 0; i < 50; ++i) {
    std::string err;
    ASSERT_TRUE(parse_exposition(r.render(), &err)) << err;
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_EQ(c.value(), 40000);
  EXPECT_NEAR(h.sum(), 40.0, 1e-6);
}

TEST(Metrics, ValueFormatting) {
  EXPECT_EQ(format_value(3), "3");
  EXPECT_EQ(format_value(0.0001), "0.0001");
  EXPECT_EQ(format_value(1.5), "1.5");
  EXPECT_EQ(format_value(HUGE_VAL), "+Inf");
  EXPECT_EQ(format_value(-HUGE_VAL), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
  EXPECT_EQ(format_value(1e20), "1e+20");
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_help("a\\b\nc\"d"), "a\\\\b\\nc\"d");
  EXPECT_TRUE(valid_metric_name("netpol_a:b_1"));
  EXPECT_FALSE(valid_metric_name("1abc"));
  EXPECT_FALSE(valid_metric_name("a-b"));
  EXPECT_FALSE(valid_label_name("__reserved"));
  EXPECT_FALSE(valid_label_name("le"));
  EXPECT_FALSE(valid_label_name("a:b"));
}

// The parser itself must reject broken text, or the test above proves nothing.
TEST(PromParse, RejectsBrokenExpositions) {
  const char* bad[] = {
      "a 1",                                        // no final newline
      "1a 1\n",                                     // bad name
      "a{b=\"1\",} 1\n",                            // trailing comma
      "a{b=\"1\\t\"} 1\n",                          // bad escape
      "a{b=\"1} 1\n",                               // unterminated
      "a{b=1} 1\n",                                 // unquoted
      "a{b=\"1\",b=\"2\"} 1\n",                     // duplicate label
      "a one\n",                                    // not a float
      "a 1\na 2\n",                                 // duplicate series
      "a 1\nb 1\na{x=\"1\"} 1\n",                   // family split in two blocks
      "a 1\n# TYPE a counter\n",                    // TYPE after samples
      "# TYPE a counter\n# TYPE a counter\na 1\n",  // TYPE twice
      "# TYPE a countr\na 1\n",                     // unknown type
      "# TYPE a counter\na -1\n",                   // negative counter
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
      "# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",
      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n",  // +Inf != count
      "# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_count 1\n",           // no sum
      ("# TYPE h histogram\nh_bucket{le=\"2\"} 0\nh_bucket{le=\"1\"} 0\n"
       "h_bucket{le=\"+Inf\"} 0\nh_sum 0\nh_count 0\n"),  // le not increasing
      "# HELP a bad \\t escape\na 1\n",
  };
  for (const char* text : bad) {
    std::string err;
    EXPECT_FALSE(parse_exposition(text, &err)) << "accepted:\n" << text;
  }
  std::string err;
  EXPECT_TRUE(
      parse_exposition("# HELP a x\n# TYPE a gauge\na{b=\"\\\"\"} 1 1700000000\n"
                       "# a plain comment\n",
                       &err))
      << err;
}

}  // namespace
}  // namespace netpol::agent
