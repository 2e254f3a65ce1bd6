// The log file: rotation by size, reopen after logrotate, and lines that
// cannot be written in time are dropped and reported, never blocking.
#include "agent/audit/writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "agent/audit/auditor.h"

namespace netpol::audit {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           ("netpol-audit-" + std::to_string(getpid()) + "-" + std::to_string(counter++));
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  static inline int counter = 0;
};

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

// Lines of equal length (n below 1000), so "ten lines a file" is exact.
std::string line(int i) {
  char n[8];
  std::snprintf(n, sizeof n, "%03d", i);
  return "{\"n\":\"" + std::string(n) + "\",\"pad\":\"" + std::string(40, 'x') + "\"}\n";
}

TEST(Writer, AppendsLines) {
  TempDir d;
  auto w = LogWriter::open({(d.path / "audit.log").string()});
  ASSERT_TRUE(w.ok()) << w.message();
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(w.value()->push(line(i)));
  w.value()->flush();
  EXPECT_EQ(read_lines(d.path / "audit.log").size(), 3u);
  EXPECT_EQ(w.value()->stats().lines_written, 3u);
}

TEST(Writer, RotatesBySizeKeepingTheNewestFiles) {
  TempDir d;
  const fs::path p = d.path / "audit.log";
  WriterConfig c;
  c.path = p.string();
  c.max_bytes = 10 * line(0).size();  // ten lines a file
  c.keep = 2;
  auto w = LogWriter::open(c);
  ASSERT_TRUE(w.ok());
  for (int i = 0; i < 45; ++i) ASSERT_TRUE(w.value()->push(line(i)));
  w.value()->flush();
  // 45 lines: 40 went through three rotations, PATH.3 never exists.
  EXPECT_EQ(read_lines(p).size(), 5u);
  EXPECT_EQ(read_lines(p.string() + ".1").size(), 10u);
  EXPECT_EQ(read_lines(p.string() + ".2").size(), 10u);
  EXPECT_FALSE(fs::exists(p.string() + ".3"));
  EXPECT_EQ(w.value()->stats().rotations, 4u);
  for (const auto& f : {p, fs::path(p.string() + ".1")}) {
    EXPECT_LE(fs::file_size(f), c.max_bytes) << f;
  }
  // The newest line is in PATH, the ones before it in PATH.1.
  EXPECT_NE(read_lines(p).back().find("\"n\":\"044\""), std::string::npos);
  EXPECT_NE(read_lines(p.string() + ".1").back().find("\"n\":\"039\""), std::string::npos);
}

TEST(Writer, ReopenAfterLogrotateMovedTheFile) {
  TempDir d;
  const fs::path p = d.path / "audit.log";
  auto w = LogWriter::open({p.string()});
  ASSERT_TRUE(w.ok());
  w.value()->push(line(1));
  w.value()->flush();
  fs::rename(p, d.path / "audit.log.old");  // what logrotate does, then SIGHUP
  w.value()->reopen();
  // The writer reopens within its idle wake-up; then new lines go to the new file.
  for (int i = 0; i < 50 && w.value()->stats().reopens == 0; ++i) usleep(20000);
  ASSERT_EQ(w.value()->stats().reopens, 1u);
  w.value()->push(line(2));
  w.value()->flush();
  EXPECT_EQ(read_lines(d.path / "audit.log.old").size(), 1u);
  ASSERT_EQ(read_lines(p).size(), 1u);
  EXPECT_NE(read_lines(p)[0].find("\"n\":\"002\""), std::string::npos);
}

TEST(Writer, AFullQueueDropsLinesAndSaysHowManyWereLost) {
  TempDir d;
  const fs::path p = d.path / "audit.log";
  WriterConfig c;
  c.path = p.string();
  c.queue_lines = 4;
  c.node = "node-1";
  auto w = LogWriter::open(c);
  ASSERT_TRUE(w.ok());
  // Far more than the queue holds, faster than any disk: some are dropped,
  // push() never waits for the disk.
  size_t accepted = 0;
  for (int i = 0; i < 5000; ++i) accepted += w.value()->push(line(i)) ? 1 : 0;
  w.value()->report_lost(3, "nflog_overflow");
  w.value()->flush();
  WriterStats s = w.value()->stats();
  EXPECT_EQ(accepted + s.lines_dropped, 5000u);
  EXPECT_GT(s.lines_dropped, 0u);
  uint64_t reported_queue = 0, reported_overflow = 0;
  size_t data = 0;
  for (const std::string& l : read_lines(p)) {
    auto j = nlohmann::json::parse(l);
    if (j.contains("event") && j["event"] == "lost") {
      EXPECT_EQ(j["node"], "node-1");
      (j["reason"] == "queue_full" ? reported_queue : reported_overflow) +=
          j["count"].get<uint64_t>();
    } else {
      ++data;
    }
  }
  EXPECT_EQ(data, accepted);
  EXPECT_EQ(reported_queue, s.lines_dropped);
  EXPECT_EQ(reported_overflow, 3u);
}

TEST(Writer, AnUnwritablePathIsAnErrorValue) {
  auto w = LogWriter::open({"/nonexistent-dir-netpol/audit.log"});
  EXPECT_FALSE(w.ok());
  EXPECT_NE(w.message().find("/nonexistent-dir-netpol/audit.log"), std::string::npos);
}

}  // namespace
}  // namespace netpol::audit
