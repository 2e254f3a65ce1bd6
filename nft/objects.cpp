#include "nft/objects.h"

#include <algorithm>

namespace netpol::nft {

namespace {

bool is_alpha(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

}  // namespace

std::string clean_comment(std::string_view text) {
  std::string out;
  out.reserve(std::min(text.size(), kMaxCommentBytes));
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    // nft's quoted strings have no escapes: a `"` would end the string, and a
    // `\` would confuse every other tool that re-quotes the listing.
    if (c == '"' || c == '\\') {
      out.push_back('\'');
    } else if (u < 0x20 || u == 0x7f) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  if (out.size() > kMaxCommentBytes) {
    size_t cut = kMaxCommentBytes;
    // Back up over UTF-8 continuation bytes so no code point is split.
    while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
    out.resize(cut);
  }
  return out;
}

bool valid_log_prefix(std::string_view prefix) {
  if (prefix.empty() || prefix.size() > kMaxLogPrefixBytes) return false;
  for (char c : prefix) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ' ' || c == '_' || c == ':' || c == '.' || c == '/' || c == '-';
    if (!ok) return false;
  }
  return true;
}

bool valid_name(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameBytes) return false;
  if (!is_alpha(name[0]) && name[0] != '_' && name[0] != '.') return false;
  for (char c : name) {
    if (!is_alpha(c) && !is_digit(c) && c != '_' && c != '.' && c != '/' && c != '-') return false;
  }
  return true;
}

KeyType key_type(Field f) {
  switch (f) {
    case Field::IpSaddr:
    case Field::IpDaddr:
      return KeyType::Ipv4Addr;
    case Field::Ip6Saddr:
    case Field::Ip6Daddr:
      return KeyType::Ipv6Addr;
    case Field::MetaL4Proto:
      return KeyType::InetProto;
    case Field::ThDport:
      return KeyType::InetService;
    case Field::IifName:
      return KeyType::IfName;
  }
  return KeyType::InetService;
}

void Ruleset::append(Rule rule) {
  auto& list = rules[rule.chain];
  list.push_back(std::move(rule));
}

const std::vector<Rule>& Ruleset::rules_of(const std::string& chain) const {
  static const std::vector<Rule> kNone;
  auto it = rules.find(chain);
  return it == rules.end() ? kNone : it->second;
}

const char* to_string(TableFamily f) {
  switch (f) {
    case TableFamily::Inet:
      return "inet";
    case TableFamily::Bridge:
      return "bridge";
  }
  return "?";
}

const char* to_string(Hook h) {
  switch (h) {
    case Hook::Prerouting:
      return "prerouting";
    case Hook::Input:
      return "input";
    case Hook::Forward:
      return "forward";
    case Hook::Output:
      return "output";
    case Hook::Postrouting:
      return "postrouting";
  }
  return "?";
}

const char* to_string(KeyType t) {
  switch (t) {
    case KeyType::Ipv4Addr:
      return "ipv4_addr";
    case KeyType::Ipv6Addr:
      return "ipv6_addr";
    case KeyType::InetProto:
      return "inet_proto";
    case KeyType::InetService:
      return "inet_service";
    case KeyType::IfName:
      return "ifname";
  }
  return "?";
}

const char* to_string(Field f) {
  switch (f) {
    case Field::IpSaddr:
      return "ip saddr";
    case Field::IpDaddr:
      return "ip daddr";
    case Field::Ip6Saddr:
      return "ip6 saddr";
    case Field::Ip6Daddr:
      return "ip6 daddr";
    case Field::MetaL4Proto:
      return "meta l4proto";
    case Field::ThDport:
      return "th dport";
    case Field::IifName:
      return "iifname";
  }
  return "?";
}

int listing_rank(const Chain& c) {
  if (c.is_base()) return 0;
  if (c.name.starts_with("admin-")) return 1;
  if (c.name.starts_with("baseline-")) return 3;
  return 2;
}

}  // namespace netpol::nft
