// The agent's HTTP endpoint (/healthz, /readyz, /metrics): cpprestsdk's
// http_listener behind a small interface, so no cpprestsdk header leaves
// agent/http.cpp and the handler can be tested without a socket.
//
// The server only serves what the handler returns; it never blocks the sync
// loop (handlers read atomics and render metrics under short locks) and never
// throws: a bind failure comes back as an error value naming the address.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "k8s/status.h"

namespace netpol::agent {

// What a handler answers: status, content type and body. Plain value.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const std::string& method, const std::string& path)>;

// "HOST:PORT", ":PORT" (every IPv4 address) or "[V6]:PORT" to a listener URI
// ("http://0.0.0.0:9809"); an error names what is wrong.
Result<std::string> listen_uri(const std::string& addr);

// One listener on one address, calling the handler for every request on
// cpprestsdk's pool threads. Never outlives its handler's captures: destroy
// it first (its destructor waits for requests in flight).
class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> start(const std::string& addr, HttpHandler handler);
  ~HttpServer();  // closes the listener, waits for requests in flight
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  const std::string& uri() const { return uri_; }

 private:
  struct Impl;
  HttpServer(std::unique_ptr<Impl> impl, std::string uri);
  std::unique_ptr<Impl> impl_;
  std::string uri_;
};

}  // namespace netpol::agent
