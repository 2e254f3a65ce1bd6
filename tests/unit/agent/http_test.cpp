// The HTTP endpoint over a real socket: answers what the handler returns,
// refuses a bad or busy address with a message naming it.
#include "agent/http.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/raw_http.h"

namespace netpol::agent {
namespace {

// A free TCP port on 127.0.0.1 (bound and released; good enough for a test).
uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// GET over a plain socket: the whole response text.
std::string get(uint16_t port, const std::string& path) {
  return testsupport::raw_http(port, "GET", path).raw;
}

TEST(Http, ServesWhatTheHandlerReturns) {
  const uint16_t port = free_port();
  auto s = HttpServer::start(
      "127.0.0.1:" + std::to_string(port), [](const std::string& method, const std::string& path) {
        if (path == "/readyz") return HttpResponse{503, "text/plain", "no\n"};
        return HttpResponse{200, "text/plain; version=0.0.4", method + " " + path + "\n"};
      });
  ASSERT_TRUE(s.ok()) << s.message();
  const std::string ok = get(port, "/metrics");
  EXPECT_EQ(ok.rfind("HTTP/1.1 200", 0), 0u) << ok;
  EXPECT_NE(ok.find("GET /metrics\n"), std::string::npos) << ok;
  EXPECT_NE(ok.find("text/plain; version=0.0.4"), std::string::npos) << ok;
  const std::string no = get(port, "/readyz");
  EXPECT_EQ(no.rfind("HTTP/1.1 503", 0), 0u) << no;

  // The same port again: a clear error, not an exception.
  auto busy =
      HttpServer::start("127.0.0.1:" + std::to_string(port),
                        [](const std::string&, const std::string&) { return HttpResponse{}; });
  ASSERT_FALSE(busy.ok());
  EXPECT_NE(busy.message().find(std::to_string(port)), std::string::npos) << busy.message();
}

TEST(Http, AddressForms) {
  EXPECT_EQ(listen_uri(":9809").value(), "http://0.0.0.0:9809");
  EXPECT_EQ(listen_uri("10.0.0.1:80").value(), "http://10.0.0.1:80");
  EXPECT_EQ(listen_uri("[::1]:80").value(), "http://[::1]:80");
  EXPECT_FALSE(listen_uri("9809").ok());
  EXPECT_FALSE(listen_uri(":0").ok());
  EXPECT_FALSE(listen_uri(":99999").ok());
  EXPECT_FALSE(listen_uri("::1:80").ok());
  EXPECT_FALSE(listen_uri("host:port").ok());
}

}  // namespace
}  // namespace netpol::agent
