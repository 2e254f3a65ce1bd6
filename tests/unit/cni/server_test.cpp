// The agent's --cni-socket server: how it takes its socket (directory,
// stale socket, a live one, mode), and that no client can hold it: requests
// are bounded in size and time, and a bad one gets a clear refusal.
#include "agent/cni/server.h"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "tests/unit/cni/harness.h"

namespace netpol::cni {
namespace {

using test::FakeBinder;
using test::TempDir;

Request bind_request() {
  Request r;
  r.pod_namespace = "shop";
  r.pod_name = "web-0";
  r.container_id = "c0ffee";
  r.ips = {"10.244.1.7"};
  r.host_interface = "veth1";
  return r;
}

Result<Answer> ask(const std::string& path, const std::string& raw) {
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  auto fd = connect_unix(path, deadline);
  if (!fd.ok()) return fd.status();
  if (Status s = write_all(fd.value().get(), raw, deadline); !s.ok()) return s;
  auto text = read_message(fd.value().get(), kMaxMessageBytes, deadline);
  if (!text.ok()) return text.status();
  return decode_answer(text.value());
}

std::unique_ptr<Server> start(Binder& b, ServerOptions o) {
  auto s = Server::start(std::move(o), b);
  EXPECT_TRUE(s.ok()) << s.message();
  return s.ok() ? std::move(s).value() : nullptr;
}

TEST(CniServer, CreatesItsDirectoryAndARootOnlySocketAndRemovesItAtStop) {
  TempDir dir;
  FakeBinder binder;
  ServerOptions o;
  o.path = dir.file("run/netpol/cni.sock");
  auto server = start(binder, o);
  ASSERT_TRUE(server);
  struct stat st {};
  ASSERT_EQ(::stat(o.path.c_str(), &st), 0);
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  auto a = ask(o.path, encode(bind_request()));
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_TRUE(a.value().ok());
  ASSERT_EQ(binder.calls().size(), 1u);
  EXPECT_EQ(binder.calls()[0], bind_request());
  EXPECT_EQ(server->stats().requests, 1u);
  server->stop();
  EXPECT_FALSE(std::filesystem::exists(o.path));
}

TEST(CniServer, ReplacesAStaleSocketButNotALiveOneNorAFile) {
  TempDir dir;
  FakeBinder binder;
  ServerOptions o;
  o.path = dir.file("cni.sock");
  {
    // A socket file nobody listens on: what a SIGKILLed agent leaves.
    Fd l(::socket(AF_UNIX, SOCK_STREAM, 0));
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    std::strcpy(a.sun_path, o.path.c_str());
    ASSERT_EQ(::bind(l.get(), reinterpret_cast<sockaddr*>(&a), sizeof(a)), 0);
  }
  auto first = start(binder, o);
  ASSERT_TRUE(first);
  auto second = Server::start(o, binder);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), Code::Conflict);
  EXPECT_NE(second.message().find("another process listens"), std::string::npos);
  EXPECT_TRUE(ask(o.path, encode(bind_request())).ok()) << "the first server still serves";
  first->stop();

  std::ofstream(dir.file("file.sock")) << "not a socket";
  o.path = dir.file("file.sock");
  auto on_file = Server::start(o, binder);
  ASSERT_FALSE(on_file.ok());
  EXPECT_TRUE(std::filesystem::is_regular_file(o.path)) << "left alone";
  o.path = "relative.sock";
  EXPECT_FALSE(Server::start(o, binder).ok());
}

TEST(CniServer, BoundsTheRequestSizeAndTime) {
  TempDir dir;
  FakeBinder binder;
  ServerOptions o;
  o.path = dir.file("cni.sock");
  o.read_timeout = std::chrono::milliseconds(300);
  o.max_request_bytes = 1024;
  auto server = start(binder, o);
  ASSERT_TRUE(server);

  auto big = ask(o.path, std::string(4096, 'x') + "\n");
  ASSERT_TRUE(big.ok()) << big.message();
  EXPECT_EQ(big.value().refusal, Refusal::BadRequest);
  EXPECT_NE(big.value().message.find("1024 bytes"), std::string::npos);

  // A client that connects and says nothing holds the server for read_timeout at most.
  auto silent = connect_unix(o.path, Clock::now() + std::chrono::seconds(1));
  ASSERT_TRUE(silent.ok());
  const auto start_at = Clock::now();
  auto next = ask(o.path, encode(bind_request()));
  ASSERT_TRUE(next.ok()) << next.message();
  EXPECT_TRUE(next.value().ok());
  EXPECT_LT(Clock::now() - start_at, std::chrono::seconds(2));
  EXPECT_EQ(server->stats().dropped, 1u);

  auto garbage = ask(o.path, "{\"netpolCni\": 1, \"op\": \"bind\"}\n");
  ASSERT_TRUE(garbage.ok());
  EXPECT_EQ(garbage.value().refusal, Refusal::BadRequest);
  auto future = ask(o.path, "{\"netpolCni\": 2, \"op\": \"bind\", \"containerId\": \"x\"}\n");
  ASSERT_TRUE(future.ok());
  EXPECT_EQ(future.value().refusal, Refusal::BadRequest);
  EXPECT_NE(future.value().message.find("version 2"), std::string::npos);
  EXPECT_EQ(binder.calls().size(), 1u) << "only the good request reached the binder";
}

TEST(CniServer, GivesTheBinderTheRequestsTimeoutLessAMargin) {
  TempDir dir;
  FakeBinder binder;
  binder.set_delay(std::chrono::seconds(10));
  ServerOptions o;
  o.path = dir.file("cni.sock");
  auto server = start(binder, o);
  ASSERT_TRUE(server);
  Request r = bind_request();
  r.timeout_ms = 600;
  const auto t0 = Clock::now();
  auto a = ask(o.path, encode(r));
  ASSERT_TRUE(a.ok()) << a.message();
  EXPECT_EQ(a.value().refusal, Refusal::Timeout);
  EXPECT_LT(Clock::now() - t0, std::chrono::milliseconds(600))
      << "answered before the plugin gives up";
}

TEST(CniServer, StatusCodesBecomeRefusals) {
  EXPECT_TRUE(answer_for(Op::Bind, Status::Ok()).ok());
  EXPECT_EQ(answer_for(Op::Bind, Status(Code::NotFound, "x")).refusal, Refusal::PodUnknown);
  EXPECT_EQ(answer_for(Op::Bind, Status(Code::Forbidden, "x")).refusal, Refusal::OtherNode);
  EXPECT_EQ(answer_for(Op::Bind, Status(Code::Timeout, "x")).refusal, Refusal::Timeout);
  EXPECT_EQ(answer_for(Op::Bind, Status(Code::Unavailable, "x")).refusal, Refusal::Unavailable);
  EXPECT_EQ(answer_for(Op::Bind, Status::FromErrno(ENOBUFS, "x")).refusal, Refusal::Failed);
  EXPECT_TRUE(answer_for(Op::Release, Status(Code::NotFound, "x")).ok()) << "idempotent DEL";
  EXPECT_EQ(answer_for(Op::Check, Status(Code::NotFound, "x")).refusal, Refusal::NotBound);
  EXPECT_EQ(answer_for(Op::Check, Status(Code::Conflict, "x")).refusal, Refusal::Mismatch);
  EXPECT_EQ(answer_for(Op::Bind, Status(Code::Forbidden, "pod on n2")).message, "pod on n2");
}

TEST(CniProtocol, RequestsAndAnswersRoundTrip) {
  Request r = bind_request();
  r.pod_uid = "u";
  r.ips = {"10.0.0.1", "fd00::1"};
  r.timeout_ms = 1234;
  auto back = decode_request(encode(r));
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(back.value(), r);
  for (Refusal f : {Refusal::None, Refusal::OtherNode, Refusal::Timeout, Refusal::Mismatch}) {
    const Answer a{f, f == Refusal::None ? "" : "why"};
    auto b = decode_answer(encode(a));
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b.value(), a);
  }
  EXPECT_EQ(
      decode_answer(R"({"netpolCni":1,"ok":false,"error":"from-the-future"})").value().refusal,
      Refusal::Failed);
  EXPECT_FALSE(decode_request(R"({"netpolCni":1,"op":"bind","containerId":"c","ips":"10.0.0.1",)"
                              R"("namespace":"a","name":"b"})")
                   .ok());
}

}  // namespace
}  // namespace netpol::cni
