// LinkWatcher over FakeLinks: the first view is handed over before start()
// returns, a change raised as an event reaches the sync thread's queue, and
// an event that changes nothing the agent uses sends nothing; and the flag.
#include "agent/linkwatch.h"

#include <gtest/gtest.h>

#include <mutex>
#include <thread>

#include "agent/options.h"
#include "tests/support/fake_links.h"

namespace netpol::agent {
namespace {

IpAddr ip(const char* s) {
  return *IpAddr::parse(s);
}

nft::LinkState routed(const char* dev, const char* addr) {
  nft::LinkState st;
  st.links[2] = nft::Link{2, dev, 0, false};
  st.routes = {{ip(addr), 2}};
  return st;
}

struct Sink {
  std::mutex mu;
  std::vector<LinksView> got;
  void operator()(Event ev) {
    std::lock_guard l(mu);
    ASSERT_EQ(ev.op, Event::Op::Links);
    got.push_back(*ev.links);
  }
  size_t size() {
    std::lock_guard l(mu);
    return got.size();
  }
};

bool eventually(const std::function<bool()>& f) {
  for (int i = 0; i < 200 && !f(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  return f();
}

TEST(LinkWatcher, FirstViewBeforeStartReturnsThenEveryChange) {
  auto fake = std::make_unique<testsupport::FakeLinks>();
  testsupport::FakeLinks* links = fake.get();
  links->set(routed("cali1", "10.0.0.1"));
  Sink sink;
  LinkWatcher w(std::move(fake), [&](Event ev) { sink(std::move(ev)); }, nullptr,
                {std::chrono::milliseconds(5), std::chrono::milliseconds(60'000)});
  w.start();
  ASSERT_EQ(sink.size(), 1u);
  EXPECT_EQ(sink.got[0].bindings,
            (std::vector<nft::LinkBinding>{{"cali1", ip("10.0.0.1"), false}}));

  // The route moves to another veth: one new view.
  links->set(routed("cali2", "10.0.0.1"));
  ASSERT_TRUE(eventually([&] { return sink.size() == 2; }));
  EXPECT_EQ(sink.got[1].bindings[0].interface, "cali2");

  // An event that changes nothing the agent uses (same state): read, not sent.
  const size_t reads = links->reads();
  links->set(routed("cali2", "10.0.0.1"));
  ASSERT_TRUE(eventually([&] { return links->reads() > reads; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_EQ(sink.size(), 2u);
  w.stop();
}

}  // namespace
}  // namespace netpol::agent

namespace netpol::agent {
namespace {

TEST(AntiSpoofingFlag, OnByDefaultOffWithFalseBadValueIsExit2) {
  auto env = [](const std::string&) -> std::optional<std::string> { return "node1"; };
  const char* on[] = {"netpol-agent"};
  auto a = parse_options(1, on, env);
  ASSERT_TRUE(std::holds_alternative<Options>(a));
  EXPECT_TRUE(std::get<Options>(a).anti_spoofing);
  const char* off[] = {"netpol-agent", "--anti-spoofing=false"};
  auto b = parse_options(2, off, env);
  ASSERT_TRUE(std::holds_alternative<Options>(b));
  EXPECT_FALSE(std::get<Options>(b).anti_spoofing);
  const char* bad[] = {"netpol-agent", "--anti-spoofing=perhaps"};
  auto c = parse_options(2, bad, env);
  ASSERT_TRUE(std::holds_alternative<ParseExit>(c));
  EXPECT_EQ(std::get<ParseExit>(c).code, 2);
}

}  // namespace
}  // namespace netpol::agent
