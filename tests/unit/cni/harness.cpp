#include "tests/unit/cni/harness.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

namespace netpol::cni::test {

namespace {
std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
}  // namespace

ProgramRun run_program(const std::string& program, const std::map<std::string, std::string>& env,
                       const std::string& stdin_text, const std::vector<std::string>& args) {
  TempDir io;
  const std::string in = io.file("stdin"), out = io.file("stdout"), err = io.file("stderr");
  std::ofstream(in, std::ios::binary) << stdin_text;
  std::vector<std::string> env_strings, argv_strings = {program};
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  argv_strings.insert(argv_strings.end(), args.begin(), args.end());
  std::vector<char*> envp, argv;
  for (auto& s : env_strings) envp.push_back(s.data());
  for (auto& s : argv_strings) argv.push_back(s.data());
  envp.push_back(nullptr);
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int i = ::open(in.c_str(), O_RDONLY);
    const int o = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int e = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (i < 0 || o < 0 || e < 0) ::_exit(127);
    ::dup2(i, 0);
    ::dup2(o, 1);
    ::dup2(e, 2);
    ::execve(program.c_str(), argv.data(), envp.data());
    ::_exit(127);
  }
  ProgramRun r;
  int status = 0;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status)) {
    r.exit_code = WEXITSTATUS(status);
  }
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

const std::string& plugin_path() {
  static const std::string path = NETPOL_CNI_BIN;
  return path;
}

TempDir::TempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "netpol-cni-test.XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<Request> FakeBinder::calls() const {
  std::lock_guard<std::mutex> l(mu_);
  return calls_;
}

void FakeBinder::set_answer(std::function<Status(const Request&)> f) {
  std::lock_guard<std::mutex> l(mu_);
  answer_ = std::move(f);
}

Status FakeBinder::call(const Request& r, Clock::time_point deadline) {
  std::function<Status(const Request&)> answer;
  {
    std::lock_guard<std::mutex> l(mu_);
    calls_.push_back(r);
    answer = answer_;
  }
  const auto until = Clock::now() + std::chrono::milliseconds(delay_ms_.load());
  if (until > deadline) {
    // As the agent's Binder does: wait no longer than the deadline.
    std::this_thread::sleep_until(deadline);
    return Status(Code::Timeout, "rules not in the kernel before the deadline");
  }
  std::this_thread::sleep_until(until);
  return answer ? answer(r) : Status::Ok();
}

}  // namespace netpol::cni::test
