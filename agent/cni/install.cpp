// `netpol-cni install`: what the DaemonSet's init container runs (docs/cni.md).
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "agent/cni/plugin.h"

namespace netpol::cni {
namespace {

namespace fs = std::filesystem;
using ojson = nlohmann::ordered_json;

constexpr const char* kUsage =
    "usage: netpol-cni install [--bin-dir DIR] [--conf-dir DIR] [--socket PATH]\n"
    "                          [--timeout-seconds N] [--fail-open]\n"
    "Copies netpol-cni into DIR (/opt/cni/bin) and appends its entry to the plugins of the\n"
    "first conflist in --conf-dir (/etc/cni/net.d), the one the runtime uses. Idempotent.\n";

Outcome usage_error(const std::string& msg) {
  return Outcome{2, "", "netpol-cni install: " + msg + "\n" + kUsage};
}

// Writes through a temporary file and a rename, so a runtime never reads half a file.
bool write_atomically(const fs::path& to, const std::string& data, fs::perms perms,
                      std::string& err) {
  const fs::path tmp = to.string() + ".netpol-tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << data;
    if (!f.flush()) {
      err = "write " + tmp.string() + " failed";
      return false;
    }
  }
  std::error_code ec;
  fs::permissions(tmp, perms, ec);
  fs::rename(tmp, to, ec);
  if (ec) {
    err = "rename " + tmp.string() + " to " + to.string() + ": " + ec.message();
    fs::remove(tmp, ec);
    return false;
  }
  return true;
}

}  // namespace

Outcome run_install(const std::vector<std::string>& args, const std::string& self) {
  std::string bin_dir = "/opt/cni/bin", conf_dir = "/etc/cni/net.d", socket = kDefaultSocket;
  int timeout = 10;
  bool fail_open = false;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string a = args[i], value;
    const size_t eq = a.find('=');
    if (eq != std::string::npos) {
      value = a.substr(eq + 1);
      a = a.substr(0, eq);
    } else if (a != "--fail-open" && a != "--help" && i + 1 < args.size()) {
      value = args[++i];
    }
    if (a == "--help") return Outcome{0, kUsage, ""};
    if (a == "--fail-open") {
      fail_open = true;
    } else if (a == "--bin-dir") {
      bin_dir = value;
    } else if (a == "--conf-dir") {
      conf_dir = value;
    } else if (a == "--socket") {
      socket = value;
    } else if (a == "--timeout-seconds") {
      try {
        timeout = std::stoi(value);
      } catch (...) {
        timeout = 0;
      }
      if (timeout < 1 || timeout > 3600) return usage_error("--timeout-seconds wants 1 to 3600");
    } else {
      return usage_error("unknown argument " + args[i]);
    }
  }
  if (bin_dir.empty() || conf_dir.empty() || socket.empty() || socket[0] != '/') {
    return usage_error("--bin-dir, --conf-dir and an absolute --socket are needed");
  }

  std::string err;
  std::ifstream in(self, std::ios::binary);
  std::stringstream binary;
  binary << in.rdbuf();
  if (!in || binary.str().empty())
    return Outcome{1, "", "netpol-cni install: cannot read " + self + "\n"};
  const fs::path bin = fs::path(bin_dir) / "netpol-cni";
  if (!write_atomically(bin, binary.str(), fs::perms(0755), err)) {
    return Outcome{1, "", "netpol-cni install: " + err + "\n"};
  }
  std::string log = "installed " + bin.string() + "\n";

  // The runtime (containerd, CRI-O) uses the lexically first configuration.
  std::vector<fs::path> confs;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(conf_dir, ec)) {
    const std::string ext = e.path().extension().string();
    if (e.is_regular_file() && (ext == ".conflist" || ext == ".conf" || ext == ".json")) {
      confs.push_back(e.path());
    }
  }
  std::sort(confs.begin(), confs.end());
  if (confs.empty()) {
    return Outcome{1, log,
                   "netpol-cni install: no CNI configuration in " + conf_dir +
                       " yet (the main plugin writes one first; the init container is retried)\n"};
  }
  const fs::path conf = confs.front();
  std::ifstream cf(conf);
  std::stringstream text;
  text << cf.rdbuf();
  ojson j = ojson::parse(text.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("plugins") || !j["plugins"].is_array()) {
    return Outcome{
        1, log,
        "netpol-cni install: " + conf.string() +
            " is not a conflist with \"plugins\"; chain netpol-cni by hand (docs/cni.md)\n"};
  }
  for (const auto& p : j["plugins"]) {
    if (p.is_object() && p.value("type", "") == "netpol-cni") {
      return Outcome{0, log + conf.string() + " already chains netpol-cni\n", ""};
    }
  }
  j["plugins"].push_back(ojson{{"type", "netpol-cni"},
                               {"socket", socket},
                               {"timeoutSeconds", timeout},
                               {"failOpen", fail_open}});
  if (!write_atomically(conf, j.dump(2) + "\n", fs::perms(0644), err)) {
    return Outcome{1, log, "netpol-cni install: " + err + "\n"};
  }
  return Outcome{0, log + "chained netpol-cni in " + conf.string() + "\n", ""};
}

}  // namespace netpol::cni
