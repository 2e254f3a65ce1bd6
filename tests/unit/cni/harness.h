// What the netpol-cni tests share: running a program as a container runtime
// runs a CNI plugin (environment and stdin in; exit status, stdout, stderr
// out), a temporary directory, and a Binder whose answers a test chooses and
// whose calls it can read.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "agent/cni/server.h"

namespace netpol::cni::test {

struct ProgramRun {
  int exit_code = -1;  // -1: killed or not run
  std::string out, err;
};

// Runs PROGRAM (argv[0] only, as runtimes do) with exactly ENV as its
// environment, STDIN on its standard input.
ProgramRun run_program(const std::string& program, const std::map<std::string, std::string>& env,
                       const std::string& stdin_text, const std::vector<std::string>& args = {});

// build/bin/netpol-cni.
const std::string& plugin_path();

class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A Binder for tests: every call is recorded; `answer` decides (ok by default),
// after `delay`.
class FakeBinder : public Binder {
 public:
  Status bind(const Request& r, Clock::time_point deadline) override { return call(r, deadline); }
  Status release(const Request& r, Clock::time_point deadline) override {
    return call(r, deadline);
  }
  Status check(const Request& r, Clock::time_point deadline) override { return call(r, deadline); }

  std::vector<Request> calls() const;
  void set_answer(std::function<Status(const Request&)> f);
  void set_delay(std::chrono::milliseconds d) { delay_ms_ = static_cast<int>(d.count()); }

 private:
  Status call(const Request& r, Clock::time_point deadline);
  mutable std::mutex mu_;
  std::vector<Request> calls_;
  std::function<Status(const Request&)> answer_;
  std::atomic<int> delay_ms_{0};
};

}  // namespace netpol::cni::test
