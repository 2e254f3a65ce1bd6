// netpol-audit-harness: test-only stand-in for the agent's audit wiring, run
// inside one node's network namespace of the lab (ip netns exec NODE ...).
//
//   netpol-audit-harness --node NODE -f PATH [-f PATH ...] --log FILE
//                        [--max-bytes N] [--keep N] [--group N] [--queue N]
//
// Compiles the manifests for NODE, programs the table through netlink (as the
// agent does), starts the Auditor exactly as docs/audit-log.md's "Wiring into
// the agent" says, prints "ready" and runs until SIGTERM/SIGINT. SIGHUP
// reopens the log; SIGUSR1 re-reads the manifests and re-applies them (an
// annotation change, say). Statistics go to stderr on exit.
#include <signal.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>

#include "agent/audit/auditor.h"
#include "compiler/compiler.h"
#include "k8s/decode.h"
#include "nft/netlink.h"
#include "nft/render.h"
#include "nft/transaction.h"

namespace {

using namespace netpol;

struct Args {
  std::string node;
  std::vector<std::string> files;
  std::string log;
  uint64_t max_bytes = 64 << 20;
  int keep = 5;
  int group = nft::kDefaultAuditGroup;
  size_t queue = 4096;
};

// Compiles and applies; the rule set applied, or an error.
Result<ir::RuleSet> apply(const Args& a, nft::NetlinkBackend& kernel, k8s::Objects& objects) {
  k8s::DecodeResult d = k8s::load_manifests(a.files);
  k8s::complete_snapshot(d);
  if (!d.ok()) return StatusError{d.errors.front().str()};
  objects = d.objects;
  ir::RuleSet rules = compiler::compile(objects, a.node);
  nft::AuditOptions audit;
  audit.group = static_cast<uint16_t>(a.group);
  auto tx = nft::Transaction::replace(nft::render(rules, audit).ruleset);
  if (!tx.ok()) return StatusError{tx.message()};
  if (Status s = kernel.commit(tx.value()); !s.ok()) return StatusError{s.message()};
  return rules;
}

int run(const Args& a) {
  // Signals are taken with sigwait below; block them before any thread starts.
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGTERM, SIGINT, SIGHUP, SIGUSR1}) sigaddset(&set, s);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto kernel = nft::NetlinkBackend::open();
  if (!kernel.ok()) {
    std::cerr << "harness: " << kernel.message() << "\n";
    return 1;
  }
  k8s::Objects objects;
  auto rules = apply(a, *kernel.value(), objects);
  if (!rules.ok()) {
    std::cerr << "harness: " << rules.message() << "\n";
    return 1;
  }
  auto auditor = audit::Auditor::start({.nflog_group = static_cast<uint16_t>(a.group),
                                        .path = a.log,
                                        .max_bytes = a.max_bytes,
                                        .keep = a.keep,
                                        .node = a.node,
                                        .queue_lines = a.queue});
  if (!auditor.ok()) {
    std::cerr << "harness: " << auditor.message() << "\n";
    return 1;
  }
  auditor.value()->update_rules(rules.value());
  for (const k8s::Pod& p : objects.pods) auditor.value()->upsert_pod(p);
  std::cout << "ready" << std::endl;

  for (;;) {
    int sig = 0;
    if (sigwait(&set, &sig) != 0) continue;
    if (sig == SIGHUP) {
      auditor.value()->reopen();
    } else if (sig == SIGUSR1) {
      auto again = apply(a, *kernel.value(), objects);
      if (!again.ok()) {
        std::cerr << "harness: reload: " << again.message() << "\n";
        continue;
      }
      auditor.value()->update_rules(again.value());
      for (const k8s::Pod& p : objects.pods) auditor.value()->upsert_pod(p);
      std::cout << "reloaded" << std::endl;
    } else {
      break;
    }
  }
  auditor.value()->flush();
  audit::AuditorStats s = auditor.value()->stats();
  std::cerr << "harness: records=" << s.pipeline.records
            << " connections=" << s.pipeline.connections << " repeats=" << s.pipeline.repeats
            << " suppressed=" << s.pipeline.suppressed << " written=" << s.writer.lines_written
            << " dropped=" << s.writer.lines_dropped << " nflog_lost=" << s.nflog_lost
            << " errors=" << s.errors << (s.last_error.empty() ? "" : " last_error=" + s.last_error)
            << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  CLI::App app{"netpol-audit-harness: the audit listener in one lab node (test only)"};
  app.add_option("--node", a.node)->required();
  app.add_option("-f", a.files)->required();
  app.add_option("--log", a.log)->required();
  app.add_option("--max-bytes", a.max_bytes);
  app.add_option("--keep", a.keep);
  app.add_option("--group", a.group);
  app.add_option("--queue", a.queue);
  CLI11_PARSE(app, argc, argv);
  return run(a);
}
