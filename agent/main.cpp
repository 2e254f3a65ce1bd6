// netpol-agent: the DaemonSet daemon. Flags, logging, signals and the real
// world (kubeconfig or in-cluster config, the HTTP API client, the netlink
// backend, the HTTP endpoint) around agent::Agent.
//
// Exit codes: 0 after SIGTERM/SIGINT or a successful --cleanup, 1 when it
// cannot start (no CAP_NET_ADMIN, unreadable kubeconfig, metrics address in
// use), 2 for bad flags. The table `inet netpol` stays in force on exit.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>

#ifdef __GLIBC__
#include <malloc.h>
#endif

#include "agent/agent.h"
#include "agent/audit/auditor.h"
#include "agent/flows.h"
#include "agent/http.h"
#include "agent/linkwatch.h"
#include "agent/log.h"
#include "agent/options.h"
#include "k8s/api/client.h"
#include "k8s/api/config.h"
#include "nft/conntrack_nl.h"
#include "nft/links_nl.h"
#include "nft/netlink.h"
#include "nft/render.h"
#include "nft/transaction.h"

namespace {

using namespace netpol;
using agent::Logger;

int cleanup(Logger& log) {
  auto backend = nft::NetlinkBackend::open();
  if (!backend.ok()) {
    log.error("cannot open netlink (netpol-agent needs CAP_NET_ADMIN)",
              {{"error", backend.message()}});
    return 1;
  }
  // "add" first so the delete succeeds whether or not the table exists. The
  // bridge table holds only the anti-spoofing guard: a kernel without the
  // bridge family cannot have one, and that is not a failure.
  for (nft::TableFamily family : {nft::TableFamily::Inet, nft::TableFamily::Bridge}) {
    const std::string what = std::string("table ") + nft::to_string(family) + " netpol";
    nft::Transaction tx(family, nft::kTableName);
    const nft::Table table{family, nft::kTableName, {}};
    tx.append(nft::Verb::Add, table);
    tx.append(nft::Verb::Delete, table);
    nft::Status s = tx.status();
    if (s.ok()) s = backend.value()->commit(tx);
    if (!s.ok() && family == nft::TableFamily::Inet) {
      log.error("cleanup failed: " + what + " not deleted", {{"error", s.message()}});
      return 1;
    }
    if (!s.ok()) {
      log.warn("cleanup: " + what + " not deleted", {{"error", s.message()}});
      continue;
    }
    log.info("cleanup: " + what + " deleted");
  }
  log.info("cleanup done; this node no longer enforces NetworkPolicy");
  return 0;
}

// One malloc arena for the whole process, unless the operator chose
// (MALLOC_ARENA_MAX). glibc gives threads arenas of their own; here the
// informer threads make the objects the sync thread keeps and frees, and the
// memory freed in one arena is not reused by another: at 100k pods that left
// 150-180 MiB at ready (varying with which threads shared arenas) where one
// arena holds 150-152 MiB, with a peak of ~207 MiB instead of ~275 and no
// slower start (docs/performance.md, "One malloc arena").
void one_malloc_arena() {
#ifdef __GLIBC__
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 1);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  one_malloc_arena();
  auto parsed = agent::parse_options(argc, argv);
  if (auto* exit = std::get_if<agent::ParseExit>(&parsed)) {
    std::fputs(exit->out.c_str(), stdout);
    std::fputs(exit->err.c_str(), stderr);
    return exit->code;
  }
  const agent::Options o = std::get<agent::Options>(parsed);
  Logger log(o.log_level, o.log_format);

  // Block the signals before any thread starts, so only sigwait sees them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGHUP);  // reopen the audit log (logrotate)
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  if (o.cleanup) return cleanup(log);

  auto backend = nft::NetlinkBackend::open();
  if (!backend.ok()) {
    log.error("cannot open netlink (netpol-agent needs CAP_NET_ADMIN)",
              {{"error", backend.message()}});
    return 1;
  }
  auto config = k8s::api::default_config(o.kubeconfig, o.context);
  if (!config.ok()) {
    log.error("cannot load the API server configuration", {{"error", config.status().str()}});
    return 1;
  }
  config.value().protobuf = o.api_protobuf;
  auto client = k8s::api::make_http_client(config.value());
  if (!client.ok()) {
    log.error("cannot set up the API client",
              {{"source", config.value().source}, {"error", client.status().str()}});
    return 1;
  }

  agent::AgentConfig ac;
  ac.node_name = o.node_name;
  ac.relist_spread = o.relist_spread;
  ac.watch_list = o.watch_list;
  ac.sync.quiet = o.batch_quiet;
  ac.sync.burst_quiet = o.batch_burst_quiet;
  ac.sync.max_delay = o.batch_max_delay;
  ac.sync.max_batch = o.batch_max_events;
  ac.sync.drift_interval = o.drift_check_interval;
  ac.sync.drift_read_back_every = o.drift_read_back_every;
  ac.big_set_chunks = o.big_set_chunks;
  ac.audit = nft::AuditOptions{o.audit_nflog_group, o.audit_rate, o.audit_burst};
  ac.cni_socket = o.cni_socket;
  ac.anti_spoofing = o.anti_spoofing;
  ac.cnp_recheck = o.cnp_recheck_interval;
  agent::Agent agent(client.value(), *backend.value(), ac, log);

  // Anti-spoofing bindings of pods netpol-cni did not bind follow the links
  // (docs/spoofing.md); the watcher reads once before the first sync.
  std::unique_ptr<agent::LinkWatcher> links;
  if (o.anti_spoofing) {
    auto nl = nft::NlLinks::open();
    if (!nl.ok()) {
      log.error("cannot open rtnetlink (--anti-spoofing=false runs without)",
                {{"error", nl.status().str()}});
      return 1;
    }
    links = std::make_unique<agent::LinkWatcher>(
        std::move(nl).value(), [&agent](agent::Event ev) { agent.enqueue(std::move(ev)); }, &log);
  }

  // Open connections a change denies are cut on the sync thread right after
  // the commit (agent/flows.h, docs/flows.md).
  // The hook owns both, so they live as long as the sync thread that calls it.
  if (o.cut_flows) {
    auto ct = nft::NlConntrack::open();
    if (!ct.ok()) {
      log.error("cannot open conntrack (--cut-flows=false runs without)",
                {{"error", ct.status().str()}});
      return 1;
    }
    std::shared_ptr<nft::NlConntrack> conntrack = std::move(ct).value();
    auto cutter = std::make_shared<agent::FlowCutter>(*conntrack, agent.metrics(), &log);
    agent.set_commit_hook([conntrack, cutter](const ir::RuleSet& rules, const ir::Delta* delta,
                                              agent::SteadyTime since) {
      cutter->after_commit(rules, delta, since);
    });
  }

  // The audit listener reads NFLOG in this (the node's) network namespace and
  // follows the IR the kernel enforces and every pod of the cluster.
  std::unique_ptr<audit::Auditor> auditor;
  if (!o.audit_log.empty()) {
    audit::AuditorConfig cfg;
    cfg.node = o.node_name;
    cfg.path = o.audit_log;
    cfg.max_bytes = o.audit_max_bytes;
    cfg.keep = o.audit_keep;
    cfg.nflog_group = o.audit_nflog_group;
    auto started = audit::Auditor::start(cfg);
    if (!started.ok()) {
      log.error("cannot start the audit log", {{"path", cfg.path}, {"error", started.message()}});
      return 1;
    }
    auditor = std::move(started).value();
    audit::Auditor* a = auditor.get();
    agent.add_applied_listener([a](const ir::RuleSet& rules) { a->update_rules(rules); });
    agent.add_pod_listener([a](const k8s::Pod& pod, bool removed) {
      if (removed) {
        a->remove_pod(pod.ns, pod.name);
      } else {
        a->upsert_pod(pod);
      }
    });
    auto& lines =
        agent.metrics().gauge("netpol_audit_lines", "Audit log lines written, by kind", {"kind"});
    auto& lost = agent.metrics().gauge("netpol_audit_lines_dropped",
                                       "Audit lines dropped because the writer fell behind");
    auto& spoofed = agent.metrics()
                        .counter("netpol_spoofed_packets_total",
                                 "Packets the anti-spoofing guard dropped and logged (a source "
                                 "not bound to the pod interface it came from; under the audit "
                                 "log rate limit)")
                        .with();
    agent.metrics().add_collector([a, &lines, &lost, &spoofed] {
      const audit::AuditorStats s = a->stats();
      if (const double d = static_cast<double>(s.pipeline.spoofed) - spoofed.value(); d > 0) {
        spoofed.inc(d);
      }
      lines.with({"connection"}).set(static_cast<double>(s.pipeline.connections));
      lines.with({"suppressed"}).set(static_cast<double>(s.pipeline.suppressed));
      lost.with().set(static_cast<double>(s.writer.lines_dropped));
    });
    log.info("audit log", {{"path", cfg.path}, {"nflog_group", cfg.nflog_group}});
  }

  std::unique_ptr<agent::HttpServer> http;
  if (!o.metrics_addr.empty()) {
    auto h = agent::HttpServer::start(
        o.metrics_addr,
        [&agent](const std::string& m, const std::string& p) { return agent.serve(m, p); });
    if (!h.ok()) {
      log.error("cannot serve /healthz, /readyz, /metrics", {{"error", h.message()}});
      return 1;
    }
    http = std::move(h).value();
    log.info("serving /healthz /readyz /metrics", {{"addr", http->uri()}});
  }

  const std::string server = client.value()->server();
  auto version = client.value()->get("/version");
  if (version.ok()) {
    log.info("API server reachable", {{"server", server}, {"config", config.value().source}});
  } else {
    log.error(
        "API server not reachable; retrying with backoff (nothing is changed until the "
        "first complete list)",
        {{"server", server}, {"config", config.value().source}, {"error", version.status().str()}});
  }

  if (links) links->start();
  agent.start();
  if (!o.cni_socket.empty() && !agent.cni_serving()) {
    // Pods would fail to start (netpol-cni fails closed); say so and stop.
    log.error("--cni-socket cannot be served; exiting", {{"socket", o.cni_socket}});
    agent.stop();
    std::fflush(stdout);
    std::fflush(stderr);
    std::_Exit(1);
  }
  int sig = 0;
  for (;;) {
    sigwait(&signals, &sig);
    if (sig != SIGHUP) break;
    if (auditor) auditor->reopen();
    log.info("SIGHUP: audit log reopened");
  }
  log.info("stopping; table inet netpol stays in force", {{"signal", sig}});
  http.reset();
  links.reset();
  agent.stop();
  auditor.reset();  // writes what is queued
  log.info("stopped");
  // Skip static destructors: cpprestsdk tears its thread pool down during
  // exit() racily (heap corruption reports at exit); everything of ours is
  // stopped and flushed already.
  std::fflush(stdout);
  std::fflush(stderr);
  std::_Exit(0);
}
