#include "tests/support/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace netpol::testsupport {

namespace {

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string temp_file(const std::string& content) {
  char name[] = "/tmp/netpol-netns-XXXXXX";
  int fd = mkstemp(name);
  if (fd < 0) return {};
  size_t off = 0;
  while (off < content.size()) {
    ssize_t n = write(fd, content.data() + off, content.size() - off);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  close(fd);
  return name;
}

void strip_handles(nlohmann::json& j) {
  if (j.is_object()) {
    j.erase("handle");
    for (auto& [_, v] : j.items()) strip_handles(v);
  } else if (j.is_array()) {
    for (auto& v : j) strip_handles(v);
  }
}

}  // namespace

std::unique_ptr<Netns> Netns::create(std::string* why) {
  int original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (original < 0) {
    if (why) *why = std::string("cannot open own netns: ") + std::strerror(errno);
    return nullptr;
  }
  if (unshare(CLONE_NEWNET) != 0) {
    if (why) *why = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
    close(original);
    return nullptr;
  }
  int self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (self < 0) {
    if (why) *why = std::string("cannot open new netns: ") + std::strerror(errno);
    setns(original, CLONE_NEWNET);
    close(original);
    return nullptr;
  }
  return std::unique_ptr<Netns>(new Netns(original, self));
}

Netns::~Netns() {
  leave();
  close(self_);
  close(original_);
}

bool Netns::enter() {
  return setns(self_, CLONE_NEWNET) == 0;
}

bool Netns::leave() {
  return setns(original_, CLONE_NEWNET) == 0;
}

bool run_in_netns(const std::function<void()>& body, std::string* why) {
  bool ok = true;
  std::thread t([&] {
    std::unique_ptr<Netns> ns = Netns::create(why);
    if (!ns) {
      ok = false;
      return;
    }
    body();
  });
  t.join();
  return ok;
}

Command Netns::run(const std::vector<std::string>& argv, const std::string& input) const {
  Command out;
  std::string in_path = temp_file(input), out_path = temp_file(""), err_path = temp_file("");
  pid_t pid = fork();
  if (pid == 0) {
    if (setns(self_, CLONE_NEWNET) != 0) _exit(126);
    int in = open(in_path.c_str(), O_RDONLY);
    int o = open(out_path.c_str(), O_WRONLY | O_TRUNC);
    int e = open(err_path.c_str(), O_WRONLY | O_TRUNC);
    if (in < 0 || o < 0 || e < 0) _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  if (pid > 0) {
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    out.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    out.out = slurp(out_path);
    out.err = slurp(err_path);
  }
  unlink(in_path.c_str());
  unlink(out_path.c_str());
  unlink(err_path.c_str());
  return out;
}

std::string normalize_nft_json(const std::string& json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded()) return "unparseable: " + json;
  strip_handles(j);
  return j.dump(1);
}

std::string canonical_nft_json(const std::string& json) {
  nlohmann::json j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.contains("nftables")) return "unparseable: " + json;
  strip_handles(j);
  std::vector<std::pair<std::string, nlohmann::json>> items;
  for (auto& item : j["nftables"]) {
    if (item.contains("metainfo")) continue;
    // Each item is a one-key object {"<kind>": {...}}; take the key by value
    // (an items() proxy is a temporary: binding into it dangles).
    const std::string kind = item.begin().key();
    nlohmann::json& body = item.begin().value();
    for (const char* k : {"set", "map"}) {
      if (kind == k && body.contains("elem")) {
        std::vector<nlohmann::json> elems(body["elem"].begin(), body["elem"].end());
        std::sort(elems.begin(), elems.end(),
                  [](const auto& a, const auto& b) { return a.dump() < b.dump(); });
        body["elem"] = elems;
      }
    }
    std::string name = body.contains("name") ? body["name"].get<std::string>() : "";
    if (kind == "rule") name = body["chain"].get<std::string>();
    items.emplace_back(kind + "\x01" + name, item);
  }
  std::stable_sort(items.begin(), items.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  nlohmann::json out = nlohmann::json::array();
  for (auto& [_, item] : items) out.push_back(item);
  return out.dump(1);
}

namespace {

Command list_table(const Netns& ns, const std::string& table) {
  std::vector<std::string> argv = {"nft", "-j", "list", "table"};
  std::istringstream words(table);
  for (std::string w; words >> w;) argv.push_back(w);
  return ns.run(argv);
}

}  // namespace

std::string Netns::listing(const std::string& table) const {
  Command c = list_table(*this, table);
  if (c.status != 0) return "nft failed (" + std::to_string(c.status) + "): " + c.err;
  return normalize_nft_json(c.out);
}

std::string Netns::canonical_listing(const std::string& table) const {
  Command c = list_table(*this, table);
  if (c.status != 0) return "nft failed (" + std::to_string(c.status) + "): " + c.err;
  return canonical_nft_json(c.out);
}

}  // namespace netpol::testsupport
