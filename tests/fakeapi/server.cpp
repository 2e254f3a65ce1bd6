// HTTP(S) front of the fake API server on Boost.Beast: one thread per
// connection with blocking I/O (simple, and plenty for tests), chunked
// streaming for watches. stop() shuts every socket down so each thread's
// blocking call returns, then joins them all.
// clang-format off
// Boost 1.74 asio uses std::exchange without including <utility> (C++20, GCC 12).
#include <utility>
// clang-format on

#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <list>
#include <sstream>
#include <thread>

#include "tests/fakeapi/fake_apiserver.h"
#include "tests/fakeapi/protobuf.h"
#include "tests/fakeapi/state.h"

namespace netpol::fakeapi {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using Request = http::request<http::string_body>;

namespace {

std::string pct_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else if (s[i] == '+') {
      out += ' ';
    } else {
      out += s[i];
    }
  }
  return out;
}

std::map<std::string, std::string> parse_query(std::string_view q) {
  std::map<std::string, std::string> out;
  while (!q.empty()) {
    const size_t amp = q.find('&');
    const std::string_view part = q.substr(0, amp);
    const size_t eq = part.find('=');
    try {
      if (eq == std::string_view::npos) {
        out[pct_decode(part)] = "";
      } else {
        out[pct_decode(part.substr(0, eq))] = pct_decode(part.substr(eq + 1));
      }
    } catch (const std::exception&) {
      // A malformed escape: drop that parameter, as a lenient server would.
    }
    if (amp == std::string_view::npos) break;
    q.remove_prefix(amp + 1);
  }
  return out;
}

std::vector<std::string> split_path(std::string_view p) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < p.size()) {
    if (p[i] == '/') {
      ++i;
      continue;
    }
    const size_t j = p.find('/', i);
    out.emplace_back(p.substr(i, j == std::string_view::npos ? std::string_view::npos : j - i));
    if (j == std::string_view::npos) break;
    i = j;
  }
  return out;
}

// A request for one of our resources, from its path.
struct Target {
  Kind kind;
  std::string ns;
  std::string name;         // empty: the collection
  std::string subresource;  // "status" or empty
};

std::optional<Target> parse_target(const std::vector<std::string>& seg) {
  size_t i;
  std::string gv;
  if (seg.size() >= 3 && seg[0] == "api" && seg[1] == "v1") {
    gv = "v1";
    i = 2;
  } else if (seg.size() >= 4 && seg[0] == "apis") {
    gv = seg[1] + "/" + seg[2];
    i = 3;
  } else {
    return std::nullopt;
  }
  std::vector<std::string> rest(seg.begin() + static_cast<long>(i), seg.end());
  Target t;
  if (rest.size() >= 3 && rest[0] == "namespaces" && rest[2] != "status" && rest[2] != "finalize") {
    t.ns = rest[1];
    rest.erase(rest.begin(), rest.begin() + 2);
  }
  if (rest.empty() || rest.size() > 3) return std::nullopt;
  auto k = kind_from_plural(gv, rest[0]);
  if (!k) return std::nullopt;
  t.kind = *k;
  if (info(*k).namespaced == false && !t.ns.empty()) return std::nullopt;
  if (rest.size() >= 2) t.name = rest[1];
  if (rest.size() == 3) {
    if (rest[2] != "status") return std::nullopt;
    t.subresource = rest[2];
  }
  return t;
}

void append_object(std::string& out, const Obj& o) {
  const auto& in = info(o.kind);
  out += "{\"kind\":\"";
  out += in.kind_name;
  out += "\",\"apiVersion\":\"";
  out += in.group_version;
  out += "\",";
  out.append(o.text, 1, std::string::npos);
}

// How a client wants objects: as themselves, or as kubectl's Table rows.
struct Shape {
  bool table = false;
  bool full_object = false;  // includeObject=Object: rows carry the whole object
  bool protobuf = false;     // lists and watches as application/vnd.kubernetes.protobuf
};

bool protobuf_kind(Kind k) {
  return k == Kind::Pod || k == Kind::Namespace || k == Kind::NetworkPolicy;
}

// Protobuf for clients that accept it, for Pods, Namespaces and
// NetworkPolicies, unless the server was told not to. kubectl's typed
// clients accept it too, but read fields the fake does not encode (container
// statuses while `kubectl debug` waits): they keep JSON.
Shape shape_of(const Request& req, const std::map<std::string, std::string>& query, Kind kind,
               bool protobuf_enabled) {
  Shape s;
  const std::string accept(req[http::field::accept]);
  s.table = accept.find("as=Table") != std::string::npos;
  auto it = query.find("includeObject");
  s.full_object = it != query.end() && it->second == "Object";
  const std::string ua(req[http::field::user_agent]);
  s.protobuf = protobuf_enabled && !s.table && protobuf_kind(kind) &&
               accept.find(kProtobufMediaType) != std::string::npos && ua.rfind("kubectl", 0) != 0;
  return s;
}

const std::string& protobuf_object(const Obj& o) {
  std::lock_guard lock(o.encoded.mu);
  if (!o.encoded.protobuf)
    o.encoded.protobuf = encode_protobuf_object(o.to_json(), info(o.kind).kind_name);
  return *o.encoded.protobuf;
}

void append_event(std::string& out, const char* type, const ObjPtr& o, const Shape& shape = {}) {
  if (shape.protobuf) {
    const auto& in = info(o->kind);
    out += encode_protobuf_watch_event(type, in.group_version, in.kind_name, protobuf_object(*o));
    return;
  }
  out += "{\"type\":\"";
  out += type;
  out += "\",\"object\":";
  if (shape.table) {
    out += table_json(o->kind, {o}, std::to_string(o->rv), "", shape.full_object);
  } else {
    append_object(out, *o);
  }
  out += "}\n";
}

// One resource as discovery and OpenAPI describe it.
struct Listed {
  std::string group, version;  // group "" is the core group
  std::string plural, singular, kind, short_name;
  bool namespaced;
  bool served;                      // false: listed only, requests answer 404 (see kListedOnly)
  std::optional<Kind> served_kind;  // served ones: which

  std::string group_version() const { return group.empty() ? version : group + "/" + version; }
};

// Listed in discovery and OpenAPI but never stored: the kinds of
// agent/deploy/, so kubectl can map and print those manifests against the
// fake (`kubectl create --dry-run=client -o yaml -f agent/deploy/`, as the
// Deploy test does). Requests to them answer 404 with a message saying so.
struct ListedOnly {
  const char *group, *plural, *singular, *kind, *short_name;
  bool namespaced;
};
constexpr ListedOnly kListedOnly[] = {
    {"", "serviceaccounts", "serviceaccount", "ServiceAccount", "sa", true},
    {"apps", "daemonsets", "daemonset", "DaemonSet", "ds", true},
    {"rbac.authorization.k8s.io", "clusterroles", "clusterrole", "ClusterRole", "", false},
    {"rbac.authorization.k8s.io", "clusterrolebindings", "clusterrolebinding", "ClusterRoleBinding",
     "", false},
};

// Every resource the fake lists, served ones first, in a fixed order.
const std::vector<Listed>& listed() {
  static const std::vector<Listed> all = [] {
    std::vector<Listed> v;
    for (Kind k : {Kind::Namespace, Kind::Pod, Kind::NetworkPolicy, Kind::Node,
                   Kind::ClusterNetworkPolicy, Kind::CustomResourceDefinition}) {
      const ResourceInfo& in = info(k);
      const std::string gv = in.group_version;
      const size_t slash = gv.find('/');
      v.push_back({slash == std::string::npos ? "" : gv.substr(0, slash),
                   slash == std::string::npos ? gv : gv.substr(slash + 1), in.plural, in.singular,
                   in.kind_name, in.short_name, in.namespaced, true, k});
    }
    for (const ListedOnly& l : kListedOnly) {
      v.push_back({l.group, "v1", l.plural, l.singular, l.kind, l.short_name, l.namespaced, false,
                   std::nullopt});
    }
    return v;
  }();
  return all;
}

// The listed-only resource a request path names (after /api/v1 or /apis/G/v1,
// optionally /namespaces/NS), if any.
const Listed* listed_only_target(const std::vector<std::string>& seg) {
  size_t at = 0;
  std::string group;
  if (seg.size() >= 2 && seg[0] == "api" && seg[1] == "v1") {
    at = 2;
  } else if (seg.size() >= 3 && seg[0] == "apis" && seg[2] == "v1") {
    group = seg[1];
    at = 3;
  } else {
    return nullptr;
  }
  if (seg.size() > at + 2 && seg[at] == "namespaces") at += 2;
  if (seg.size() <= at) return nullptr;
  for (const Listed& l : listed()) {
    if (!l.served && l.group == group && l.plural == seg[at]) return &l;
  }
  return nullptr;
}

json resource_json(const Listed& in, const char* suffix) {
  json r = {{"name", in.plural + suffix},
            {"singularName", suffix[0] ? "" : in.singular},
            {"namespaced", in.namespaced},
            {"kind", in.kind}};
  if (suffix[0]) {
    r["verbs"] = {"get", "patch", "update"};
  } else {
    r["verbs"] = {"create", "delete", "deletecollection", "get",
                  "list",   "patch",  "update",           "watch"};
    if (!in.short_name.empty()) r["shortNames"] = {in.short_name};
    if (in.kind == "Pod") r["categories"] = {"all"};
  }
  return r;
}

}  // namespace

struct Server::Impl {
  Options opts;
  State state;
  net::io_context ioc;
  tcp::acceptor acceptor{ioc};
  std::unique_ptr<ssl::context> tls;
  uint16_t port = 0;
  std::string host;
  std::thread accept_thread;
  std::atomic<bool> stopped{false};

  struct Conn {
    int fd = -1;
    std::thread thread;
    std::atomic<bool> done{false};
  };
  std::mutex conns_mu;
  std::list<Conn> conns;

  std::mutex auth_mu;  // tokens and fail_next
  std::vector<std::string> tokens;
  struct FailRule {
    int code;
    int count;
    std::string path_part;
  };
  std::vector<FailRule> fail_rules;

  explicit Impl(Options o) : opts(std::move(o)), state(opts), tokens(opts.tokens) {}

  void log(const std::string& line) {
    if (opts.log) opts.log(line);
  }

  void accept_loop() {
    for (;;) {
      beast::error_code ec;
      tcp::socket sock(ioc);
      acceptor.accept(sock, ec);
      if (stopped) return;
      if (ec) continue;
      reap();
      std::lock_guard lock(conns_mu);
      conns.emplace_back();
      Conn& c = conns.back();
      c.fd = sock.native_handle();
      c.thread = std::thread([this, &c, s = std::move(sock)]() mutable {
        serve_connection(std::move(s));
        c.done = true;
      });
    }
  }

  // Joins the threads of connections that ended.
  void reap() {
    std::lock_guard lock(conns_mu);
    for (auto it = conns.begin(); it != conns.end();) {
      if (it->done) {
        it->thread.join();
        it = conns.erase(it);
      } else {
        ++it;
      }
    }
  }

  void serve_connection(tcp::socket sock) {
    try {
      // Small writes of watch events must not wait for Nagle.
      sock.set_option(tcp::no_delay(true));
      if (tls) {
        ssl::stream<tcp::socket&> stream(sock, *tls);
        beast::error_code ec;
        stream.handshake(ssl::stream_base::server, ec);
        if (ec) return;
        bool cert_ok = false;
        if (!opts.client_ca_file.empty()) {
          X509* peer = SSL_get_peer_certificate(stream.native_handle());
          cert_ok = peer && SSL_get_verify_result(stream.native_handle()) == X509_V_OK;
          if (peer) X509_free(peer);
        }
        session(stream, cert_ok);
        stream.shutdown(ec);
      } else {
        session(sock, false);
      }
    } catch (const std::exception&) {
      // A client that went away mid-request: nothing to report.
    }
    beast::error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
  }

  template <typename Stream>
  void session(Stream& stream, bool cert_ok) {
    beast::flat_buffer buf;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(64u << 20);
      beast::error_code ec;
      http::read(stream, buf, parser, ec);
      if (ec || stopped) return;
      Request req = parser.release();
      if (!handle(stream, req, cert_ok) || !req.keep_alive()) return;
    }
  }

  template <typename Stream>
  bool respond(Stream& stream, const Request& req, int code, std::string body,
               const char* content_type = "application/json") {
    http::response<http::string_body> res{static_cast<http::status>(code), req.version()};
    res.set(http::field::server, "fake-apiserver");
    res.set(http::field::content_type, content_type);
    res.set("Audit-Id", "fake");
    res.keep_alive(req.keep_alive());
    {
      std::lock_guard lock(state.mu);
      state.stats.body_bytes_sent += body.size();
    }
    res.body() = std::move(body);
    res.prepare_payload();
    beast::error_code ec;
    http::write(stream, res, ec);
    return !ec;
  }

  template <typename Stream>
  bool respond(Stream& stream, const Request& req, const Reply& r) {
    return respond(stream, req, r.code, r.body.dump());
  }

  bool authorized(const Request& req, bool cert_ok) {
    std::lock_guard lock(auth_mu);
    if (tokens.empty() || cert_ok) return true;
    const auto it = req.find(http::field::authorization);
    if (it == req.end()) return false;
    const std::string value(it->value());
    if (value.rfind("Bearer ", 0) != 0) return false;
    const std::string tok = value.substr(7);
    return std::find(tokens.begin(), tokens.end(), tok) != tokens.end();
  }

  std::optional<int> take_fail_rule(const std::string& path) {
    std::lock_guard lock(auth_mu);
    for (auto it = fail_rules.begin(); it != fail_rules.end(); ++it) {
      if (path.find(it->path_part) == std::string::npos) continue;
      const int code = it->code;
      if (--it->count <= 0) fail_rules.erase(it);
      return code;
    }
    return std::nullopt;
  }

  // listed() without the resources of CRDs that are not installed.
  std::vector<Listed> visible() {
    std::vector<Listed> out;
    for (const Listed& l : listed())
      if (!l.served_kind || state.served(*l.served_kind)) out.push_back(l);
    return out;
  }

  std::string discovery(const std::vector<std::string>& seg) {
    if (seg.size() == 1 && seg[0] == "api") {
      return json{
          {"kind", "APIVersions"},
          {"versions", {"v1"}},
          {"serverAddressByClientCIDRs",
           {{{"clientCIDR", "0.0.0.0/0"}, {"serverAddress", host + ":" + std::to_string(port)}}}}}
          .dump();
    }
    // Groups in listing order, each with its one version; a CRD's group only
    // while the CRD is installed.
    std::vector<std::pair<std::string, std::string>> groups;
    for (const Listed& l : visible()) {
      if (l.group.empty()) continue;
      auto same = [&](const auto& g) { return g.first == l.group; };
      if (std::find_if(groups.begin(), groups.end(), same) == groups.end())
        groups.emplace_back(l.group, l.version);
    }
    auto version_of = [&](const std::string& group) -> const std::string* {
      for (const auto& g : groups)
        if (g.first == group) return &g.second;
      return nullptr;
    };
    auto group_json = [&](const std::string& name) {
      const std::string& v = *version_of(name);
      const json gv = {{"groupVersion", name + "/" + v}, {"version", v}};
      return json{{"name", name}, {"versions", {gv}}, {"preferredVersion", gv}};
    };
    if (seg.size() == 1 && seg[0] == "apis") {
      json list = json::array();
      for (const auto& g : groups) list.push_back(group_json(g.first));
      return json{{"kind", "APIGroupList"}, {"apiVersion", "v1"}, {"groups", list}}.dump();
    }
    if (seg.size() == 2 && seg[0] == "apis" && version_of(seg[1])) {
      json g = group_json(seg[1]);
      g["kind"] = "APIGroup";
      g["apiVersion"] = "v1";
      return g.dump();
    }
    std::string gv;
    if (seg.size() == 2 && seg[0] == "api" && seg[1] == "v1") gv = "v1";
    if (seg.size() == 3 && seg[0] == "apis") gv = seg[1] + "/" + seg[2];
    json resources = json::array();
    for (const Listed& l : visible()) {
      if (gv.empty() || l.group_version() != gv) continue;
      resources.push_back(resource_json(l, ""));
      if (l.served) resources.push_back(resource_json(l, "/status"));
    }
    if (resources.empty()) return "";
    json out = {{"kind", "APIResourceList"}, {"groupVersion", gv}, {"resources", resources}};
    if (gv != "v1") out["apiVersion"] = "v1";
    return out.dump();
  }

  // OpenAPI v3, only as much as kubectl reads: the index, and per group
  // version the PATCH operations with their GVK and the fieldValidation
  // parameter, from which kubectl learns to leave validation to the server
  // (as it does against a real one: `create --dry-run=client` validates nothing).
  std::string openapi(const std::vector<std::string>& seg) {
    auto path_of = [](const Listed& l) {
      return l.group.empty() ? std::string("api/v1") : "apis/" + l.group_version();
    };
    if (seg.size() == 2) {
      json paths = json::object();
      for (const Listed& l : visible()) {
        const std::string p = path_of(l);
        paths[p] = {{"serverRelativeURL", "/openapi/v3/" + p + "?hash=FAKE1"}};
      }
      return json{{"paths", paths}}.dump();
    }
    std::string want;
    for (size_t i = 2; i < seg.size(); ++i) want += (i > 2 ? "/" : "") + seg[i];
    json paths = json::object();
    for (const Listed& l : visible()) {
      if (path_of(l) != want) continue;
      const std::string item =
          "/" + want + (l.namespaced ? "/namespaces/{namespace}/" : "/") + l.plural + "/{name}";
      const json gvk = {{"group", l.group}, {"version", l.version}, {"kind", l.kind}};
      const json params = json::array(
          {{{"name", "dryRun"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
           {{"name", "fieldManager"}, {"in", "query"}, {"schema", {{"type", "string"}}}},
           {{"name", "fieldValidation"}, {"in", "query"}, {"schema", {{"type", "string"}}}}});
      const json op = {{"operationId", "patch" + l.kind},
                       {"parameters", params},
                       {"responses", {{"200", {{"description", "OK"}}}}},
                       {"x-kubernetes-action", "patch"},
                       {"x-kubernetes-group-version-kind", gvk}};
      paths[item] = {{"patch", op}};
    }
    if (paths.empty()) return "";
    return json{{"openapi", "3.0.0"},
                {"info", {{"title", "Kubernetes (fake-apiserver)"}, {"version", "v1.32.0"}}},
                {"paths", paths}}
        .dump();
  }

  // Control endpoints for scripts: /fake/compact, /fake/drop-watches, /fake/faults, /fake/stats.
  template <typename Stream>
  bool control(Stream& stream, const Request& req, const std::string& what) {
    if (what == "compact" && req.method() == http::verb::post) {
      state.compact();
      return respond(stream, req, 200, "{}");
    }
    if (what == "drop-watches" && req.method() == http::verb::post) {
      drop_watches();
      return respond(stream, req, 200, "{}");
    }
    if (what == "stats") {
      const ServerStats s = stats();
      return respond(stream, req, 200,
                     json{{"requests", s.requests},
                          {"watches", s.watches},
                          {"watchLists", s.watch_lists},
                          {"watchesDropped", s.watches_dropped},
                          {"errorsInjected", s.errors_injected},
                          {"hangs", s.hangs},
                          {"compactions", s.compactions},
                          {"gone", s.gone},
                          {"eventsSent", s.events_sent},
                          {"bodyBytesSent", s.body_bytes_sent},
                          {"resourceVersion", state.rv()}}
                         .dump());
    }
    if (what == "faults") {
      if (req.method() == http::verb::put || req.method() == http::verb::post) {
        try {
          const json j = json::parse(req.body());
          Faults f;
          f.drop_watch_after = j.value("dropWatchAfter", uint64_t{0});
          f.error_rate = j.value("errorRate", 0.0);
          f.hang_rate = j.value("hangRate", 0.0);
          f.hang_for = std::chrono::milliseconds(j.value("hangMs", int64_t{0}));
          f.compact_every = j.value("compactEvery", uint64_t{0});
          set_faults(f);
        } catch (const std::exception& e) {
          return respond(stream, req, status_reply(400, "BadRequest", e.what()));
        }
      }
      const Faults f = get_faults();
      return respond(stream, req, 200,
                     json{{"dropWatchAfter", f.drop_watch_after},
                          {"errorRate", f.error_rate},
                          {"hangRate", f.hang_rate},
                          {"hangMs", f.hang_for.count()},
                          {"compactEvery", f.compact_every}}
                         .dump());
    }
    return respond(
        stream, req,
        status_reply(404, "NotFound", "the server could not find the requested resource"));
  }

  // Returns false when the connection must close.
  template <typename Stream>
  bool handle(Stream& stream, Request& req, bool cert_ok) {
    const std::string target(req.target());
    const size_t qpos = target.find('?');
    const std::string path = target.substr(0, qpos);
    const auto query =
        parse_query(qpos == std::string::npos ? "" : std::string_view(target).substr(qpos + 1));
    {
      std::lock_guard lock(state.mu);
      ++state.stats.requests;
    }
    log(std::string(req.method_string()) + " " + target);
    const auto seg = split_path(path);

    if (path == "/healthz" || path == "/livez" || path == "/readyz")
      return respond(stream, req, 200, "ok", "text/plain");
    if (path == "/version")
      return respond(stream, req, 200,
                     json{{"major", "1"},
                          {"minor", "32"},
                          {"gitVersion", "v1.32.0-fake"},
                          {"gitCommit", "0000000000000000000000000000000000000000"},
                          {"gitTreeState", "clean"},
                          {"buildDate", "2025-01-01T00:00:00Z"},
                          {"goVersion", "go1.23.0"},
                          {"compiler", "gc"},
                          {"platform", "linux/amd64"}}
                         .dump());
    if (!authorized(req, cert_ok))
      return respond(stream, req, status_reply(401, "Unauthorized", "Unauthorized"));
    if (auto code = take_fail_rule(target)) {
      {
        std::lock_guard lock(state.mu);
        ++state.stats.errors_injected;
      }
      const char* reason = *code == 403   ? "Forbidden"
                           : *code == 401 ? "Unauthorized"
                           : *code == 429 ? "TooManyRequests"
                                          : "InternalError";
      return respond(stream, req, status_reply(*code, reason, "fake-apiserver: injected failure"));
    }
    if (seg.size() == 2 && seg[0] == "fake") return control(stream, req, seg[1]);
    if (req.method() == http::verb::get) {
      if (std::string d = discovery(seg); !d.empty()) return respond(stream, req, 200, d);
      if (seg.size() >= 2 && seg[0] == "openapi" && seg[1] == "v3") {
        if (std::string d = openapi(seg); !d.empty()) return respond(stream, req, 200, d);
      }
    }
    if (const Listed* l = listed_only_target(seg)) {
      return respond(stream, req,
                     status_reply(404, "NotFound",
                                  "fake-apiserver lists " + l->plural +
                                      (l->group.empty() ? "" : "." + l->group) +
                                      " in discovery only (so kubectl can map agent/deploy/ "
                                      "offline, e.g. create --dry-run=client); it stores none"));
    }
    const auto t = parse_target(seg);
    if (!t || !state.served(t->kind))
      return respond(
          stream, req,
          status_reply(404, "NotFound", "the server could not find the requested resource"));

    // Random faults, on resource requests only (discovery stays healthy).
    bool fail = false, hang = false;
    std::chrono::milliseconds hang_for{0};
    {
      std::lock_guard lock(state.mu);
      std::uniform_real_distribution<double> dice(0.0, 1.0);
      if (state.faults.error_rate > 0 && dice(state.rng) < state.faults.error_rate) fail = true;
      if (state.faults.hang_rate > 0 && dice(state.rng) < state.faults.hang_rate) hang = true;
      hang_for = state.faults.hang_for;
      if (fail) ++state.stats.errors_injected;
      if (hang) ++state.stats.hangs;
    }
    if (hang) {
      std::unique_lock lock(state.mu);
      state.cv.wait_for(lock, hang_for, [this] { return state.stopping; });
      if (state.stopping) return false;
    }
    if (fail)
      return respond(stream, req,
                     status_reply(500, "InternalError", "fake-apiserver: injected fault"));
    return resource(stream, req, *t, query);
  }

  template <typename Stream>
  bool resource(Stream& stream, Request& req, const Target& t,
                const std::map<std::string, std::string>& query) {
    const auto& in = info(t.kind);
    auto q = [&](const char* k) {
      auto it = query.find(k);
      return it == query.end() ? std::string() : it->second;
    };
    const auto method = req.method();
    // Protobuf create and update bodies of Namespaces and Pods, and the
    // DeleteOptions of a delete (what typed clients such as `kubectl create
    // namespace` and `kubectl debug --copy-to [--replace]` send), are decoded
    // into the JSON a JSON client would send, then take the same path. Every
    // other protobuf body (NetworkPolicies: kubectl never sends one), and
    // CBOR, is answered 415.
    std::optional<json> decoded;
    {
      const std::string ct(req[http::field::content_type]);
      const bool has_body = !req.body().empty();
      const bool object_write = (method == http::verb::post && t.name.empty()) ||
                                (method == http::verb::put && !t.name.empty()) ||
                                (method == http::verb::delete_ && !t.name.empty());
      // An empty create or update body is malformed protobuf; a delete may have none.
      if (is_protobuf_media_type(ct) && object_write &&
          (t.kind == Kind::Namespace || t.kind == Kind::Pod) &&
          (has_body || method != http::verb::delete_)) {
        ProtobufObject pb = decode_protobuf_object(req.body());
        if (!pb.ok())
          return respond(
              stream, req,
              status_reply(pb.code, pb.code == 415 ? "UnsupportedMediaType" : "BadRequest",
                           pb.error));
        const bool want_options = method == http::verb::delete_;
        if ((pb.object.value("kind", "") == "DeleteOptions") != want_options)
          return respond(
              stream, req,
              status_reply(400, "BadRequest",
                           "protobuf body: a " + pb.object.value("kind", "") +
                               " is not a valid body for " + std::string(req.method_string())));
        decoded = std::move(pb.object);
      } else if (has_body && (ct.find("protobuf") != std::string::npos ||
                              ct.find("cbor") != std::string::npos)) {
        return respond(
            stream, req,
            status_reply(415, "UnsupportedMediaType",
                         "the body of the request was in an unknown format - accepted media "
                         "types include: application/json, application/merge-patch+json, "
                         "application/json-patch+json (fake-apiserver decodes " +
                             std::string(kProtobufMediaType) +
                             " only for create, update and delete of Namespaces and Pods)"));
      }
    }
    auto parse_body = [&](json& out) -> bool {
      if (decoded) {
        out = std::move(*decoded);
        decoded.reset();
        return true;
      }
      try {
        out = req.body().empty() ? json::object() : json::parse(req.body());
        return true;
      } catch (const json::exception& e) {
        return false;
      }
    };
    if (t.name.empty()) {
      if (method == http::verb::get || method == http::verb::delete_) {
        std::string err;
        auto labels = parse_label_selector(q("labelSelector"), &err);
        if (!labels)
          return respond(stream, req,
                         status_reply(400, "BadRequest", "unable to parse labelSelector: " + err));
        auto fields = parse_field_selector(t.kind, q("fieldSelector"), &err);
        if (!fields) return respond(stream, req, status_reply(400, "BadRequest", err));
        if (method == http::verb::delete_) {
          for (const auto& o : state.objects(t.kind, t.ns))
            if (labels->matches(o->labels) && fields->matches_fields(*o))
              state.remove(t.kind, o->ns, o->name, json());
          return respond(stream, req, 200,
                         json{{"kind", "Status"},
                              {"apiVersion", "v1"},
                              {"metadata", json::object()},
                              {"status", "Success"}}
                             .dump());
        }
        const std::string w = q("watch");
        if (w == "1" || w == "true") return watch(stream, req, t, *labels, *fields, query);
        ListRequest lr{t.kind, t.ns, *labels, *fields, 0, q("continue")};
        if (!q("limit").empty()) {
          try {
            lr.limit = std::stoll(q("limit"));
          } catch (const std::exception&) {
            return respond(stream, req, status_reply(400, "BadRequest", "limit: not a number"));
          }
        }
        std::string body;
        const Shape shape = shape_of(req, query, t.kind, opts.protobuf);
        ListPageInfo page;
        Reply r = state.list(lr, &body, shape.table || shape.protobuf ? &page : nullptr);
        if (!r.ok()) return respond(stream, req, r);
        if (shape.protobuf) {
          std::vector<std::string> items;
          items.reserve(page.items.size());
          for (const auto& o : page.items) items.push_back(protobuf_object(*o));
          const auto& in = info(t.kind);
          return respond(stream, req, 200,
                         encode_protobuf_list(in.group_version, in.kind_name, items,
                                              page.resource_version, page.continue_token),
                         kProtobufContentType);
        }
        if (shape.table)
          body = table_json(t.kind, page.items, page.resource_version, page.continue_token,
                            shape.full_object);
        return respond(stream, req, 200, std::move(body));
      }
      if (method == http::verb::post) {
        json obj;
        if (!parse_body(obj))
          return respond(stream, req,
                         status_reply(400, "BadRequest", "the request body is not valid JSON"));
        if (q("dryRun") == "All") {
          // Server-side dry run: the answer create would give, not kept.
          return respond(
              stream, req,
              status_reply(400, "BadRequest", "fake-apiserver: dryRun is not supported"));
        }
        return respond(stream, req, state.create(t.kind, t.ns, std::move(obj)));
      }
      return respond(
          stream, req,
          status_reply(405, "MethodNotAllowed",
                       "the server does not allow this method on the requested resource"));
    }
    const bool status_only = t.subresource == "status";
    switch (method) {
      case http::verb::get: {
        Reply r = state.get(t.kind, t.ns, t.name);
        const Shape shape = shape_of(req, query, t.kind, false);
        if (!r.ok() || !shape.table) return respond(stream, req, r);
        // `kubectl get KIND NAME` asks for a one-row Table.
        std::vector<ObjPtr> one;
        for (const auto& o : state.objects(t.kind, t.ns))
          if (o->name == t.name) one.push_back(o);
        return respond(stream, req, 200,
                       table_json(t.kind, one, std::to_string(state.rv()), "", shape.full_object));
      }
      case http::verb::put: {
        json obj;
        if (!parse_body(obj))
          return respond(stream, req,
                         status_reply(400, "BadRequest", "the request body is not valid JSON"));
        return respond(stream, req,
                       state.update(t.kind, t.ns, t.name, std::move(obj), status_only));
      }
      case http::verb::patch: {
        const std::string ct(req[http::field::content_type]);
        std::string type;
        if (ct.rfind("application/merge-patch+json", 0) == 0) {
          type = "merge";
        } else if (ct.rfind("application/json-patch+json", 0) == 0) {
          type = "json";
        } else if (ct.rfind("application/strategic-merge-patch+json", 0) == 0) {
          type = "strategic";
        } else {
          return respond(
              stream, req,
              status_reply(
                  415, "UnsupportedMediaType",
                  "the body of the request was in an unknown format - accepted media types "
                  "include: application/json-patch+json, application/merge-patch+json, "
                  "application/strategic-merge-patch+json"));
        }
        json patch;
        if (!parse_body(patch))
          return respond(stream, req,
                         status_reply(400, "BadRequest", "the patch is not valid JSON"));
        return respond(stream, req, state.patch(t.kind, t.ns, t.name, patch, type, status_only));
      }
      case http::verb::delete_: {
        json opts;
        if (!parse_body(opts)) opts = json::object();
        return respond(stream, req, state.remove(t.kind, t.ns, t.name, opts));
      }
      default:
        break;
    }
    (void)in;
    return respond(stream, req,
                   status_reply(405, "MethodNotAllowed",
                                "the server does not allow this method on the requested resource"));
  }

  // Writes `data` as HTTP chunks of at most kWatchChunkBytes, the way
  // kube-apiserver's net/http does: its response writer buffers 2 KiB before
  // chunking and each watch event is one write, so a chunk is about one event
  // or 2 KiB, never the whole initial stream. (Writing 100k initial events as
  // one 44 MB chunk made cpprest's client reserve a 44 MB read buffer for the
  // life of the watch connection: memory a real server would not cost.)
  static constexpr size_t kWatchChunkBytes = 8 * 1024;
  template <typename Stream>
  bool write_chunk(Stream& stream, const std::string& data) {
    {
      std::lock_guard lock(state.mu);
      state.stats.body_bytes_sent += data.size();
    }
    beast::error_code ec;
    std::string wire;  // several chunks per write: one syscall per ~1 MB
    char head[24];
    for (size_t at = 0; at < data.size() && !ec;) {
      const size_t n = std::min(kWatchChunkBytes, data.size() - at);
      const int h = std::snprintf(head, sizeof head, "%zx\r\n", n);
      wire.append(head, static_cast<size_t>(h)).append(data, at, n).append("\r\n");
      at += n;
      if (wire.size() >= (1u << 20) || at == data.size()) {
        net::write(stream, net::buffer(wire), ec);
        wire.clear();
      }
    }
    return !ec;
  }

  template <typename Stream>
  bool watch(Stream& stream, Request& req, const Target& t, const Selector& labels,
             const Selector& fields, const std::map<std::string, std::string>& query) {
    auto q = [&](const char* k) {
      auto it = query.find(k);
      return it == query.end() ? std::string() : it->second;
    };
    const auto& in = info(t.kind);
    const Shape shape = shape_of(req, query, t.kind, opts.protobuf);
    // An ERROR event (a metav1.Status) in the stream's encoding.
    auto error_event = [&](const Reply& st) {
      if (shape.protobuf)
        return encode_protobuf_watch_event("ERROR", "v1", "Status",
                                           encode_protobuf_status(st.body));
      return "{\"type\":\"ERROR\",\"object\":" + st.body.dump() + "}\n";
    };
    const std::string rv_param = q("resourceVersion");
    uint64_t from = 0;
    if (!rv_param.empty() && rv_param != "0") {
      try {
        size_t used = 0;
        from = std::stoull(rv_param, &used);
        if (used != rv_param.size()) throw std::invalid_argument("rv");
      } catch (const std::exception&) {
        return respond(stream, req,
                       status_reply(400, "BadRequest",
                                    "resourceVersion: Invalid value: \"" + rv_param + "\""));
      }
    }
    int64_t timeout_s = 1800;
    if (!q("timeoutSeconds").empty()) {
      try {
        timeout_s = std::stoll(q("timeoutSeconds"));
      } catch (const std::exception&) {
        return respond(stream, req,
                       status_reply(400, "BadRequest", "timeoutSeconds: not a number"));
      }
    }
    // Watch-list parameters, validated as kube-apiserver does (422 Invalid).
    const std::string rv_match = q("resourceVersionMatch");
    const bool initial_events = opts.watch_list && q("sendInitialEvents") == "true";
    auto invalid = [&](const std::string& field, const std::string& why) {
      return respond(stream, req,
                     status_reply(422, "Invalid",
                                  "ListOptions.meta.k8s.io \"\" is invalid: " + field +
                                      ": Forbidden: " + why));
    };
    if (!opts.watch_list && !rv_match.empty())
      return invalid("resourceVersionMatch", "resourceVersionMatch is forbidden for watch");
    if (initial_events && rv_match != "NotOlderThan")
      return invalid("resourceVersionMatch",
                     "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan");
    if (initial_events && q("allowWatchBookmarks") != "true")
      return invalid("allowWatchBookmarks",
                     "sendInitialEvents requires setting allowWatchBookmarks to true");
    if (!rv_match.empty() && q("sendInitialEvents").empty())
      return invalid("resourceVersionMatch",
                     "resourceVersionMatch is forbidden for watch unless sendInitialEvents is "
                     "provided");
    if (!rv_match.empty() && rv_match != "NotOlderThan")
      return invalid("resourceVersionMatch",
                     "resourceVersionMatch " + rv_match + " is not supported for watch");
    const bool bookmarks = q("allowWatchBookmarks") == "true" && opts.bookmark_interval.count() > 0;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
    auto next_bookmark = std::chrono::steady_clock::now() + opts.bookmark_interval;

    auto matches = [&](const Obj& o) {
      if (o.kind != t.kind) return false;
      if (in.namespaced && !t.ns.empty() && o.ns != t.ns) return false;
      return labels.matches(o.labels) && fields.matches_fields(o);
    };
    const std::string gone_msg = "too old resource version: " + rv_param;
    // A BOOKMARK at `at` in the stream's encoding; `initial_end` marks the end
    // of a watch-list's initial events (the k8s.io/initial-events-end annotation).
    auto bookmark_event = [&](uint64_t at, bool initial_end) {
      json meta{{"metadata", {{"resourceVersion", std::to_string(at)}}}};
      if (initial_end) meta["metadata"]["annotations"] = {{"k8s.io/initial-events-end", "true"}};
      if (shape.protobuf)
        return encode_protobuf_watch_event("BOOKMARK", in.group_version, in.kind_name,
                                           encode_protobuf_object(meta, in.kind_name));
      meta["kind"] = in.kind_name;
      meta["apiVersion"] = in.group_version;
      return "{\"type\":\"BOOKMARK\",\"object\":" + meta.dump() + "}\n";
    };

    std::string out;
    uint64_t pos = 0;
    uint64_t drop_gen = 0;
    uint64_t drop_after = 0;
    uint64_t sent = 0;
    bool cut_initial = false;  // drop_watch_after fell inside the initial events
    {
      std::unique_lock lock(state.mu);
      if (initial_events) {
        // NotOlderThan: the current state is at least as new as any
        // resourceVersion asked for, compacted or not. Then the end bookmark.
        drop_after = state.faults.drop_watch_after;
        for (const auto& o : state.objects_locked(t.kind, t.ns)) {
          if (!matches(*o)) continue;
          if (drop_after && sent >= drop_after) {
            cut_initial = true;
            break;
          }
          append_event(out, "ADDED", o, shape);
          ++sent;
        }
        pos = state.rv_locked();
        state.stats.events_sent += sent;
        if (!cut_initial) out += bookmark_event(pos, true);
        ++state.stats.watch_lists;
      } else if (from > 0 && from < state.compacted_locked()) {
        ++state.stats.gone;
        const std::string msg = gone_msg + " (" + std::to_string(state.compacted_locked()) + ")";
        lock.unlock();
        Reply gone = status_reply(410, "Expired", msg);
        if (opts.gone_as_http_status) return respond(stream, req, gone);
        out = error_event(gone);
        from = UINT64_MAX;  // marks "send this and end"
      } else if (from == 0) {
        // "" and "0": the current state as synthetic ADDED events first.
        for (const auto& o : state.objects_locked(t.kind, t.ns))
          if (matches(*o)) append_event(out, "ADDED", o, shape);
        pos = state.rv_locked();
      } else {
        pos = from;
      }
      ++state.stats.watches;
      drop_gen = state.drop_generation;
      drop_after = state.faults.drop_watch_after;
    }

    http::response<http::empty_body> res{http::status::ok, req.version()};
    res.set(http::field::server, "fake-apiserver");
    res.set(http::field::content_type,
            shape.protobuf ? kProtobufWatchContentType : "application/json");
    res.chunked(true);
    res.keep_alive(req.keep_alive());
    http::response_serializer<http::empty_body> sr{res};
    beast::error_code ec;
    http::write_header(stream, sr, ec);
    if (ec) return false;
    if (from == UINT64_MAX) {
      write_chunk(stream, out);
      net::write(stream, http::make_chunk_last(), ec);
      return !ec;
    }
    if (cut_initial) {
      write_chunk(stream, out);
      std::lock_guard lock(state.mu);
      ++state.stats.watches_dropped;
      return false;  // no final chunk: the client sees a broken stream
    }

    std::vector<Event> batch;
    for (;;) {
      // `out` holds events (and maybe a bookmark) to write; cut it at the drop limit.
      bool cut = false;
      if (!out.empty()) {
        if (!write_chunk(stream, out)) return false;
        out.clear();
      }
      {
        std::unique_lock lock(state.mu);
        state.cv.wait_until(lock, bookmarks ? std::min(deadline, next_bookmark) : deadline, [&] {
          return state.stopping || state.drop_generation != drop_gen || state.rv_locked() > pos;
        });
        if (state.stopping || state.drop_generation != drop_gen) {
          ++state.stats.watches_dropped;
          return false;
        }
        if (pos < state.compacted_locked()) {
          // Compacted under a watch that had fallen behind: what etcd does too.
          ++state.stats.gone;
          Reply gone = status_reply(410, "Expired",
                                    "too old resource version: " + std::to_string(pos) + " (" +
                                        std::to_string(state.compacted_locked()) + ")");
          lock.unlock();
          write_chunk(stream, error_event(gone));
          net::write(stream, http::make_chunk_last(), ec);
          return !ec;
        }
        batch.clear();
        state.events_after_locked(pos, batch);
        if (batch.empty()) pos = std::max(pos, state.rv_locked());
      }
      // Format outside the lock, so writers are not held up by watchers.
      uint64_t formatted = 0;
      for (const Event& e : batch) {
        pos = e.rv;
        const bool now_in = matches(*e.obj);
        const bool was_in = e.old && matches(*e.old);
        const char* type = nullptr;
        switch (e.type) {
          case EvType::Added:
            type = now_in ? "ADDED" : nullptr;
            break;
          case EvType::Deleted:
            type = now_in ? "DELETED" : nullptr;
            break;
          case EvType::Modified:
            type = now_in && was_in ? "MODIFIED" : now_in ? "ADDED" : was_in ? "DELETED" : nullptr;
            break;
        }
        if (!type) continue;
        append_event(out, type, e.obj, shape);
        ++sent;
        ++formatted;
        if (drop_after && sent >= drop_after) {
          cut = true;
          break;
        }
        // Keep chunks to a few MB when replaying a long history.
        if (out.size() > (4u << 20)) {
          if (!write_chunk(stream, out)) return false;
          out.clear();
        }
      }
      batch.clear();
      if (formatted) {
        std::lock_guard lock(state.mu);
        state.stats.events_sent += formatted;
      }
      if (cut) {
        write_chunk(stream, out);
        std::lock_guard lock(state.mu);
        ++state.stats.watches_dropped;
        return false;  // no final chunk: the client sees a broken stream
      }
      const auto now = std::chrono::steady_clock::now();
      if (bookmarks && now >= next_bookmark) {
        out += bookmark_event(pos, false);
        next_bookmark = now + opts.bookmark_interval;
      }
      if (now >= deadline) {
        if (!out.empty() && !write_chunk(stream, out)) return false;
        net::write(stream, http::make_chunk_last(), ec);
        return !ec;
      }
    }
  }

  ServerStats stats() {
    std::lock_guard lock(state.mu);
    return state.stats;
  }
  void set_faults(const Faults& f) {
    std::lock_guard lock(state.mu);
    state.faults = f;
  }
  Faults get_faults() {
    std::lock_guard lock(state.mu);
    return state.faults;
  }
  void drop_watches() {
    std::lock_guard lock(state.mu);
    ++state.drop_generation;
    state.cv.notify_all();
  }

  void stop() {
    if (stopped.exchange(true)) return;
    {
      std::lock_guard lock(state.mu);
      state.stopping = true;
      state.cv.notify_all();
    }
    // Wake the blocking accept and every blocking read/write.
    ::shutdown(acceptor.native_handle(), SHUT_RDWR);
    if (accept_thread.joinable()) accept_thread.join();
    {
      std::lock_guard lock(conns_mu);
      for (auto& c : conns)
        if (!c.done) ::shutdown(c.fd, SHUT_RDWR);
    }
    std::list<Conn> all;
    {
      std::lock_guard lock(conns_mu);
      all.splice(all.end(), conns);
    }
    for (auto& c : all) c.thread.join();
    beast::error_code ec;
    acceptor.close(ec);
  }
};

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Server::~Server() {
  stop();
}

std::unique_ptr<Server> Server::start(Options options, std::string* error) {
  auto impl = std::make_unique<Impl>(std::move(options));
  try {
    const std::string& listen = impl->opts.listen;
    const size_t colon = listen.rfind(':');
    if (colon == std::string::npos)
      throw std::runtime_error("--listen wants ADDR:PORT, got \"" + listen + "\"");
    std::string host = listen.substr(0, colon);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    const auto port = static_cast<uint16_t>(std::stoi(listen.substr(colon + 1)));
    const auto addr = net::ip::make_address(host);
    if (!impl->opts.tls_cert_file.empty()) {
      impl->tls = std::make_unique<ssl::context>(ssl::context::tls_server);
      impl->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                             ssl::context::no_sslv3);
      impl->tls->use_certificate_chain_file(impl->opts.tls_cert_file);
      impl->tls->use_private_key_file(
          impl->opts.tls_key_file.empty() ? impl->opts.tls_cert_file : impl->opts.tls_key_file,
          ssl::context::pem);
      if (!impl->opts.client_ca_file.empty()) {
        impl->tls->load_verify_file(impl->opts.client_ca_file);
        // Ask for a certificate, accept clients without one (they may use a token).
        impl->tls->set_verify_mode(ssl::verify_peer);
        impl->tls->set_verify_callback([](bool, ssl::verify_context&) { return true; });
      }
    }
    tcp::endpoint ep(addr, port);
    impl->acceptor.open(ep.protocol());
    impl->acceptor.set_option(net::socket_base::reuse_address(true));
    impl->acceptor.bind(ep);
    impl->acceptor.listen(net::socket_base::max_listen_connections);
    impl->port = impl->acceptor.local_endpoint().port();
    impl->host = addr.is_v6() ? "[" + host + "]" : host;
  } catch (const std::exception& e) {
    if (error) *error = e.what();
    return nullptr;
  }
  Impl* raw = impl.get();
  raw->accept_thread = std::thread([raw] { raw->accept_loop(); });
  return std::unique_ptr<Server>(new Server(std::move(impl)));
}

uint16_t Server::port() const {
  return impl_->port;
}
std::string Server::url() const {
  return std::string(impl_->tls ? "https://" : "http://") + impl_->host + ":" +
         std::to_string(impl_->port);
}
void Server::stop() {
  impl_->stop();
}

Reply Server::create(Kind k, const std::string& ns, json obj) {
  return impl_->state.create(k, ns, std::move(obj));
}
Reply Server::update(Kind k, const std::string& ns, const std::string& name, json obj) {
  return impl_->state.update(k, ns, name, std::move(obj), false);
}
Reply Server::update_status(Kind k, const std::string& ns, const std::string& name, json status) {
  return impl_->state.update(k, ns, name, json{{"status", std::move(status)}}, true);
}
Reply Server::merge_patch(Kind k, const std::string& ns, const std::string& name,
                          const json& patch) {
  return impl_->state.patch(k, ns, name, patch, "merge", false);
}
Reply Server::remove(Kind k, const std::string& ns, const std::string& name) {
  return impl_->state.remove(k, ns, name, json());
}
Reply Server::get(Kind k, const std::string& ns, const std::string& name) {
  return impl_->state.get(k, ns, name);
}
std::vector<json> Server::objects(Kind k, const std::string& ns) const {
  std::vector<json> out;
  for (const auto& o : impl_->state.objects(k, ns)) out.push_back(o->to_json());
  return out;
}
uint64_t Server::resource_version() const {
  return impl_->state.rv();
}
void Server::set_faults(const Faults& f) {
  impl_->set_faults(f);
}
Faults Server::faults() const {
  return impl_->get_faults();
}
void Server::compact() {
  impl_->state.compact();
}
void Server::drop_watches() {
  impl_->drop_watches();
}
size_t Server::warm_protobuf_encodings() {
  std::vector<ObjPtr> all;
  {
    std::lock_guard lock(impl_->state.mu);
    for (int i = 0; i < kKindCount; ++i) {
      if (!protobuf_kind(static_cast<Kind>(i))) continue;
      auto v = impl_->state.objects_locked(static_cast<Kind>(i), "");
      all.insert(all.end(), v.begin(), v.end());
    }
  }
  for (const ObjPtr& o : all) (void)protobuf_object(*o);  // outside the lock: writers go on
  return all.size();
}
void Server::set_tokens(std::vector<std::string> tokens) {
  std::lock_guard lock(impl_->auth_mu);
  impl_->tokens = std::move(tokens);
}
void Server::fail_next(int code, int count, const std::string& path_part) {
  std::lock_guard lock(impl_->auth_mu);
  impl_->fail_rules.push_back({code, count, path_part});
}
void Server::clear_fail_next() {
  std::lock_guard lock(impl_->auth_mu);
  impl_->fail_rules.clear();
}
ServerStats Server::stats() const {
  return impl_->stats();
}

}  // namespace netpol::fakeapi
