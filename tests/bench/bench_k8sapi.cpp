// API client benchmark (issue 4), against the fake API server in a child
// process (so the numbers are the agent's alone):
//  1. initial paginated list of N pods into a PodInformer: time, and store
//     memory per pod (heap in use after sync minus before, from mallinfo2);
//  2. watch replay: a watch from before M recorded pod changes, each event
//     decoded into the compact model: events per second;
//  3. backlog: the informer's watch is cut while K changes are written, then
//     it reconnects and works through them: events per second through the
//     whole informer (stream, decode, store, handler);
//  4. live: the child writes changes as fast as it can while the informer
//     follows (bounded by the writer): how far behind the informer ends;
//  5. protobuf vs JSON, in the same run against the same pods: the full
//     paginated list and the watch replay, each object decoded into the
//     model, once asking for JSON and once for protobuf: body bytes the
//     server sent (the fake counts them) and the agent process's CPU per pod
//     and per event. --lean-pods stores pods with only the fields the fake's
//     protobuf encoder writes (tests/fakeapi/protobuf.h), so both encodings
//     carry the same information; without it the JSON side also carries
//     fields the protobuf side leaves out.
//  6. --sync-compare: list+watch against watch-list (sendInitialEvents), in
//     the same run against the same pods, in JSON and protobuf: a fresh
//     PodInformer each time, from start until synced: body bytes the server
//     sent, the agent process's CPU per pod, and the peak heap above the
//     start (mallinfo2 sampled every 2 ms) next to the store it leaves.
//
// Phase 1 uses the informer's default (a watch-list; the fake offers it).
//
//   netpol-bench-k8sapi [--pods N] [--page-size N] [--events M] [--backlog K] [--live K] [--tls]
//                       [--lean-pods] [--sync-compare]
#include <malloc.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "k8s/api/informer.h"
#include "k8s/decode.h"
#include "tests/bench/bench_util.h"
#include "tests/fakeapi/fake_apiserver.h"

using namespace netpol;
using namespace netpol::bench;
using fakeapi::json;
using fakeapi::Kind;

namespace {

// A pod as a real cluster serves it: ~2.5 KB of JSON of which the store keeps
// a small part (labels, ports, phase, IPs, node).
json realistic_pod(const std::string& ns, size_t i) {
  const std::string name = "app-" + std::to_string(i % 97) + "-7d9f8c6b5-" + std::to_string(i);
  const std::string ip = "10." + std::to_string(64 + i / 65536) + "." +
                         std::to_string(i / 256 % 256) + "." + std::to_string(i % 256);
  json container = {
      {"name", "app"},
      {"image", "registry.example.com/team/app:v1.42.7"},
      {"imagePullPolicy", "IfNotPresent"},
      {"args", {"--config=/etc/app/config.yaml", "--log-level=info", "--metrics-port=9090"}},
      {"env", json::array({json{{"name", "POD_NAME"},
                                {"valueFrom", {{"fieldRef", {{"fieldPath", "metadata.name"}}}}}},
                           json{{"name", "POD_IP"},
                                {"valueFrom", {{"fieldRef", {{"fieldPath", "status.podIP"}}}}}},
                           json{{"name", "LOG_FORMAT"}, {"value", "json"}}})},
      {"ports",
       json::array({json{{"name", "http"}, {"containerPort", 8080}, {"protocol", "TCP"}},
                    json{{"name", "metrics"}, {"containerPort", 9090}, {"protocol", "TCP"}}})},
      {"resources",
       {{"requests", {{"cpu", "100m"}, {"memory", "128Mi"}}}, {"limits", {{"memory", "256Mi"}}}}},
      {"readinessProbe",
       {{"httpGet", {{"path", "/ready"}, {"port", "http"}}}, {"periodSeconds", 5}}},
      {"volumeMounts",
       json::array({json{{"name", "config"}, {"mountPath", "/etc/app"}},
                    json{{"name", "kube-api-access-x7k2p"},
                         {"mountPath", "/var/run/secrets/kubernetes.io/serviceaccount"},
                         {"readOnly", true}}})},
      {"terminationMessagePath", "/dev/termination-log"},
      {"terminationMessagePolicy", "File"}};
  json cond = json::array();
  for (const char* t :
       {"PodReadyToStartContainers", "Initialized", "Ready", "ContainersReady", "PodScheduled"})
    cond.push_back(
        {{"type", t}, {"status", "True"}, {"lastTransitionTime", "2025-01-01T00:00:00Z"}});
  return json{
      {"apiVersion", "v1"},
      {"kind", "Pod"},
      {"metadata",
       {{"name", name},
        {"namespace", ns},
        {"generateName", "app-" + std::to_string(i % 97) + "-7d9f8c6b5-"},
        {"labels",
         {{"app", "app-" + std::to_string(i % 97)},
          {"pod-template-hash", "7d9f8c6b5"},
          {"tier", i % 3 ? "backend" : "frontend"},
          {"team", "team-" + std::to_string(i % 13)}}},
        {"annotations", {{"kubectl.kubernetes.io/restartedAt", "2025-01-01T00:00:00Z"}}},
        {"ownerReferences",
         json::array({json{{"apiVersion", "apps/v1"},
                           {"kind", "ReplicaSet"},
                           {"name", "app-" + std::to_string(i % 97) + "-7d9f8c6b5"},
                           {"uid", "0b6e4f43-1a2b-4c3d-8e9f-000000000000"},
                           {"controller", true},
                           {"blockOwnerDeletion", true}}})}}},
      {"spec",
       {{"nodeName", "node-" + std::to_string(i % 500)},
        {"serviceAccountName", "app"},
        {"containers", json::array({container})},
        {"volumes",
         json::array({json{{"name", "config"}, {"configMap", {{"name", "app-config"}}}}})},
        {"tolerations", json::array({json{{"key", "node.kubernetes.io/not-ready"},
                                          {"operator", "Exists"},
                                          {"effect", "NoExecute"},
                                          {"tolerationSeconds", 300}}})}}},
      {"status",
       {{"phase", "Running"},
        {"conditions", cond},
        {"hostIP", "192.168.0." + std::to_string(i % 250 + 1)},
        {"podIP", ip},
        {"podIPs", json::array({json{{"ip", ip}}})},
        {"startTime", "2025-01-01T00:00:00Z"},
        {"qosClass", "Burstable"},
        {"containerStatuses",
         json::array({json{{"name", "app"},
                           {"ready", true},
                           {"restartCount", 0},
                           {"image", "registry.example.com/team/app:v1.42.7"},
                           {"imageID", "registry.example.com/team/app@sha256:0123456789abcdef"},
                           {"containerID", "containerd://0123456789abcdef0123456789abcdef"},
                           {"started", true},
                           {"state", {{"running", {{"startedAt", "2025-01-01T00:00:00Z"}}}}}}})}}}};
}

// realistic_pod without the fields the fake's protobuf encoder does not write.
json lean_pod(const std::string& ns, size_t i) {
  json p = realistic_pod(ns, i);
  p["metadata"].erase("ownerReferences");
  for (const char* k : {"serviceAccountName", "volumes", "tolerations"}) p["spec"].erase(k);
  for (auto& c : p["spec"]["containers"])
    for (const char* k : {"imagePullPolicy", "args", "env", "resources", "readinessProbe",
                          "volumeMounts", "terminationMessagePath", "terminationMessagePolicy"})
      c.erase(k);
  for (const char* k : {"conditions", "startTime", "qosClass", "containerStatuses"})
    p["status"].erase(k);
  return p;
}

// A client like `cfg` speaking protobuf or JSON.
std::shared_ptr<k8s::api::ApiClient> client_in(const k8s::api::ClientConfig& cfg, bool protobuf) {
  k8s::api::ClientConfig c = cfg;
  c.protobuf = protobuf;
  return k8s::api::make_http_client(c).value();
}

// Response body bytes the fake has sent so far (its /fake/stats).
uint64_t fake_bytes_sent(k8s::api::ApiClient& cl) {
  auto st = cl.get("/fake/stats");
  return st.ok() ? json::parse(st.value()).value("bodyBytesSent", uint64_t{0}) : 0;
}

const char* name_of(bool protobuf) {
  return protobuf ? "protobuf" : "JSON";
}

double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

// One decoded object of a list page or watch event, as the informer decodes it.
bool decodes(const std::string& text, k8s::api::Encoding enc, const char* source) {
  auto r = enc == k8s::api::Encoding::Protobuf
               ? k8s::decode_protobuf_object(text, "Pod", "", source)
               : k8s::decode_json_object(text, source);
  return r.ok() && r.objects.pods.size() == 1;
}

size_t heap_in_use() {
  return mallinfo2().uordblks;
}

bool read_line(int fd, std::string& line) {
  line.clear();
  char c;
  while (::read(fd, &c, 1) == 1) {
    if (c == '\n') return true;
    line += c;
  }
  return false;
}

void write_line(int fd, const std::string& s) {
  const std::string l = s + "\n";
  if (::write(fd, l.data(), l.size()) != static_cast<ssize_t>(l.size())) std::exit(3);
}

// The child: a fake API server with N pods and M recorded changes; then,
// on request, K live changes. Speaks one line at a time over two pipes.
[[noreturn]] void child(int in, int out, size_t pods, size_t events, bool tls,
                        const std::string& cert_dir, bool lean) {
  fakeapi::Options o;
  o.keep_pod_status = true;  // the pods arrive with their IPs, as the kubelet would have set them
  o.history_limit = events + 1000000;
  o.bookmark_interval = std::chrono::milliseconds(1000);
  if (tls) {
    o.tls_cert_file = cert_dir + "/server.crt";
    o.tls_key_file = cert_dir + "/server.key";
  }
  std::string err;
  auto s = fakeapi::Server::start(o, &err);
  if (!s) {
    std::fprintf(stderr, "fake: %s\n", err.c_str());
    std::_Exit(1);
  }
  const size_t namespaces = 50;
  for (size_t n = 0; n < namespaces; ++n)
    s->create(Kind::Namespace, "", json{{"metadata", {{"name", "ns-" + std::to_string(n)}}}});
  for (size_t i = 0; i < pods; ++i) {
    const std::string ns = "ns-" + std::to_string(i % namespaces);
    auto r = s->create(Kind::Pod, ns, lean ? lean_pod(ns, i) : realistic_pod(ns, i));
    if (!r.ok()) {
      std::fprintf(stderr, "fake: %s\n", r.body.dump().c_str());
      std::_Exit(1);
    }
  }
  // Recorded and live changes rewrite the tier label's value (short, so no
  // bigger than before): every stored pod keeps the same shape and size.
  const uint64_t before_events = s->resource_version();
  for (size_t e = 0; e < events; ++e) {
    const size_t i = e % pods;
    const std::string ns = "ns-" + std::to_string(i % namespaces);
    const std::string name = "app-" + std::to_string(i % 97) + "-7d9f8c6b5-" + std::to_string(i);
    s->merge_patch(Kind::Pod, ns, name,
                   {{"metadata", {{"labels", {{"tier", "t" + std::to_string(e)}}}}}});
  }
  write_line(out, std::to_string(s->port()) + " " + std::to_string(before_events) + " " +
                      std::to_string(s->resource_version()));
  std::string cmd;
  size_t written = 0;
  while (read_line(in, cmd)) {
    if (cmd == "pause") {
      // Cut the watches and refuse new ones: changes pile up for a backlog.
      s->fail_next(503, 1 << 30, "watch=1");
      s->drop_watches();
      write_line(out, "ok");
    } else if (cmd == "resume") {
      s->clear_fail_next();
      write_line(out, "ok");
    } else if (cmd.rfind("live ", 0) == 0) {
      // Every change really changes something (a no-op patch is no write).
      const size_t k = std::stoull(cmd.substr(5));
      for (size_t n = 0; n < k; ++n, ++written) {
        const size_t e = written;
        const size_t i = (e * 7919) % pods;
        const std::string ns = "ns-" + std::to_string(i % namespaces);
        const std::string name =
            "app-" + std::to_string(i % 97) + "-7d9f8c6b5-" + std::to_string(i);
        s->merge_patch(Kind::Pod, ns, name,
                       {{"metadata", {{"labels", {{"tier", "l" + std::to_string(e)}}}}}});
      }
      write_line(out, std::to_string(s->resource_version()));
    } else {
      break;
    }
  }
  s->stop();
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  size_t pods = 100000, page = 500, events = 100000, backlog = 50000, live = 10000;
  bool tls = false, lean = false, sync_compare = false;
  for (int i = 1; i < argc; ++i) {
    if (parse_size_flag(i, argc, argv, "--pods", pods) ||
        parse_size_flag(i, argc, argv, "--page-size", page) ||
        parse_size_flag(i, argc, argv, "--events", events) ||
        parse_size_flag(i, argc, argv, "--live", live) ||
        parse_size_flag(i, argc, argv, "--backlog", backlog))
      continue;
    if (std::strcmp(argv[i], "--tls") == 0) {
      tls = true;
      continue;
    }
    if (std::strcmp(argv[i], "--lean-pods") == 0) {
      lean = true;
      continue;
    }
    if (std::strcmp(argv[i], "--sync-compare") == 0) {
      sync_compare = true;
      continue;
    }
    std::fprintf(
        stderr,
        "usage: %s [--pods N] [--page-size N] [--events M] [--backlog K] [--live K] [--tls] "
        "[--lean-pods] [--sync-compare]\n",
        argv[0]);
    return 2;
  }
  if (pods == 0) pods = 1;
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // lines appear as phases finish, also through a pipe
  std::string cert_dir;
  if (tls) {
    char tmpl[] = "/tmp/netpol-bench-k8sapi-XXXXXX";
    cert_dir = ::mkdtemp(tmpl);
    const std::string cmd =
        "cd " + cert_dir +
        " && printf 'subjectAltName=IP:127.0.0.1\\n' > ext && "
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
        "-keyout ca.key -out ca.crt -days 1 -subj /CN=bench-ca 2>/dev/null && "
        "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key "
        "-out server.csr -subj /CN=fake 2>/dev/null && "
        "openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial "
        "-out server.crt -days 1 -extfile ext 2>/dev/null";
    if (std::system(cmd.c_str()) != 0) {
      std::fprintf(stderr, "openssl failed\n");
      return 1;
    }
  }

  // Fork before any thread exists in this process.
  int to_child[2], from_child[2];
  if (::pipe(to_child) != 0 || ::pipe(from_child) != 0) return 1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    child(to_child[0], from_child[1], pods, events, tls, cert_dir, lean);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  std::printf(
      "netpol-bench-k8sapi: %zu pods (page size %zu), %zu recorded events, %zu backlog, %zu live, "
      "%s\n",
      pods, page, events, backlog, live, tls ? "HTTPS" : "HTTP");
  Timer setup;
  std::string line;
  if (!read_line(from_child[0], line)) {
    std::fprintf(stderr, "the fake API server did not start\n");
    return 1;
  }
  uint16_t port = 0;
  unsigned long long rv_before_events = 0, rv_after_events = 0;
  std::sscanf(line.c_str(), "%hu %llu %llu", &port, &rv_before_events, &rv_after_events);
  std::printf("fake API server ready in %.1f s (child process)\n", setup.wall() / 1000);

  k8s::api::ClientConfig cfg;
  cfg.server = std::string(tls ? "https" : "http") + "://127.0.0.1:" + std::to_string(port);
  if (tls) cfg.ca_file = cert_dir + "/ca.crt";
  cfg.request_timeout = std::chrono::seconds(120);
  auto made = k8s::api::make_http_client(cfg);
  if (!made.ok()) {
    std::fprintf(stderr, "%s\n", made.status().str().c_str());
    return 1;
  }
  auto client = made.value();

  // 1. Initial list.
  const size_t heap0 = heap_in_use();
  const double rss0 = rss_mib();
  k8s::api::InformerOptions io;
  io.page_size = static_cast<int>(page);
  io.log = [](const std::string&) {};  // phase 3 cuts the watch on purpose
  io.backoff = {std::chrono::milliseconds(10), std::chrono::milliseconds(50), 2.0, 0.5};
  std::atomic<uint64_t> handled{0};
  k8s::api::Handlers<k8s::Pod> h;
  h.on_update = [&](const k8s::Pod&, const k8s::Pod& p) { handled += !p.labels.empty(); };
  auto informer = std::make_unique<k8s::api::PodInformer>(client, h, io);
  Timer list;
  informer->start();
  if (!informer->wait_for_sync(std::chrono::minutes(10))) {
    std::fprintf(stderr, "no sync\n");
    return 1;
  }
  const double list_ms = list.wall();
  // Let the list's transient buffers go before reading the heap.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const size_t heap1 = heap_in_use();
  const double rss1 = rss_mib();
  const size_t stored = informer->size();
  const auto st = informer->stats();
  std::printf("initial %s: %zu pods in %llu pages, %.0f ms (%.0f pods/s)\n",
              st.watch_lists ? "watch-list" : "list", stored,
              static_cast<unsigned long long>(st.list_pages), list_ms, stored / (list_ms / 1000));
  std::printf(
      "store: %.0f bytes of heap per pod (%.1f MiB for %zu pods; RSS +%.1f MiB; sizeof(Pod) %zu)\n",
      static_cast<double>(heap1 - heap0) / static_cast<double>(stored),
      static_cast<double>(heap1 - heap0) / 1048576.0, stored, rss1 - rss0, sizeof(k8s::Pod));

  // The same number of pods decoded straight into shared_ptrs, without the
  // informer: the model's own cost, to tell it apart from the store's index.
  {
    const size_t h0 = heap_in_use();
    std::vector<std::shared_ptr<const k8s::Pod>> alone;
    alone.reserve(stored);
    for (size_t i = 0; i < stored; ++i) {
      const std::string ns = "ns-" + std::to_string(i % 50);
      auto pod = realistic_pod(ns, i);
      pod["metadata"]["uid"] = "0b6e4f43-1a2b-4c3d-8e9f-" + std::to_string(100000000000 + i);
      pod["metadata"]["resourceVersion"] = std::to_string(1000 + i);
      auto r = k8s::decode_json_object(pod.dump(), "bench");
      if (r.objects.pods.size() == 1)
        alone.push_back(std::make_shared<const k8s::Pod>(std::move(r.objects.pods[0])));
    }
    const size_t h1 = heap_in_use();
    const double per = static_cast<double>(h1 - h0 - alone.capacity() * sizeof(alone[0])) /
                       static_cast<double>(alone.size());
    std::printf("       of which the decoded Pod itself (make_shared, no index): %.0f bytes\n",
                per);
  }

  // 2. Watch replay: every recorded change streamed and decoded.
  if (events > 0) {
    size_t n = 0, bad = 0;
    Timer replay;
    k8s::api::Canceller cancel;
    k8s::api::Status s = client->watch(
        k8s::api::kPods,
        {.resource_version = std::to_string(rv_before_events), .timeout_seconds = 600},
        [&](k8s::api::WatchEvent&& ev) {
          if (ev.type == k8s::api::EventType::Bookmark) return true;
          if (!decodes(ev.object, ev.encoding, "watch")) ++bad;
          return ++n < events;
        },
        &cancel);
    const double ms = replay.wall(), cpu = replay.cpu();
    std::printf(
        "watch replay: %zu events decoded in %.0f ms: %.0f events/s (decode errors %zu; reader "
        "thread "
        "CPU %.0f ms, %.0f events per CPU-second)%s\n",
        n, ms, n / (ms / 1000), bad, cpu, n / (cpu / 1000), s.ok() ? "" : (" " + s.str()).c_str());
  }

  // 3. Backlog: the informer is cut off while K changes are written, then
  // reconnects and works through them (stream, decode, store, handler).
  auto live_changes = [&](size_t k) {
    write_line(to_child[1], "live " + std::to_string(k));
    if (!read_line(from_child[0], line)) std::exit(1);
  };
  // Waits (10 min at most) until the informer handled `target` events; whether
  // it did and the ms since `since`.
  struct Waited {
    bool ok;
    double ms;
  };
  auto wait_events = [&](uint64_t target, const Timer& since) {
    Timer t;
    bool ok = false;
    while (!ok && t.wall() < 600000) {
      ok = handled.load() >= target;
      if (!ok) std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return Waited{ok, since.wall()};
  };
  if (backlog > 0) {
    write_line(to_child[1], "pause");
    if (!read_line(from_child[0], line)) return 1;
    std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the watch is down and refused
    const uint64_t before = handled.load();
    live_changes(backlog);
    write_line(to_child[1], "resume");
    if (!read_line(from_child[0], line)) return 1;
    const Waited w = wait_events(before + backlog, Timer());
    std::printf(
        "informer backlog: %zu changes worked off in %.0f ms after reconnecting: "
        "%.0f events/s through watch, decode, store and handler%s (includes up to "
        "%lld ms of reconnect backoff)\n",
        backlog, w.ms, backlog / (w.ms / 1000), w.ok ? "" : " (did not finish)",
        static_cast<long long>(io.backoff.max.count()));
  }

  // 4. Live: the informer follows a writer (bounded by how fast the fake writes).
  if (live > 0) {
    const uint64_t before = handled.load();
    const Timer t;
    live_changes(live);
    const double write_ms = t.wall();
    const Waited w = wait_events(before + live, t);
    std::printf(
        "live: %zu changes written by the fake in %.0f ms, handled by the informer %.0f "
        "ms after the first write (lag at the end %.0f ms)%s\n",
        live, write_ms, w.ms, w.ms - write_ms, w.ok ? "" : " (did not catch up)");
  }
  informer->stop();

  // 5. Protobuf vs JSON: the same list and watch replay in each encoding.
  for (const bool pb : {false, true}) {
    auto cl = client_in(cfg, pb);
    auto sent = [&] { return fake_bytes_sent(*cl); };
    const char* name = pb ? "protobuf" : "JSON";
    // The list, in pages, each pod decoded.
    uint64_t b0 = sent();
    double cpu0 = process_cpu_ms();
    Timer t;
    size_t n = 0, bad = 0;
    k8s::api::ListOptions lo;
    lo.limit = static_cast<int>(page);
    for (;;) {
      auto pg = cl->list(k8s::api::kPods, lo);
      if (!pg.ok()) {
        std::fprintf(stderr, "%s\n", pg.status().str().c_str());
        return 1;
      }
      for (const auto& item : pg.value().items) {
        bad += !decodes(item, pg.value().encoding, "list");
        ++n;
      }
      if (pg.value().continue_token.empty()) break;
      lo.continue_token = pg.value().continue_token;
    }
    double ms = t.wall(), cpu = process_cpu_ms() - cpu0;
    uint64_t bytes = sent() - b0;
    std::printf(
        "%s list: %zu pods, %.0f ms, %.1f MiB sent (%.0f bytes/pod), agent CPU %.0f ms (%.2f "
        "us/pod)%s\n",
        name, n, ms, static_cast<double>(bytes) / 1048576.0,
        static_cast<double>(bytes) / static_cast<double>(n), cpu,
        cpu * 1000 / static_cast<double>(n), bad ? " DECODE ERRORS" : "");
    if (events == 0) continue;
    // The watch replay, each event decoded.
    b0 = sent();
    cpu0 = process_cpu_ms();
    Timer w;
    size_t e = 0;
    bad = 0;
    k8s::api::Canceller cancel;
    const k8s::api::Status ws = cl->watch(
        k8s::api::kPods,
        {.resource_version = std::to_string(rv_before_events), .timeout_seconds = 600},
        [&](k8s::api::WatchEvent&& ev) {
          if (ev.type == k8s::api::EventType::Bookmark) return true;
          bad += !decodes(ev.object, ev.encoding, "watch");
          return ++e < events;
        },
        &cancel);
    ms = w.wall();
    cpu = process_cpu_ms() - cpu0;
    bytes = sent() - b0;
    std::printf(
        "%s watch: %zu events, %.0f ms, %.1f MiB sent (%.0f bytes/event), agent CPU %.0f ms "
        "(%.2f us/event)%s\n",
        name, e, ms, static_cast<double>(bytes) / 1048576.0,
        static_cast<double>(bytes) / static_cast<double>(e), cpu,
        cpu * 1000 / static_cast<double>(e), bad ? " DECODE ERRORS" : "");
    if (!ws.ok()) std::printf("  (watch ended: %s)\n", ws.str().c_str());
  }
  {
    // What the informer really held: the heap it gives back when destroyed.
    const size_t before_reset = heap_in_use();
    const size_t now_stored = informer->size();
    informer.reset();
    std::printf(
        "store, measured again: destroying the informer frees %.0f bytes per stored pod\n",
        static_cast<double>(before_reset - heap_in_use()) / static_cast<double>(now_stored));
  }
  // 6. list+watch against watch-list: from start to synced, fresh informers.
  if (sync_compare) {
    for (const bool pb : {false, true}) {
      for (const auto mode : {k8s::api::WatchListMode::Off, k8s::api::WatchListMode::Auto}) {
        auto cl = client_in(cfg, pb);
        auto sent = [&] { return fake_bytes_sent(*cl); };
        k8s::api::InformerOptions o2 = io;
        o2.watch_list = mode;
        const size_t h0 = heap_in_use();
        std::atomic<bool> done{false};
        std::atomic<size_t> peak{h0};
        std::thread sampler([&] {
          while (!done) {
            const size_t h = heap_in_use();
            if (h > peak) peak = h;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
          }
        });
        const uint64_t b0 = sent();
        const double cpu0 = process_cpu_ms();
        Timer t;
        auto inf = std::make_unique<k8s::api::PodInformer>(cl, k8s::api::Handlers<k8s::Pod>{}, o2);
        inf->start();
        const bool ok = inf->wait_for_sync(std::chrono::minutes(10));
        const double ms = t.wall(), cpu = process_cpu_ms() - cpu0;
        const uint64_t bytes = sent() - b0;
        done = true;
        sampler.join();
        const size_t h1 = heap_in_use();
        const size_t top = std::max<size_t>(peak, h1);
        const size_t n = inf->size();
        const auto st = inf->stats();
        inf.reset();
        const double per = static_cast<double>(std::max<size_t>(n, 1));
        std::printf(
            "sync %s %s: %zu pods, %.0f ms, %.1f MiB sent (%.0f bytes/pod), agent CPU %.0f ms "
            "(%.2f us/pod), heap peak +%.1f MiB (store +%.1f MiB, transient %.1f MiB)%s\n",
            name_of(pb), mode == k8s::api::WatchListMode::Auto ? "watch-list" : "list+watch", n, ms,
            static_cast<double>(bytes) / 1048576.0, static_cast<double>(bytes) / per, cpu,
            cpu * 1000 / per, static_cast<double>(top - h0) / 1048576.0,
            static_cast<double>(h1 - h0) / 1048576.0, static_cast<double>(top - h1) / 1048576.0,
            !ok                                                                ? " NO SYNC"
            : (mode == k8s::api::WatchListMode::Auto) != (st.watch_lists == 1) ? " WRONG MODE"
                                                                               : "");
      }
    }
  }
  write_line(to_child[1], "quit");
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!cert_dir.empty()) std::system(("rm -rf " + cert_dir).c_str());
  std::printf("peak RSS of the agent side %.0f MiB\n", peak_rss_mib());
  return 0;
}
