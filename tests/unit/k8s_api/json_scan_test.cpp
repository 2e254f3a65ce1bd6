// The watch-stream framer and the member scanner: events must come out whole
// and unchanged however the bytes are chunked.
#include "k8s/api/json_scan.h"

#include <gtest/gtest.h>

namespace netpol::k8s::api::json {
namespace {

const std::vector<std::string> kEvents = {
    R"({"type":"ADDED","object":{"kind":"Pod","metadata":{"name":"a","labels":{"x":"}{"}}}})",
    R"({"type":"MODIFIED","object":{"metadata":{"name":"b \"quoted\" {"},"spec":{"l":[1,[2,{}]]}}})",
    R"({"type":"DELETED","object":{"metadata":{"name":"c\\"}}})",
    R"({"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"42"}}})",
};

TEST(Framer, EveryChunkingYieldsTheSameEvents) {
  std::string stream;
  for (const auto& e : kEvents) stream += e + "\n";
  // Cut the stream into pieces of every size from 1 byte to all of it.
  for (size_t piece = 1; piece <= stream.size(); ++piece) {
    Framer f;
    std::vector<std::string> got;
    for (size_t i = 0; i < stream.size(); i += piece) {
      f.feed(std::string_view(stream).substr(i, piece));
      while (auto o = f.next()) got.push_back(*o);
    }
    ASSERT_FALSE(f.error()) << "piece " << piece;
    ASSERT_EQ(got, kEvents) << "piece " << piece;
    EXPECT_FALSE(f.partial());
  }
}

TEST(Framer, ObjectsWithoutSeparatorsAndWithBlankLines) {
  Framer f;
  f.feed(kEvents[0] + kEvents[1] + "\r\n\n  \t" + kEvents[2]);
  std::vector<std::string> got;
  while (auto o = f.next()) got.push_back(*o);
  EXPECT_EQ(got, (std::vector<std::string>{kEvents[0], kEvents[1], kEvents[2]}));
}

TEST(Framer, TornStreamIsPartial) {
  Framer f;
  f.feed(kEvents[0].substr(0, 20));
  EXPECT_FALSE(f.next());
  EXPECT_TRUE(f.partial());
  EXPECT_FALSE(f.error());
}

TEST(Framer, GarbageIsAnError) {
  Framer f;
  f.feed("<html>502 Bad Gateway</html>");
  EXPECT_FALSE(f.next());
  EXPECT_TRUE(f.error());
}

TEST(Framer, OversizedObjectIsAnError) {
  Framer f(64);
  f.feed("{\"a\":\"" + std::string(100, 'x'));
  EXPECT_FALSE(f.next());
  EXPECT_TRUE(f.error());
}

TEST(Scan, MembersAndElements) {
  const std::string obj =
      R"( { "kind" : "PodList", "metadata":{"resourceVersion":"7","continue":"abc"},
    "items" : [ {"a":1} , {"b":"]"}, [] , "s", 12 ], "n": null, "t": true } )";
  std::vector<std::string> keys;
  EXPECT_TRUE(for_each_member(obj, [&](std::string_view k, std::string_view) {
    keys.emplace_back(k);
    return true;
  }));
  EXPECT_EQ(keys, (std::vector<std::string>{"kind", "metadata", "items", "n", "t"}));
  EXPECT_EQ(*member(obj, "kind"), "\"PodList\"");
  EXPECT_EQ(*plain_string(*member(*member(obj, "metadata"), "resourceVersion")), "7");
  EXPECT_FALSE(member(obj, "missing"));
  std::vector<std::string> items;
  EXPECT_TRUE(for_each_element(*member(obj, "items"), [&](std::string_view v) {
    items.emplace_back(v);
    return true;
  }));
  EXPECT_EQ(items, (std::vector<std::string>{R"({"a":1})", R"({"b":"]"})", "[]", "\"s\"", "12"}));
}

TEST(Scan, MalformedIsRejected) {
  auto ok = [](std::string_view s) {
    return for_each_member(s, [](std::string_view, std::string_view) { return true; });
  };
  EXPECT_TRUE(ok("{}"));
  EXPECT_FALSE(ok(""));
  EXPECT_FALSE(ok("[1]"));
  EXPECT_FALSE(ok(R"({"a" 1})"));
  EXPECT_FALSE(ok(R"({"a":{"b":1})"));
  EXPECT_FALSE(ok(R"({"a":"unterminated})"));
  EXPECT_FALSE(plain_string(R"("has \"escape\"")"));
}

}  // namespace
}  // namespace netpol::k8s::api::json
