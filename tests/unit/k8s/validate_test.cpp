// The API server's string rules at their edges (lengths, ends, charsets),
// UTF-8 well-formedness, and the quoting that keeps error messages short.
#include "k8s/validate.h"

#include <gtest/gtest.h>

#include <string>

namespace netpol::k8s::validate {
namespace {

struct Row {
  std::string text;
  bool valid;
};

void check(std::string_view (*rule)(std::string_view), const char* name,
           const std::vector<Row>& rows) {
  for (const Row& r : rows) {
    EXPECT_EQ(rule(r.text).empty(), r.valid) << name << ": \"" << r.text << '"';
  }
}

TEST(Validate, Dns1123Label) {
  check(dns1123_label, "label",
        {{"a", true},
         {"a-1", true},
         {"0abc", true},
         {std::string(63, 'a'), true},
         {std::string(64, 'a'), false},
         {"", false},
         {"-a", false},
         {"a-", false},
         {"A", false},
         {"a.b", false},
         {"a_b", false}});
}

TEST(Validate, Dns1123Subdomain) {
  std::string max = std::string(63, 'a') + "." + std::string(63, 'b') + "." + std::string(63, 'c') +
                    "." + std::string(61, 'd');
  ASSERT_EQ(max.size(), 253u);
  check(dns1123_subdomain, "subdomain",
        {{"a", true},
         {"a.b-c.d", true},
         {max, true},
         {max + "e", false},
         {"", false},
         {".a", false},
         {"a.", false},
         {"a..b", false},
         {"a.-b", false},
         {"a_b", false},
         {"Ab", false}});
}

TEST(Validate, QualifiedName) {
  check(qualified_name, "qualified name",
        {{"app", true},
         {"App_1.x-y", true},
         {"example.com/App", true},
         {"kubernetes.io/metadata.name", true},
         {std::string(63, 'n'), true},
         {std::string(64, 'n'), false},
         {std::string(253, 'p') + "/n", true},
         {std::string(254, 'p') + "/n", false},
         {"", false},
         {"/n", false},
         {"p/", false},
         {"a/b/c", false},
         {"_a", false},
         {"a.", false},
         {"UPPER.com/n", false},
         {"a b", false}});
}

TEST(Validate, LabelValue) {
  check(label_value, "label value",
        {{"", true},
         {"v", true},
         {"V1.2_3-4", true},
         {std::string(63, 'v'), true},
         {std::string(64, 'v'), false},
         {"-v", false},
         {"v_", false},
         {"a/b", false},
         {"a b", false}});
}

TEST(Validate, IanaServiceName) {
  check(iana_svc_name, "port name",
        {{"http", true},
         {"h2c", true},
         {"a-b-c", true},
         {"123456789012345", false},  // no letter
         {"12345678901234a", true},
         {"a123456789012345", false},  // 16 characters
         {"", false},
         {"-a", false},
         {"a-", false},
         {"a--b", false},
         {"HTTP", false},
         {"a_b", false}});
}

TEST(Validate, Utf8) {
  EXPECT_TRUE(utf8(""));
  EXPECT_TRUE(utf8("plain ascii"));
  EXPECT_TRUE(utf8("\xc3\xa9"));          // é
  EXPECT_TRUE(utf8("\xe2\x82\xac"));      // €
  EXPECT_TRUE(utf8("\xf0\x9f\x98\x80"));  // U+1F600
  EXPECT_TRUE(utf8("\xf4\x8f\xbf\xbf"));  // U+10FFFF
  EXPECT_FALSE(utf8("\xff"));
  EXPECT_FALSE(utf8("\x80"));              // lone continuation
  EXPECT_FALSE(utf8("\xc3"));              // cut short
  EXPECT_FALSE(utf8("\xc3\x28"));          // bad continuation
  EXPECT_FALSE(utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(utf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(utf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(utf8("\xf0\x80\x80\xaf"));  // overlong 4-byte
}

TEST(Validate, QuoteEscapesAndTruncates) {
  EXPECT_EQ(quote("abc"), "\"abc\"");
  EXPECT_EQ(quote(""), "\"\"");
  EXPECT_EQ(quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(quote("t\tn\n\x7f\xff"), "\"t\\x09n\\x0a\\x7f\\xff\"");
  EXPECT_EQ(quote(std::string(64, 'x')), "\"" + std::string(64, 'x') + "\"");
  EXPECT_EQ(quote(std::string(65, 'x')), "\"" + std::string(64, 'x') + "...\" (65 bytes)");
  EXPECT_LT(quote(std::string(10u << 20, 'x')).size(), 100u);
}

}  // namespace
}  // namespace netpol::k8s::validate
