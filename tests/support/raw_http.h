// One HTTP/1.1 request to 127.0.0.1:port on a fresh plain socket, for tests
// and benchmarks that must see the exact bytes a server sends (status line,
// headers) without an HTTP library in between. Header-only, test code only.
// Never throws; a connection failure gives code 0 and empty texts.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

namespace netpol::testsupport {

struct RawHttpAnswer {
  int code = 0;      // status code, 0 when nothing usable came back
  std::string raw;   // the whole response: status line, headers, body
  std::string body;  // after the blank line
};

// `extra_headers`: complete header lines, each ending in "\r\n". A body gets
// its Content-Length.
inline RawHttpAnswer raw_http(uint16_t port, const std::string& method, const std::string& path,
                              const std::string& extra_headers = "", const std::string& body = "") {
  RawHttpAnswer a;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return a;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return a;
  }
  std::string req =
      method + " " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + extra_headers;
  if (!body.empty() || method == "POST" || method == "PUT") {
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  for (size_t sent = 0; sent < req.size();) {
    const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  char buf[65536];
  for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
    a.raw.append(buf, static_cast<size_t>(n));
  ::close(fd);
  std::sscanf(a.raw.c_str(), "HTTP/1.%*d %d", &a.code);
  const size_t head_end = a.raw.find("\r\n\r\n");
  if (head_end != std::string::npos) a.body = a.raw.substr(head_end + 4);
  return a;
}

}  // namespace netpol::testsupport
