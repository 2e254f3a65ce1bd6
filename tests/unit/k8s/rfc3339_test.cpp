#include "k8s/rfc3339.h"

#include <gtest/gtest.h>

namespace netpol {
namespace {

TEST(Rfc3339, MicrosecondsRoundTripAndFractionsOfAnyLength) {
  WallTime t = *parse_rfc3339_utc("2026-01-02T03:04:05.678901Z");
  EXPECT_EQ(format_rfc3339_micros(t), "2026-01-02T03:04:05.678901Z");
  EXPECT_EQ(format_rfc3339_micros(*parse_rfc3339_utc("2026-01-02T03:04:05Z")),
            "2026-01-02T03:04:05.000000Z");
  EXPECT_EQ(format_rfc3339_micros(*parse_rfc3339_utc("2026-01-02T03:04:05.5+00:00")),
            "2026-01-02T03:04:05.500000Z");
  EXPECT_EQ(format_rfc3339_micros(*parse_rfc3339_utc("2026-01-02 03:04:05.123456789z")),
            "2026-01-02T03:04:05.123456Z")
      << "nanoseconds are cut to microseconds, a space may stand for T";
}

TEST(Rfc3339, SecondsFormatDropsTheFraction) {
  EXPECT_EQ(format_rfc3339_seconds(*parse_rfc3339_utc("2026-11-26T16:14:20.999Z")),
            "2026-11-26T16:14:20Z");
}

TEST(Rfc3339, BeforeTheEpochBorrowsASecond) {
  const WallTime t = WallTime{} - std::chrono::microseconds(1);
  EXPECT_EQ(format_rfc3339_micros(t), "1969-12-31T23:59:59.999999Z");
  EXPECT_EQ(*parse_rfc3339_utc("1969-12-31T23:59:59.999999Z"), t);
}

TEST(Rfc3339, AnythingButUtcIsRefused) {
  for (const char* bad :
       {"", "2026-01-02", "2026-13-02T03:04:05Z", "2026-01-02T03:04:05", "2026-01-02T03:04:05.Z",
        "2026-01-02T03:04:05+01:00", "2026-01-02T24:00:00Z", "2026-01-32T03:04:05Z",
        "2026-01-02T03:04:05ZZ", "20x6-01-02T03:04:05Z"}) {
    EXPECT_FALSE(parse_rfc3339_utc(bad)) << bad;
  }
}

}  // namespace
}  // namespace netpol
