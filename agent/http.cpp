#include "agent/http.h"

#include <cpprest/http_listener.h>

#include <charconv>
#include <exception>

namespace netpol::agent {

namespace http = web::http;
using http::experimental::listener::http_listener;

Result<std::string> listen_uri(const std::string& addr) {
  const auto colon = addr.rfind(':');
  if (colon == std::string::npos) {
    return StatusError{"--metrics-addr " + addr + ": want HOST:PORT, :PORT or [IPV6]:PORT"};
  }
  std::string host = addr.substr(0, colon);
  const std::string port = addr.substr(colon + 1);
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value == 0 ||
      value > 65535) {
    return StatusError{"--metrics-addr " + addr + ": port must be a number from 1 to 65535"};
  }
  if (host.empty()) host = "0.0.0.0";
  if (host.find(':') != std::string::npos && host.front() != '[') {
    return StatusError{"--metrics-addr " + addr + ": write IPv6 addresses as [ADDR]:PORT"};
  }
  return "http://" + host + ":" + port;
}

struct HttpServer::Impl {
  std::unique_ptr<http_listener> listener;
  HttpHandler handler;
};

HttpServer::HttpServer(std::unique_ptr<Impl> impl, std::string uri)
    : impl_(std::move(impl)), uri_(std::move(uri)) {}

HttpServer::~HttpServer() {
  try {
    impl_->listener->close().wait();
  } catch (...) {
    // Closing a listener that failed underneath: nothing left to release.
  }
}

Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& addr,
                                                      HttpHandler handler) {
  auto uri = listen_uri(addr);
  if (!uri.ok()) return StatusError{uri.message()};
  auto impl = std::make_unique<Impl>();
  impl->handler = std::move(handler);
  try {
    impl->listener = std::make_unique<http_listener>(web::uri(uri.value()));
    Impl* raw = impl.get();
    impl->listener->support([raw](http::http_request req) {
      try {
        HttpResponse r = raw->handler(req.method(), req.relative_uri().path());
        http::http_response resp(static_cast<http::status_code>(r.status));
        resp.set_body(std::move(r.body), r.content_type);
        req.reply(resp).then([](pplx::task<void> t) {
          try {
            t.get();
          } catch (...) {
            // The client went away before the answer: nothing to do.
          }
        });
      } catch (...) {
        try {
          req.reply(http::status_codes::InternalError, "internal error\n");
        } catch (...) {
          // Nothing more we can tell a client whose connection broke.
        }
      }
    });
    impl->listener->open().wait();
  } catch (const std::exception& e) {
    return StatusError{"cannot listen on " + addr + " (" + uri.value() + "): " + e.what()};
  } catch (...) {
    return StatusError{"cannot listen on " + addr + " (" + uri.value() + ")"};
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl), uri.value()));
}

}  // namespace netpol::agent
