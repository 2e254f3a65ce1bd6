// policyc: compile Kubernetes NetworkPolicies for one node, offline; explain
// a connection; read the audit log.
//
//   policyc compile --node NODE -f PATH [-f PATH ...] [-o nft|json]
//   policyc explain -f PATH [-f PATH ...] --from NS/POD|IP --to NS/POD|IP --port 80/TCP
//   policyc audit [FILE ...] [--follow] [filters] [-o table|json] [--summary]
//   policyc matrix -f PATH ... [--port 80/TCP ...] [--namespace RE] [-o table|json|html]
//   policyc diff --before PATH ... --after PATH ... [--port ...] [-o table|json]
//   policyc lint -f PATH ... [--format json] [--strict]
//
// -o nft (default) prints the nft script that atomically replaces netpol's table
// with exactly what the agent would program on NODE; -o json prints the IR.
// Exit status: 0 ok; 1 invalid input (every problem on stderr, nothing on
// stdout); 2 usage error; 3 internal error (a bug: the compiler produced an IR
// the renderer cannot turn into a valid table). Output is rendered into memory
// first and written only when complete: never a partial script.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "compiler/compiler.h"
#include "compiler/ir.h"
#include "compiler/policyc/audit_query.h"
#include "compiler/policyc/explain.h"
#include "compiler/policyc/lint.h"
#include "compiler/policyc/live.h"
#include "compiler/policyc/matrix.h"
#include "k8s/decode.h"
#include "nft/render.h"
#include "nft/script.h"
#include "nft/transaction.h"

namespace {

constexpr int kExitInvalidInput = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInternal = 3;

struct CompileArgs {
  std::string node;
  std::vector<std::string> files;
  std::string output = "nft";
  netpol::nft::AuditOptions audit;  // as the agent's --audit-nflog-group/-rate/-burst
};

void warn(const std::string& message) {
  std::cerr << "policyc: warning: " << message << "\n";
}

// Writes all of `text` to stdout; false (with a message) if it could not.
bool write_stdout(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    std::cerr << "policyc: cannot write output: " << std::strerror(errno) << "\n";
    return false;
  }
  return true;
}

// netpol.io/audit values policyc does not know: the default applies (the
// policy is enforced as usual); say so rather than guess.
void warn_audit_annotations(const netpol::k8s::Objects& o) {
  auto check = [](const netpol::k8s::Labels& a, const std::string& what) {
    auto it = a.find(netpol::k8s::kAuditAnnotation);
    if (it != a.end() && !netpol::k8s::audit_level_from_string(it->second)) {
      warn(what + ": annotation " + netpol::k8s::kAuditAnnotation + ": unknown value \"" +
           it->second + "\" (expected \"deny\" or \"all\"); only denied connections are logged");
    }
  };
  for (const auto& ns : o.namespaces) check(ns.annotations, "Namespace " + ns.name);
  for (const auto& p : o.policies) check(p.annotations, "NetworkPolicy " + p.key());
}

// The manifests of `files`, completed as the API server would; every error
// on stderr and nullopt when there is any. `given` (optional) learns whether
// the files themselves held Pods and Namespaces (lint's cluster checks).
struct Given {
  bool pods = false, namespaces = false;
};
std::optional<netpol::k8s::Objects> load_or_report(const std::vector<std::string>& files,
                                                   Given* given = nullptr) {
  netpol::k8s::DecodeResult decoded = netpol::k8s::load_manifests(files);
  if (given) *given = Given{!decoded.objects.pods.empty(), !decoded.objects.namespaces.empty()};
  netpol::k8s::complete_snapshot(decoded);
  if (!decoded.ok()) {
    for (const auto& e : decoded.errors) std::cerr << e.str() << "\n";
    return std::nullopt;
  }
  return std::move(decoded.objects);
}

int run_compile(const CompileArgs& args) {
  auto objects = load_or_report(args.files);
  if (!objects) return kExitInvalidInput;
  warn_audit_annotations(*objects);

  netpol::ir::RuleSet rules = netpol::compiler::compile(*objects, args.node);
  for (const std::string& w : rules.warnings) warn(w);

  std::string out;
  if (args.output == "json") {
    out = netpol::ir::to_json(rules);
  } else {
    netpol::nft::Rendered rendered = netpol::nft::render(rules, args.audit);
    for (const std::string& w : rendered.warnings) warn(w);
    auto tx = netpol::nft::Transaction::replace(rendered.ruleset);
    if (!tx.ok()) {
      std::cerr << "policyc: internal error: " << tx.message() << "\n";
      return kExitInternal;
    }
    out = netpol::nft::to_script(tx.value());
  }
  return write_stdout(out) ? 0 : kExitInvalidInput;
}

// --- explain ---------------------------------------------------------------------

struct ExplainArgs {
  std::vector<std::string> files;
  std::string from, to, port;
  int family = 0;
  std::string batch;
};

std::optional<netpol::Family> family_arg(int f) {
  if (f == 4) return netpol::Family::V4;
  if (f == 6) return netpol::Family::V6;
  return std::nullopt;
}

// A query from its words; nullopt when PORT[/PROTO] does not parse.
std::optional<netpol::policyc::Query> make_query(std::string from, std::string to,
                                                 const std::string& port, int family) {
  auto p = netpol::policyc::parse_port(port);
  if (!p) return std::nullopt;
  netpol::policyc::Query q;
  q.from = std::move(from);
  q.to = std::move(to);
  q.family = family_arg(family);
  q.port = p->first;
  q.protocol = p->second;
  return q;
}

// Exit status: 0 allowed, 4 denied (so scripts can branch on it), 1 invalid
// manifests, 2 a query that cannot be answered.
int run_explain(const ExplainArgs& args) {
  auto objects = load_or_report(args.files);
  if (!objects) return kExitInvalidInput;
  netpol::policyc::Explainer explainer(std::move(*objects));
  if (!args.batch.empty()) {
    // One query a line: FROM TO PORT/PROTO [4|6]; one answer a line. For
    // checking many connections at once (the lab compares them with probes).
    std::ifstream file;
    std::istream* in = &std::cin;
    if (args.batch != "-") {
      file.open(args.batch);
      if (!file) {
        std::cerr << "policyc: cannot read " << args.batch << "\n";
        return kExitUsage;
      }
      in = &file;
    }
    std::string out;
    int bad = 0;
    for (std::string line; std::getline(*in, line);) {
      std::istringstream words(line);
      std::string from, to, port, fam;
      if (!(words >> from >> to >> port)) continue;
      words >> fam;
      auto q = make_query(from, to, port, fam == "4" ? 4 : fam == "6" ? 6 : 0);
      if (!q) {
        std::cerr << "policyc: bad port in: " << line << "\n";
        ++bad;
        continue;
      }
      auto e = explainer.explain(*q);
      if (!e.ok()) {
        std::cerr << "policyc: " << line << ": " << e.message() << "\n";
        ++bad;
        continue;
      }
      out += std::string(e.value().allowed ? "allowed " : "denied ") + line + "\n";
    }
    if (!write_stdout(out)) return kExitInvalidInput;
    return bad ? kExitUsage : 0;
  }
  auto q = make_query(args.from, args.to, args.port, args.family);
  if (!q) {
    std::cerr << "policyc: --port " << args.port << ": expected PORT[/TCP|UDP|SCTP], e.g. 80/TCP\n";
    return kExitUsage;
  }
  auto e = explainer.explain(*q);
  if (!e.ok()) {
    std::cerr << "policyc: " << e.message() << "\n";
    return kExitUsage;
  }
  std::string out = e.value().allowed ? "allowed\n" : "denied\n";
  for (const std::string& l : e.value().lines) out += l + "\n";
  if (!write_stdout(out)) return kExitInvalidInput;
  return e.value().allowed ? 0 : 4;
}

// --- matrix and diff -------------------------------------------------------------

constexpr int kExitFlips = 3;  // diff: some cell flips (for CI gates)

struct MatrixArgs {
  std::vector<std::string> files;
  std::vector<std::string> ports;
  std::string ns;
  std::string output = "table";
  std::vector<std::string> before, after;  // diff
  int family = 0;                          // 4 or 6; 0: IPv4 when both have one
  std::string kubeconfig, context;         // diff: --before from a live cluster
  bool live = false;
};

// --port values as probes (in the order given, duplicates dropped); nullopt
// (and a message) when one does not parse.
std::optional<std::vector<netpol::policyc::Probe>> probes_arg(
    const std::vector<std::string>& ports) {
  std::vector<netpol::policyc::Probe> out;
  for (const std::string& text : ports) {
    auto p = netpol::policyc::parse_port(text);
    if (!p) {
      std::cerr << "policyc: --port " << text << ": expected PORT[/TCP|UDP|SCTP], e.g. 80/TCP\n";
      return std::nullopt;
    }
    netpol::policyc::Probe probe{p->first, p->second};
    if (std::find(out.begin(), out.end(), probe) == out.end()) out.push_back(probe);
  }
  return out;
}

// The --namespace filter; nullopt (and a message) for a bad expression.
std::optional<std::function<bool(const std::string&)>> namespace_arg(const std::string& re) {
  if (re.empty()) return std::function<bool(const std::string&)>{};
  auto compiled = std::make_shared<RE2>(re, RE2::Quiet);
  if (!compiled->ok()) {
    std::cerr << "policyc: --namespace " << re << ": " << compiled->error() << "\n";
    return std::nullopt;
  }
  return [compiled](const std::string& ns) { return RE2::FullMatch(ns, *compiled); };
}

int run_matrix(const MatrixArgs& args) {
  auto probes = probes_arg(args.ports);
  auto keep = namespace_arg(args.ns);
  if (!probes || !keep) return kExitUsage;
  auto objects = load_or_report(args.files);
  if (!objects) return kExitInvalidInput;
  netpol::policyc::Explainer explainer(std::move(*objects));
  auto pods = netpol::policyc::matrix_pods(explainer.objects(), *keep);
  if (probes->empty()) *probes = netpol::policyc::declared_probes(pods);
  netpol::policyc::Matrix m(explainer, std::move(pods), std::move(*probes),
                            family_arg(args.family));
  std::string out = args.output == "json"   ? netpol::policyc::render_json(m)
                    : args.output == "html" ? netpol::policyc::render_html(m, "policyc matrix")
                                            : netpol::policyc::render_table(m);
  return write_stdout(out) ? 0 : kExitInvalidInput;
}

// Exit status: 0 nothing flips, 3 something does, 1 invalid manifests, 2 usage.
int run_diff(const MatrixArgs& args) {
  auto probes = probes_arg(args.ports);
  auto keep = namespace_arg(args.ns);
  if (!probes || !keep) return kExitUsage;
  std::optional<netpol::k8s::Objects> before_objects;
  if (args.live) {
    netpol::k8s::DecodeResult decoded = netpol::policyc::load_live(args.kubeconfig, args.context);
    netpol::k8s::complete_snapshot(decoded);
    if (!decoded.ok()) {
      for (const auto& e : decoded.errors) std::cerr << e.str() << "\n";
      return kExitInvalidInput;
    }
    before_objects = std::move(decoded.objects);
  } else {
    before_objects = load_or_report(args.before);
  }
  auto after_objects = load_or_report(args.after);
  if (!before_objects || !after_objects) return kExitInvalidInput;
  netpol::policyc::Explainer before(std::move(*before_objects)), after(std::move(*after_objects));
  auto before_pods = netpol::policyc::matrix_pods(before.objects(), *keep);
  auto after_pods = netpol::policyc::matrix_pods(after.objects(), *keep);
  if (probes->empty()) {
    // Every port either side declares.
    auto all = netpol::policyc::declared_probes(before_pods);
    for (const auto& p : netpol::policyc::declared_probes(after_pods)) {
      if (std::find(all.begin(), all.end(), p) == all.end()) all.push_back(p);
    }
    std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
      return std::pair(static_cast<int>(a.protocol), a.port) <
             std::pair(static_cast<int>(b.protocol), b.port);
    });
    *probes = std::move(all);
  }
  netpol::policyc::Matrix mb(before, std::move(before_pods), *probes, family_arg(args.family));
  netpol::policyc::Matrix ma(after, std::move(after_pods), *probes, family_arg(args.family));
  auto flips = netpol::policyc::diff(mb, ma);
  std::string out = args.output == "json" ? netpol::policyc::render_diff_json(flips, *probes)
                                          : netpol::policyc::render_diff_table(flips);
  if (!write_stdout(out)) return kExitInvalidInput;
  return flips.empty() ? 0 : kExitFlips;
}

// --- lint ------------------------------------------------------------------------

struct LintArgs {
  std::vector<std::string> files;
  std::string format = "text";
  bool strict = false;
};

// Exit status: 1 with an error finding (or invalid manifests), with a warning
// too under --strict; else 0.
int run_lint(const LintArgs& args) {
  Given given;
  auto objects = load_or_report(args.files, &given);
  if (!objects) return kExitInvalidInput;
  netpol::policyc::LintInput in{std::move(*objects), given.pods, given.namespaces};
  auto findings = netpol::policyc::lint(in);
  std::string out = args.format == "json" ? netpol::policyc::render_findings_json(findings)
                                          : netpol::policyc::render_findings(findings);
  if (!write_stdout(out)) return kExitInvalidInput;
  bool errors = std::any_of(findings.begin(), findings.end(), [](const auto& f) {
    return f.severity == netpol::policyc::Severity::Error;
  });
  return errors || (args.strict && !findings.empty()) ? kExitInvalidInput : 0;
}

// --- audit -----------------------------------------------------------------------

struct AuditArgs {
  std::vector<std::string> files;
  bool follow = false;
  bool summary = false;
  size_t top = 10;
  std::string output = "table";
  std::string verdict, direction, event, ns, pod, policy, protocol, since, until, tier, cnp;
  int port = 0;
  bool no_rotated = false;
};

volatile std::sig_atomic_t g_stop = 0;

// FILE plus its rotated predecessors FILE.N, oldest first.
std::vector<std::string> with_rotated(const std::vector<std::string>& files, bool no_rotated) {
  std::vector<std::string> out;
  std::set<std::string> seen;
  for (const std::string& f : files) {
    std::vector<std::string> group;
    if (!no_rotated && f != "-") {
      for (int n = 1;; ++n) {
        std::string r = f + "." + std::to_string(n);
        struct stat st {};
        if (stat(r.c_str(), &st) != 0) break;
        group.insert(group.begin(), r);
      }
    }
    group.push_back(f);
    for (const std::string& g : group) {
      if (seen.insert(g).second) out.push_back(g);
    }
  }
  return out;
}

int run_audit(AuditArgs args) {
  using netpol::policyc::AuditFilter;
  AuditFilter f;
  if (!args.verdict.empty()) f.verdict = args.verdict;
  if (!args.direction.empty()) f.direction = args.direction;
  if (!args.event.empty()) f.event = args.event;
  if (!args.protocol.empty()) f.protocol = args.protocol;
  if (!args.tier.empty()) f.tier = args.tier;
  if (args.port) f.port = static_cast<uint16_t>(args.port);
  for (auto [text, re, name] :
       {std::tuple{&args.ns, &f.ns, "--namespace"}, std::tuple{&args.pod, &f.pod, "--pod"},
        std::tuple{&args.policy, &f.policy, "--policy"}, std::tuple{&args.cnp, &f.cnp, "--cnp"}}) {
    if (text->empty()) continue;
    *re = std::make_shared<RE2>(*text, RE2::Quiet);
    if (!(*re)->ok()) {
      std::cerr << "policyc: " << name << " " << *text << ": " << (*re)->error() << "\n";
      return kExitUsage;
    }
  }
  auto now = std::chrono::system_clock::now();
  for (auto [text, out, name] : {std::tuple{&args.since, &f.since, "--since"},
                                 std::tuple{&args.until, &f.until, "--until"}}) {
    if (text->empty()) continue;
    *out = netpol::policyc::parse_time_arg(*text, now);
    if (!*out) {
      std::cerr << "policyc: " << name << " " << *text
                << ": expected an RFC 3339 time (2026-01-02T03:04:05Z) or a duration (90s, 15m, "
                   "2h, 7d)\n";
      return kExitUsage;
    }
  }
  if (args.summary && !f.verdict && args.event.empty()) f.verdict = "deny";
  if (args.files.empty()) args.files = {"/var/log/netpol/audit.log"};
  if (args.follow && args.files.size() != 1) {
    std::cerr << "policyc: --follow reads exactly one file\n";
    return kExitUsage;
  }

  netpol::policyc::AuditSummary summary;
  uint64_t corrupt = 0, matched = 0;
  bool header = false;
  auto handle = [&](std::string_view line) {
    auto r = netpol::policyc::parse_audit_line(line);
    if (!r) {
      if (!line.empty() && line != "\n") ++corrupt;
      return;
    }
    if (!netpol::policyc::matches(*r, f)) return;
    ++matched;
    if (args.summary) {
      summary.add(*r);
      return;
    }
    std::string text;
    if (args.output == "json") {
      text = r->raw + "\n";
    } else {
      if (!header) text = netpol::policyc::table_header();
      header = true;
      text += netpol::policyc::table_row(*r);
    }
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (args.follow) std::fflush(stdout);
  };

  int missing = 0;
  for (const std::string& path : with_rotated(args.files, args.no_rotated)) {
    if (path == "-") {
      for (std::string line; std::getline(std::cin, line);) handle(line);
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      std::cerr << "policyc: cannot read " << path << ": " << std::strerror(errno) << "\n";
      ++missing;
      continue;
    }
    // A last line without its newline may be half-written (a live file):
    // with --follow it is completed by what comes next.
    std::string line;
    std::streamoff consumed = 0;
    while (std::getline(in, line)) {
      if (in.eof() && args.follow) break;
      consumed = in.tellg();
      handle(line);
    }
    if (args.follow) {
      // Keep the file open and read what is appended; when the path names
      // another file (rotated) or shrank (truncated), finish the old one
      // first, then continue from the start of the new one.
      std::string pending = in.eof() ? line : "";
      off_t offset = in.eof() ? static_cast<off_t>(consumed) + static_cast<off_t>(line.size())
                              : static_cast<off_t>(consumed);
      in.close();
      int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd >= 0) lseek(fd, offset, SEEK_SET);
      std::signal(SIGINT, [](int) { g_stop = 1; });
      std::signal(SIGTERM, [](int) { g_stop = 1; });
      auto drain = [&] {
        char buf[65536];
        ssize_t n;
        while (fd >= 0 && (n = ::read(fd, buf, sizeof buf)) > 0) {
          offset += n;
          pending.append(buf, static_cast<size_t>(n));
        }
        size_t nl;
        while ((nl = pending.find('\n')) != std::string::npos) {
          handle(std::string_view(pending).substr(0, nl));
          pending.erase(0, nl + 1);
        }
      };
      while (!g_stop) {
        drain();
        struct stat open_st {
        }, path_st{};
        bool have_path = stat(path.c_str(), &path_st) == 0;
        bool have_fd = fd >= 0 && fstat(fd, &open_st) == 0;
        if (have_path &&
            (!have_fd || path_st.st_ino != open_st.st_ino || path_st.st_size < offset)) {
          drain();  // whatever the old file got before it was moved away
          if (!pending.empty()) {
            handle(pending);  // a last line without its newline
            pending.clear();
          }
          if (fd >= 0) ::close(fd);
          fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
          offset = 0;
          continue;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
      }
      if (fd >= 0) ::close(fd);
    }
  }
  if (args.summary) {
    std::string text = summary.render(args.top);
    std::fwrite(text.data(), 1, text.size(), stdout);
  }
  std::fflush(stdout);
  if (corrupt) {
    std::cerr << "policyc: skipped " << corrupt << " corrupt or unknown line"
              << (corrupt == 1 ? "" : "s") << "\n";
  }
  return missing && matched == 0 && missing == static_cast<int>(args.files.size())
             ? kExitInvalidInput
             : 0;
}

int run(int argc, char** argv) {
  CLI::App app{
      "policyc: compile Kubernetes NetworkPolicies into the nftables ruleset netpol's agent "
      "would program on one node (a dry run: nothing is changed on this machine)",
      "policyc"};
  app.set_version_flag("--version", std::string("policyc ") + NETPOL_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 ok, 1 invalid input (problems on stderr, nothing on stdout), "
      "2 usage error, 3 internal error; explain: 4 denied; diff: 3 some cell flips.");

  CompileArgs args;
  CLI::App* compile = app.add_subcommand(
      "compile",
      "Read Namespaces, Pods and NetworkPolicies and print what the agent would program on NODE");
  compile->add_option("--node", args.node, "Node name: pods whose spec.nodeName is NODE are local")
      ->required()
      ->check([](const std::string& v) { return v.empty() ? "must not be empty" : ""; });
  compile
      ->add_option("-f,--filename", args.files,
                   "YAML/JSON manifest file, directory (*.yaml, *.yml, *.json) or - for stdin; "
                   "repeatable")
      ->required()
      ->allow_extra_args(false);
  compile->add_option("-o,--output", args.output, "nft: nft -f script (default); json: the IR")
      ->check(CLI::IsMember({"nft", "json"}))
      ->capture_default_str();
  // The same values the agent was started with, so the script is what it programs.
  compile
      ->add_option("--audit-nflog-group", args.audit.group,
                   "NFLOG group of the logging rules (as netpol-agent --audit-nflog-group)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  compile
      ->add_option("--audit-rate", args.audit.rate,
                   "logged connections per second and logging rule (as netpol-agent --audit-rate)")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();
  compile
      ->add_option("--audit-burst", args.audit.burst,
                   "burst of each logging rule (as netpol-agent --audit-burst)")
      ->check(CLI::Range(1u, 1000000u))
      ->capture_default_str();

  ExplainArgs ex;
  CLI::App* explain = app.add_subcommand(
      "explain",
      "Say whether a connection would be allowed (first line: allowed or denied) and why: which "
      "policies isolate each end, which rule allows it. Exit 0 allowed, 4 denied");
  explain->add_option("-f,--filename", ex.files, "manifests, as for compile; repeatable")
      ->required();
  explain->add_option("--from", ex.from, "source: NAMESPACE/POD or an IP address");
  explain->add_option("--to", ex.to, "destination: NAMESPACE/POD or an IP address");
  explain->add_option("--port", ex.port, "destination port and protocol, e.g. 80/TCP, 53/UDP");
  explain
      ->add_option("--family", ex.family, "4 or 6 when both ends are dual-stack pods (default 4)")
      ->check(CLI::IsMember({4, 6}));
  explain->add_option("--batch", ex.batch,
                      "FILE or -: one query a line (FROM TO PORT/PROTO [4|6]), one answer a line");

  AuditArgs au;
  CLI::App* audit = app.add_subcommand(
      "audit",
      "Read netpol's audit log (docs/audit-log.md): filter, print a table or JSON lines, or rank "
      "the most frequent flows");
  audit->add_option("files", au.files,
                    "log files (default /var/log/netpol/audit.log); FILE.1, FILE.2, ... are read "
                    "too, oldest first; - for stdin");
  audit->add_flag("--follow", au.follow, "keep reading the file as it grows (survives rotation)");
  audit->add_flag("--no-rotated", au.no_rotated, "do not read FILE.N next to FILE");
  audit->add_option("--verdict", au.verdict, "allow or deny")
      ->check(CLI::IsMember({"allow", "deny"}));
  audit->add_option("--direction", au.direction, "ingress or egress")
      ->check(CLI::IsMember({"ingress", "egress"}));
  audit->add_option("--event", au.event, "connection, suppressed or lost")
      ->check(CLI::IsMember({"connection", "suppressed", "lost"}));
  audit->add_option("--namespace", au.ns, "RE2, matched against the namespace of either end");
  audit->add_option("--pod", au.pod, "RE2, matched against NAME or NAMESPACE/NAME of either end");
  audit->add_option("--policy", au.policy,
                    "RE2, matched against NAMESPACE/NAME of the policies "
                    "that allowed or isolate");
  audit
      ->add_option("--tier", au.tier,
                   "Admin, Baseline or NetworkPolicy: the tier that decided (schema 1 lines: "
                   "NetworkPolicy)")
      ->check(CLI::IsMember({"Admin", "Baseline", "NetworkPolicy"}));
  audit->add_option("--cnp", au.cnp,
                    "RE2, matched against the NAME of the ClusterNetworkPolicy that decided");
  audit->add_option("--port", au.port, "destination port")->check(CLI::Range(1, 65535));
  audit->add_option("--protocol", au.protocol, "TCP, UDP, SCTP, ICMP, ...");
  audit->add_option("--since", au.since, "RFC 3339 time or a duration ago (15m, 2h, 7d)");
  audit->add_option("--until", au.until, "RFC 3339 time or a duration ago");
  audit->add_option("-o,--output", au.output, "table (default) or json (the matching lines as is)")
      ->check(CLI::IsMember({"table", "json"}));
  audit->add_flag("--summary", au.summary,
                  "rank the most frequent flows (denied ones unless --verdict says otherwise)");
  audit->add_option("--top", au.top, "flows in the summary (default 10)");

  MatrixArgs mx;
  CLI::App* matrix = app.add_subcommand(
      "matrix",
      "Print the reachability of every ordered pair of pods (Running, with an IP) per port: "
      "explain's answer for each cell");
  matrix->add_option("-f,--filename", mx.files, "manifests, as for compile; repeatable")
      ->required();
  matrix->add_option("--port", mx.ports,
                     "PORT[/PROTO] to probe, repeatable (default: every port some pod declares)");
  matrix->add_option("--namespace", mx.ns, "RE2: only pods of namespaces it matches (whole name)");
  matrix
      ->add_option("--family", mx.family,
                   "4 or 6: connect every pair over this family (default: IPv4 when both have one)")
      ->check(CLI::IsMember({4, 6}));
  matrix->add_option("-o,--output", mx.output, "table (default), json or html")
      ->check(CLI::IsMember({"table", "json", "html"}));

  MatrixArgs df;
  CLI::App* diff = app.add_subcommand(
      "diff",
      "What a change of the manifests would flip: every pair whose verdict differs, with the "
      "policy responsible. Exit 0 nothing flips, 3 something does");
  CLI::Option* before_opt =
      diff->add_option("--before", df.before, "manifests as they are; repeatable");
  CLI::Option* kube_opt =
      diff->add_option("--kubeconfig", df.kubeconfig,
                       "take --before from the live cluster of this kubeconfig (as kubectl: "
                       "'' means $KUBECONFIG, in-cluster, ~/.kube/config)");
  diff->add_option("--context", df.context, "kubeconfig context (default: current-context)");
  before_opt->excludes(kube_opt);
  diff->add_option("--after", df.after, "manifests as proposed; repeatable")->required();
  diff->add_option("--port", df.ports,
                   "PORT[/PROTO] to probe, repeatable (default: every port some pod declares)");
  diff->add_option("--namespace", df.ns, "RE2: only pods of namespaces it matches (whole name)");
  diff->add_option("--family", df.family, "4 or 6, as for matrix")->check(CLI::IsMember({4, 6}));
  diff->add_option("-o,--output", df.output, "table (default) or json")
      ->check(CLI::IsMember({"table", "json"}));

  LintArgs li;
  CLI::App* lint = app.add_subcommand(
      "lint",
      "Point out what a reviewer would: policies selecting no pod, selectors matching nothing, "
      "egress without DNS, shadowed rules, ipBlocks holding pod IPs, undeclared named ports. "
      "Exit 1 with errors (with warnings too under --strict)");
  lint->add_option("-f,--filename", li.files, "manifests, as for compile; repeatable")->required();
  lint->add_option("--format", li.format, "text (default) or json")
      ->check(CLI::IsMember({"text", "json"}));
  lint->add_flag("--strict", li.strict, "warnings fail too (exit 1)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  if (explain->parsed()) {
    if (ex.batch.empty() && (ex.from.empty() || ex.to.empty() || ex.port.empty())) {
      std::cerr << "policyc explain: --from, --to and --port are required (or --batch)\n";
      return kExitUsage;
    }
    return run_explain(ex);
  }
  if (audit->parsed()) return run_audit(au);
  if (matrix->parsed()) return run_matrix(mx);
  if (diff->parsed()) {
    df.live = kube_opt->count() > 0;
    if (!df.live && df.before.empty()) {
      std::cerr << "policyc diff: --before PATH or --kubeconfig is required\n";
      return kExitUsage;
    }
    return run_diff(df);
  }
  if (lint->parsed()) return run_lint(li);
  return run_compile(args);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // Nothing was written to stdout yet: output is written only at the very end.
    std::cerr << "policyc: internal error: " << e.what() << "\n";
    return kExitInternal;
  } catch (...) {
    std::cerr << "policyc: internal error\n";
    return kExitInternal;
  }
}
