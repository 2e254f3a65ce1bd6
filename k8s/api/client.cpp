// cpprestsdk behind ApiClient. Every cpprestsdk/Boost exception is caught in
// this file and becomes a Status naming the method and URL.
#include "k8s/api/client.h"

#include <cpprest/http_client.h>
#include <cpprest/producerconsumerstream.h>

#include <boost/asio/ssl.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "k8s/api/json_scan.h"
#include "k8s/decode.h"
#include "k8s/protowire.h"

namespace netpol::k8s::api {

namespace http = web::http;
namespace client = web::http::client;

std::string ResourceRef::collection_path(const std::string& ns) const {
  std::string p = api_prefix;
  if (namespaced && !ns.empty()) p += "/namespaces/" + ns;
  p += "/";
  p += plural;
  return p;
}

const char* to_string(EventType t) {
  switch (t) {
    case EventType::Added:
      return "ADDED";
    case EventType::Modified:
      return "MODIFIED";
    case EventType::Deleted:
      return "DELETED";
    case EventType::Bookmark:
      return "BOOKMARK";
  }
  return "?";
}

void Canceller::cancel() {
  std::vector<std::pair<uint64_t, std::function<void()>>> fns;
  {
    MutexLock lock(mu_);
    if (cancelled_.exchange(true)) return;
    fns.swap(callbacks_);
  }
  for (auto& [id, fn] : fns) fn();
}

uint64_t Canceller::on_cancel(std::function<void()> fn) {
  {
    MutexLock lock(mu_);
    if (!cancelled_.load()) {
      const uint64_t id = next_id_++;
      callbacks_.emplace_back(id, std::move(fn));
      return id;
    }
  }
  fn();
  return 0;
}

void Canceller::remove(uint64_t id) {
  MutexLock lock(mu_);
  std::erase_if(callbacks_, [id](const auto& p) { return p.first == id; });
}

std::string query_string(const std::vector<std::pair<std::string, std::string>>& params) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (const auto& [k, v] : params) {
    if (!out.empty()) out += '&';
    out += k;
    out += '=';
    for (unsigned char c : v) {
      if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
        out += static_cast<char>(c);
      } else {
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
      }
    }
  }
  return out;
}

namespace {

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// PEM material, read once when the client is made.
struct Tls {
  std::string ca, cert, key;
  bool insecure = false;
};

// Applied to every new TLS connection. Throws boost::system::system_error on
// bad material; make_http_client runs it once up front so it cannot throw later.
void configure_tls(boost::asio::ssl::context& ctx, const Tls& tls) {
  if (!tls.ca.empty()) {
    // Trust only the cluster's CA, not the system store cpprestsdk loaded.
    SSL_CTX_set_cert_store(ctx.native_handle(), X509_STORE_new());
    ctx.add_certificate_authority(boost::asio::buffer(tls.ca));
  }
  if (!tls.cert.empty()) {
    ctx.use_certificate_chain(boost::asio::buffer(tls.cert));
    ctx.use_private_key(boost::asio::buffer(tls.key), boost::asio::ssl::context::pem);
  }
}

Code code_for_http(int status) {
  switch (status) {
    case 400:
    case 422:
      return Code::InvalidArgument;
    case 401:
      return Code::Unauthorized;
    case 403:
      return Code::Forbidden;
    case 404:
      return Code::NotFound;
    case 409:
      return Code::Conflict;
    case 410:
      return Code::Gone;
    case 504:
      return Code::Timeout;
    default:
      break;
  }
  if (status == 429 || status >= 500) return Code::Unavailable;
  return Code::Malformed;
}

// "410 Expired: too old resource version" from a metav1.Status body (or the raw text).
std::string describe_status_body(int code, const std::string& body) {
  std::string out = std::to_string(code);
  try {
    const auto j = nlohmann::json::parse(body);
    if (j.is_object()) {
      if (auto r = j.find("reason"); r != j.end() && r->is_string())
        out += " " + r->get<std::string>();
      if (auto m = j.find("message"); m != j.end() && m->is_string())
        out += ": " + m->get<std::string>();
      return out;
    }
  } catch (const std::exception&) {
    // Not a Status object: fall through to the raw text.
  }
  if (!body.empty()) out += ": " + body.substr(0, 200);
  return out;
}

std::string auth_hint(int status) {
  if (status == 401)
    return " (the API server rejected our credentials: check the token, token file or "
           "client certificate)";
  if (status == 403)
    return " (authenticated but not allowed: RBAC must grant list and watch on this resource)";
  return "";
}

// Ensures list items carry kind/apiVersion, which the API server leaves out
// of items but the decoder needs.
std::string with_kind(std::string_view item, const ResourceRef& res) {
  if (json::member(item, "kind")) return std::string(item);
  const size_t brace = item.find('{');
  if (brace == std::string_view::npos) return std::string(item);
  std::string out;
  out.reserve(item.size() + 64);
  out += "{\"kind\":\"";
  out += res.kind;
  out += "\",\"apiVersion\":\"";
  out += res.api_version;
  out += '"';
  const size_t next = json::skip_ws(item, brace + 1);
  if (next < item.size() && item[next] != '}') out += ',';
  out.append(item.substr(brace + 1));
  return out;
}

std::string resource_version_of(std::string_view object) {
  const auto meta = json::member(object, "metadata");
  if (!meta) return "";
  const auto rv = json::member(*meta, "resourceVersion");
  if (!rv) return "";
  const auto s = json::plain_string(*rv);
  return s ? std::string(*s) : "";
}

// A bookmark's metadata.annotations["k8s.io/initial-events-end"] is "true".
bool initial_events_end(std::string_view object) {
  const auto meta = json::member(object, "metadata");
  if (!meta) return false;
  const auto ann = json::member(*meta, "annotations");
  if (!ann) return false;
  const auto v = json::member(*ann, "k8s.io/initial-events-end");
  if (!v) return false;
  const auto s = json::plain_string(*v);
  return s && *s == "true";
}

// Keeps a Canceller hooked to one request's cancellation source for as long
// as the request (and its body) is in use.
class CancelLink {
 public:
  CancelLink(Canceller* c, const pplx::cancellation_token_source& cts) : c_(c) {
    if (c_) id_ = c_->on_cancel([cts] { cts.cancel(); });
  }
  ~CancelLink() {
    if (c_ && id_) c_->remove(id_);
  }
  CancelLink(const CancelLink&) = delete;
  CancelLink& operator=(const CancelLink&) = delete;

 private:
  Canceller* c_;
  uint64_t id_ = 0;
};

class HttpClient final : public ApiClient {
 public:
  HttpClient(std::string server, std::unique_ptr<client::http_client> http,
             std::unique_ptr<client::http_client> watch_http, std::string token,
             std::string token_file, std::string user_agent, bool protobuf)
      : server_(std::move(server)),
        user_agent_(std::move(user_agent)),
        protobuf_(protobuf),
        http_(std::move(http)),
        watch_http_(std::move(watch_http)),
        token_(std::move(token), std::move(token_file)) {}

  ~HttpClient() override = default;

  std::string server() const override { return server_; }

  Result<ListPage> list(const ResourceRef& res, const ListOptions& opts,
                        Canceller* cancel) override {
    std::vector<std::pair<std::string, std::string>> q;
    if (opts.limit > 0) q.emplace_back("limit", std::to_string(opts.limit));
    if (!opts.continue_token.empty()) q.emplace_back("continue", opts.continue_token);
    if (!opts.label_selector.empty()) q.emplace_back("labelSelector", opts.label_selector);
    if (!opts.field_selector.empty()) q.emplace_back("fieldSelector", opts.field_selector);
    if (!opts.resource_version.empty()) q.emplace_back("resourceVersion", opts.resource_version);
    std::string path = res.collection_path(opts.ns);
    if (!q.empty()) path += "?" + query_string(q);
    auto body = get_body(path, cancel, accept(res));
    if (!body.ok()) return body.status();
    if (protowire::is_media_type(body.value().content_type))
      return parse_protobuf_list(body.value().body, res, path);
    return parse_list(body.value().body, res, path);
  }

  Result<std::string> get(const std::string& path, Canceller* cancel) override {
    auto body = get_body(path, cancel, kAcceptJson);
    if (!body.ok()) return body.status();
    return std::move(body.value().body);
  }

  Status watch(const ResourceRef& res, const WatchOptions& opts,
               const std::function<bool(WatchEvent&&)>& on_event, Canceller* cancel) override {
    std::vector<std::pair<std::string, std::string>> q{{"watch", "1"}};
    if (!opts.resource_version.empty()) q.emplace_back("resourceVersion", opts.resource_version);
    if (opts.allow_bookmarks) q.emplace_back("allowWatchBookmarks", "true");
    if (opts.send_initial_events) {
      q.emplace_back("sendInitialEvents", "true");
      q.emplace_back("resourceVersionMatch", "NotOlderThan");
    }
    if (opts.timeout_seconds > 0)
      q.emplace_back("timeoutSeconds", std::to_string(opts.timeout_seconds));
    if (!opts.label_selector.empty()) q.emplace_back("labelSelector", opts.label_selector);
    if (!opts.field_selector.empty()) q.emplace_back("fieldSelector", opts.field_selector);
    const std::string path = res.collection_path(opts.ns) + "?" + query_string(q);
    const std::string what = "WATCH " + server_ + path;

    pplx::cancellation_token_source cts;
    CancelLink link(cancel, cts);
    auto resp = send(*watch_http_, http::methods::GET, path, cts, cancel, what, accept(res));
    if (!resp.ok()) return resp.status();
    http::http_response& r = resp.value();
    if (r.status_code() != http::status_codes::OK) return error_status(r, what);
    if (protowire::is_media_type(r.headers().content_type()))
      return watch_protobuf(r, res, what, on_event, cts, cancel);

    json::Framer framer;
    std::vector<uint8_t> buf(64 * 1024);
    try {
      auto sb = r.body().streambuf();
      for (;;) {
        const size_t n = read_some(sb, buf);
        if (n == 0) break;  // end of body
        framer.feed(std::string_view(reinterpret_cast<const char*>(buf.data()), n));
        while (auto text = framer.next()) {
          WatchEvent ev;
          if (Status st = parse_event(*text, res, what, ev); !st.ok()) {
            cts.cancel();
            return st;
          }
          if (!on_event(std::move(ev))) {
            cts.cancel();  // we stop reading: close the connection rather than drain it
            return Status::Ok();
          }
        }
        if (framer.error()) {
          cts.cancel();
          return Status(Code::Malformed, what + ": the stream is not a sequence of JSON objects");
        }
      }
    } catch (const std::exception& e) {
      Status st = transport_error(e, what, cancel);
      // Nothing at all, not even a bookmark, for watch_idle_timeout: end this
      // watch as the server would at timeoutSeconds; the caller starts anew.
      if (st.code() == Code::Timeout && !framer.partial()) return Status::Ok();
      return st;
    }
    if (framer.partial())
      return Status(Code::Unavailable, what + ": the stream ended inside an event");
    return Status::Ok();
  }

 private:
  // Waits for at least one byte of a watch body, then takes whatever else is
  // already there, so events are handled as soon as their chunk arrives.
  // 0: the body ended.
  template <typename StreamBuf>
  static size_t read_some(StreamBuf& sb, std::vector<uint8_t>& buf) {
    size_t n = sb.getn(buf.data(), 1).get();
    if (n == 0) return 0;
    const size_t avail = sb.in_avail();
    if (avail > 0) n += sb.getn(buf.data() + 1, std::min(avail, buf.size() - 1)).get();
    return n;
  }

  static constexpr const char* kAcceptJson = "application/json";
  static constexpr const char* kAcceptProtobuf =
      "application/vnd.kubernetes.protobuf, application/json";

  // What to ask for: protobuf (JSON as the fallback) for the built-in types.
  const char* accept(const ResourceRef& res) const {
    return protobuf_ && res.protobuf ? kAcceptProtobuf : kAcceptJson;
  }

  Result<http::http_response> send(client::http_client& via, const http::method& method,
                                   const std::string& path,
                                   const pplx::cancellation_token_source& cts, Canceller* cancel,
                                   const std::string& what, const char* accept_type = kAcceptJson) {
    if (cancel && cancel->cancelled()) return Status(Code::Cancelled, what + ": cancelled");
    for (int attempt = 0;; ++attempt) {
      auto token = token_.current();
      if (!token.ok()) return Status(token.status().code(), what + ": " + token.status().message());
      http::http_request req(method);
      try {
        req.set_request_uri(web::uri(path));
      } catch (const std::exception& e) {
        return Status(Code::InvalidArgument, what + ": bad request URI: " + e.what());
      }
      req.headers().add(http::header_names::accept, accept_type);
      req.headers().add(http::header_names::user_agent, user_agent_);
      if (!token.value().empty())
        req.headers().add(http::header_names::authorization, "Bearer " + token.value());
      try {
        http::http_response r = via.request(req, cts.get_token()).get();
        // A rotated token file: read it again and retry once.
        if (r.status_code() == http::status_codes::Unauthorized && attempt == 0 &&
            !token_.empty()) {
          token_.invalidate();
          auto again = token_.current();
          if (again.ok() && again.value() != token.value()) continue;
        }
        return r;
      } catch (const std::exception& e) {
        return transport_error(e, what, cancel);
      }
    }
  }

  struct Body {
    std::string content_type;
    std::string body;
  };

  Result<Body> get_body(const std::string& path, Canceller* cancel, const char* accept_type) {
    const std::string what = "GET " + server_ + path;
    pplx::cancellation_token_source cts;
    CancelLink link(cancel, cts);
    auto resp = send(*http_, http::methods::GET, path, cts, cancel, what, accept_type);
    if (!resp.ok()) return resp.status();
    http::http_response& r = resp.value();
    if (r.status_code() != http::status_codes::OK) return error_status(r, what);
    try {
      Body b;
      b.content_type = r.headers().content_type();
      if (protowire::is_media_type(b.content_type)) {
        // Binary: bytes as they came, no charset conversion.
        const std::vector<unsigned char> v = r.extract_vector().get();
        b.body.assign(v.begin(), v.end());
      } else {
        b.body = r.extract_utf8string(true).get();
      }
      return b;
    } catch (const std::exception& e) {
      return transport_error(e, what, cancel);
    }
  }

  // A protobuf list: "k8s\0" + runtime.Unknown{kind <Kind>List, raw: the list}.
  static Result<ListPage> parse_protobuf_list(const std::string& body, const ResourceRef& res,
                                              const std::string& path) {
    const std::string what = "GET " + path;
    protowire::Unknown env;
    std::string error;
    if (!protowire::read_envelope(body, "list", &env, &error))
      return Status(Code::Malformed, what + ": " + error);
    const std::string want = std::string(res.kind) + "List";
    if (env.kind != want)
      return Status(Code::Malformed,
                    what + ": protobuf list of kind \"" + env.kind + "\", want \"" + want + "\"");
    ListPage page;
    page.encoding = Encoding::Protobuf;
    if (!protowire::read_list(env.raw, want, &page.resource_version, &page.continue_token, &error,
                              [&](std::string_view item) { page.items.emplace_back(item); }))
      return Status(Code::Malformed, what + ": " + error);
    if (page.resource_version.empty())
      return Status(Code::Malformed, what + ": the list has no metadata.resourceVersion");
    return page;
  }

  // One protobuf watch frame (metav1.WatchEvent) into `ev`, or the ERROR it carries.
  static Status parse_protobuf_event(std::string_view frame, const ResourceRef& res,
                                     const std::string& what, WatchEvent& ev) {
    std::string type, error;
    std::string_view object;
    if (!protowire::read_watch_event(frame, &type, &object, &error))
      return Status(Code::Malformed, what + ": " + error);
    protowire::Unknown env;
    if (!protowire::read_envelope(object, "WatchEvent.object", &env, &error))
      return Status(Code::Malformed, what + ": " + error);
    if (type == "ERROR") {
      protowire::StatusObject st;
      if (!protowire::read_status(env.raw, &st, &error))
        return Status(Code::Malformed, what + ": ERROR event: " + error);
      const int code = static_cast<int>(st.code);
      const Code c = code == 410 ? Code::Gone : code ? code_for_http(code) : Code::Malformed;
      std::string msg = "HTTP " + std::to_string(code);
      if (!st.reason.empty()) msg += " " + st.reason;
      if (!st.message.empty()) msg += ": " + st.message;
      return Status(c, what + ": ERROR event: " + msg, code);
    }
    if (type == "ADDED") {
      ev.type = EventType::Added;
    } else if (type == "MODIFIED") {
      ev.type = EventType::Modified;
    } else if (type == "DELETED") {
      ev.type = EventType::Deleted;
    } else if (type == "BOOKMARK") {
      ev.type = EventType::Bookmark;
    } else {
      return Status(Code::Malformed, what + ": unknown watch event type " + type.substr(0, 64));
    }
    if (env.kind != res.kind)
      return Status(Code::Malformed, what + ": watch event object of kind \"" +
                                         env.kind.substr(0, 64) + "\", want \"" + res.kind + "\"");
    ev.encoding = Encoding::Protobuf;
    ProtobufIds ids = protobuf_object_ids(env.raw);
    ev.resource_version = std::move(ids.resource_version);
    if (ev.type == EventType::Bookmark) {
      ev.initial_events_end = ids.initial_events_end;
    } else {
      ev.object.assign(env.raw);
    }
    return Status::Ok();
  }

  // The body of a protobuf watch: frames of a 4-byte big-endian length and a WatchEvent.
  Status watch_protobuf(http::http_response& r, const ResourceRef& res, const std::string& what,
                        const std::function<bool(WatchEvent&&)>& on_event,
                        pplx::cancellation_token_source& cts, Canceller* cancel) {
    std::string pending;
    std::vector<uint8_t> buf(64 * 1024);
    try {
      auto sb = r.body().streambuf();
      for (;;) {
        const size_t n = read_some(sb, buf);
        if (n == 0) break;  // end of body
        pending.append(reinterpret_cast<const char*>(buf.data()), n);
        size_t used = 0;
        for (;;) {
          std::string_view frame;
          size_t consumed = 0;
          const auto f = protowire::next_frame(std::string_view(pending).substr(used),
                                               kMaxManifestBytes, &frame, &consumed);
          if (f == protowire::Frame::Incomplete) break;
          if (f == protowire::Frame::TooLarge) {
            cts.cancel();
            return Status(Code::Malformed, what + ": a protobuf watch frame larger than " +
                                               std::to_string(kMaxManifestBytes) + " bytes");
          }
          used += consumed;
          WatchEvent ev;
          if (Status st = parse_protobuf_event(frame, res, what, ev); !st.ok()) {
            cts.cancel();
            return st;
          }
          if (!on_event(std::move(ev))) {
            cts.cancel();
            return Status::Ok();
          }
        }
        pending.erase(0, used);
      }
    } catch (const std::exception& e) {
      Status st = transport_error(e, what, cancel);
      if (st.code() == Code::Timeout && pending.empty()) return Status::Ok();
      return st;
    }
    if (!pending.empty())
      return Status(Code::Unavailable, what + ": the stream ended inside an event");
    return Status::Ok();
  }

  Status error_status(http::http_response& r, const std::string& what) {
    std::string body;
    try {
      body = r.extract_utf8string(true).get();
    } catch (const std::exception&) {
      // The status line is enough to report.
    }
    const int code = r.status_code();
    return Status(code_for_http(code),
                  what + ": " + describe_status_body(code, body) + auth_hint(code), code);
  }

  static Status transport_error(const std::exception& e, const std::string& what,
                                Canceller* cancel) {
    if (cancel && cancel->cancelled()) return Status(Code::Cancelled, what + ": cancelled");
    if (dynamic_cast<const pplx::task_canceled*>(&e))
      return Status(Code::Cancelled, what + ": cancelled");
    if (const auto* he = dynamic_cast<const http::http_exception*>(&e)) {
      if (he->error_code() == std::errc::timed_out)
        return Status(Code::Timeout, what + ": no response within the request timeout");
    }
    return Status(Code::Unavailable, what + ": " + e.what());
  }

  static Result<ListPage> parse_list(const std::string& body, const ResourceRef& res,
                                     const std::string& path) {
    const std::string what = "GET " + path;
    ListPage page;
    std::optional<std::string_view> items, meta;
    const bool ok = json::for_each_member(body, [&](std::string_view k, std::string_view v) {
      if (k == "items") items = v;
      if (k == "metadata") meta = v;
      return true;
    });
    if (!ok) return Status(Code::Malformed, what + ": the response is not a JSON object");
    if (meta) {
      try {
        const auto m = nlohmann::json::parse(*meta);
        if (auto it = m.find("resourceVersion"); it != m.end() && it->is_string())
          page.resource_version = it->get<std::string>();
        if (auto it = m.find("continue"); it != m.end() && it->is_string())
          page.continue_token = it->get<std::string>();
      } catch (const std::exception& e) {
        return Status(Code::Malformed, what + ": list metadata: " + e.what());
      }
    }
    if (page.resource_version.empty())
      return Status(Code::Malformed, what + ": the list has no metadata.resourceVersion");
    if (items && *items != "null") {
      bool good = json::for_each_element(*items, [&](std::string_view item) {
        page.items.push_back(with_kind(item, res));
        return true;
      });
      if (!good) return Status(Code::Malformed, what + ": items is not a JSON array");
    }
    return page;
  }

  static Status parse_event(const std::string& text, const ResourceRef& res,
                            const std::string& what, WatchEvent& ev) {
    std::optional<std::string_view> type, object;
    json::for_each_member(text, [&](std::string_view k, std::string_view v) {
      if (k == "type") type = v;
      if (k == "object") object = v;
      return true;
    });
    const auto t = type ? json::plain_string(*type) : std::nullopt;
    if (!t || !object)
      return Status(Code::Malformed, what + ": a watch event without type or object");
    if (*t == "ERROR") {
      int code = 0;
      std::string msg;
      try {
        const auto j = nlohmann::json::parse(*object);
        if (auto c = j.find("code"); c != j.end() && c->is_number_integer()) code = c->get<int>();
        msg = describe_status_body(code, std::string(*object));
      } catch (const std::exception&) {
        msg = std::string(object->substr(0, 200));
      }
      const Code c = code == 410 ? Code::Gone : code ? code_for_http(code) : Code::Malformed;
      return Status(c, what + ": ERROR event: " + msg, code);
    }
    if (*t == "ADDED") {
      ev.type = EventType::Added;
    } else if (*t == "MODIFIED") {
      ev.type = EventType::Modified;
    } else if (*t == "DELETED") {
      ev.type = EventType::Deleted;
    } else if (*t == "BOOKMARK") {
      ev.type = EventType::Bookmark;
    } else {
      return Status(Code::Malformed, what + ": unknown watch event type " + std::string(*t));
    }
    ev.resource_version = resource_version_of(*object);
    if (ev.type == EventType::Bookmark) {
      ev.initial_events_end = initial_events_end(*object);
    } else {
      ev.object = with_kind(*object, res);
    }
    return Status::Ok();
  }

  const std::string server_;
  const std::string user_agent_;
  const bool protobuf_;
  std::unique_ptr<client::http_client> http_;        // lists and gets: request_timeout
  std::unique_ptr<client::http_client> watch_http_;  // watches: watch_idle_timeout
  TokenSource token_;
};

}  // namespace

Result<std::shared_ptr<ApiClient>> make_http_client(const ClientConfig& cfg) {
  const std::string label = cfg.source.empty() ? cfg.server : cfg.source;
  if (cfg.server.rfind("https://", 0) != 0 && cfg.server.rfind("http://", 0) != 0)
    return Status(Code::InvalidArgument,
                  label + ": server \"" + cfg.server + "\" is not an http(s) URL");
  Tls tls;
  tls.insecure = cfg.insecure_skip_tls_verify;
  auto pem = [&](const std::string& data, const std::string& file, const char* what,
                 std::string& out) -> Status {
    if (!data.empty()) {
      out = data;
    } else if (!file.empty()) {
      auto text = slurp(file);
      if (!text)
        return Status(Code::InvalidArgument, label + ": " + what + " " + file + ": cannot read");
      out = std::move(*text);
    }
    return Status::Ok();
  };
  if (Status st = pem(cfg.ca_data, cfg.ca_file, "certificate authority", tls.ca); !st.ok())
    return st;
  if (Status st = pem(cfg.client_cert_data, cfg.client_cert_file, "client certificate", tls.cert);
      !st.ok())
    return st;
  if (Status st = pem(cfg.client_key_data, cfg.client_key_file, "client key", tls.key); !st.ok())
    return st;
  // Load the material once now, so a bad PEM is reported here, by name.
  try {
    boost::asio::ssl::context probe(boost::asio::ssl::context::sslv23);
    configure_tls(probe, tls);
  } catch (const std::exception& e) {
    return Status(Code::InvalidArgument, label + ": TLS material: " + e.what());
  }

  client::http_client_config hc;
  hc.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(cfg.request_timeout));
  hc.set_validate_certificates(!tls.insecure);
  hc.set_ssl_context_callback([tls](boost::asio::ssl::context& ctx) {
    try {
      configure_tls(ctx, tls);
    } catch (const std::exception&) {
      // Checked in make_http_client; the handshake fails visibly if it changes.
    }
  });
  client::http_client_config wc = hc;
  wc.set_timeout(std::chrono::duration_cast<std::chrono::microseconds>(cfg.watch_idle_timeout));
  try {
    auto http = std::make_unique<client::http_client>(web::uri(cfg.server), hc);
    auto watch_http = std::make_unique<client::http_client>(web::uri(cfg.server), wc);
    return std::shared_ptr<ApiClient>(
        std::make_shared<HttpClient>(cfg.server, std::move(http), std::move(watch_http), cfg.token,
                                     cfg.token_file, cfg.user_agent, cfg.protobuf));
  } catch (const std::exception& e) {
    return Status(Code::InvalidArgument, label + ": server \"" + cfg.server + "\": " + e.what());
  }
}

}  // namespace netpol::k8s::api
