// nftables objects as plain values: Table, Chain, Set (and map), Element, Rule,
// and Ruleset, the whole content of one table.
//
// Rules are STRUCTURED: a rule is an ordered list of Expr values drawn from the
// small closed set of matches and statements netpol uses, never free text, so
// the same value can be rendered as nft script (script.h) or turned into
// libnftnl expressions by the netlink backend. Every type has == and <=>, and
// every container is ordered, so a dump or a diff of two rulesets is one
// function and the same desired state always renders to the same bytes.
//
// These types never talk to the kernel, never parse nft text and never hold a
// C handle. They do not check themselves: Transaction (transaction.h) validates.
#pragma once

#include <algorithm>
#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <iterator>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "compiler/sorted_blocks.h"
#include "k8s/ip.h"

namespace netpol::nft {

// nft refuses longer comments ("comment too long, 128 characters maximum").
inline constexpr size_t kMaxCommentBytes = 128;
// NFT_{TABLE,CHAIN,SET}_MAXNAMELEN is 256 including the terminating NUL.
inline constexpr size_t kMaxNameBytes = 255;

// A comment nft accepts as-is: `"` and `\` become `'`, control characters
// become spaces, and the text is cut to kMaxCommentBytes on a UTF-8 boundary.
// Idempotent: clean_comment(clean_comment(s)) == clean_comment(s).
std::string clean_comment(std::string_view text);

// True if `name` can be written unquoted in nft syntax and fits the kernel
// limit: [A-Za-z_.] first, then [A-Za-z0-9_./-], at most kMaxNameBytes.
bool valid_name(std::string_view name);

// Inet: the policy table. Bridge: the anti-spoofing table of bridged pod
// networks (docs/spoofing.md), where only the bridge family sees the port.
enum class TableFamily : uint8_t { Inet, Bridge };

struct Table {
  TableFamily family = TableFamily::Inet;
  std::string name;
  std::string comment;

  friend auto operator<=>(const Table&, const Table&) = default;
  friend bool operator==(const Table&, const Table&) = default;
};

enum class ChainType : uint8_t { Filter };
enum class Hook : uint8_t { Prerouting, Input, Forward, Output, Postrouting };
enum class ChainPolicy : uint8_t { Accept, Drop };

// Standard priority of the filter type (nft's `priority filter`).
inline constexpr int32_t kPriorityFilter = 0;

// The hook of a base chain; a chain without one is only reached by jump/goto.
struct BaseHook {
  ChainType type = ChainType::Filter;
  Hook hook = Hook::Forward;
  int32_t priority = kPriorityFilter;
  ChainPolicy policy = ChainPolicy::Accept;

  friend auto operator<=>(const BaseHook&, const BaseHook&) = default;
  friend bool operator==(const BaseHook&, const BaseHook&) = default;
};

struct Chain {
  std::string name;
  std::string comment;
  std::optional<BaseHook> base;

  bool is_base() const { return base.has_value(); }
  friend auto operator<=>(const Chain&, const Chain&) = default;
  friend bool operator==(const Chain&, const Chain&) = default;
};

// Where a chain is created and listed in a fresh table (policyc's script, a
// full replace, a first plan): base chains, then the ClusterNetworkPolicy
// Admin tier chains ("admin-..."), then the other chains (NetworkPolicy pod
// chains), then the Baseline tier chains ("baseline-..."), by name within
// each, so `nft list table inet netpol` reads in tier order (render.h names
// the chains). Ranks 0..kListingRanks-1.
inline constexpr int kListingRanks = 4;
int listing_rank(const Chain& c);

// Data types of set keys (one per part of a concatenation).
enum class KeyType : uint8_t { Ipv4Addr, Ipv6Addr, InetProto, InetService, IfName };
// Data type of map values; netpol only uses verdict maps.
enum class DataType : uint8_t { Verdict };

// Element key parts. Distinct types so a protocol never passes for a port.
struct Proto {
  uint8_t num = 0;  // IPPROTO_*
  friend auto operator<=>(const Proto&, const Proto&) = default;
  friend bool operator==(const Proto&, const Proto&) = default;
};
struct Port {
  uint16_t num = 0;
  friend auto operator<=>(const Port&, const Port&) = default;
  friend bool operator==(const Port&, const Port&) = default;
};
// Longest interface name the kernel allows (IFNAMSIZ - 1).
inline constexpr size_t kMaxIfNameBytes = 15;
// An interface name (nft's ifname: IFNAMSIZ bytes, NUL padded), held inline
// (a Value is in every set element). A name the kernel would refuse (empty,
// longer than kMaxIfNameBytes) is kept as too_long()/empty so Transaction can
// still refuse it; its bytes are then only the first kMaxIfNameBytes + 1.
class IfName {
 public:
  IfName() = default;
  explicit IfName(std::string_view name)
      : len_(static_cast<uint8_t>(std::min<size_t>(name.size(), kCap))) {
    for (size_t i = 0; i < len_; ++i) bytes_[i] = name[i];
  }
  std::string_view name() const { return {bytes_.data(), std::min<size_t>(len_, kMaxIfNameBytes)}; }
  bool empty() const { return len_ == 0; }
  bool too_long() const { return len_ > kMaxIfNameBytes; }

  // By bytes (NUL padded), then length: the order of the names as strings.
  friend auto operator<=>(const IfName&, const IfName&) = default;
  friend bool operator==(const IfName&, const IfName&) = default;

 private:
  static constexpr size_t kCap = kMaxIfNameBytes + 1;
  std::array<char, kCap> bytes_{};
  uint8_t len_ = 0;
};
using Value = std::variant<IpAddr, Proto, Port, IfName>;

struct Verdict {
  enum class Kind : uint8_t { Accept, Drop, Return, Continue, Jump, Goto };
  Kind kind = Kind::Accept;
  std::string chain;  // target of Jump/Goto, else empty

  static Verdict accept() { return {Kind::Accept, {}}; }
  static Verdict drop() { return {Kind::Drop, {}}; }
  static Verdict ret() { return {Kind::Return, {}}; }
  static Verdict jump(std::string chain) { return {Kind::Jump, std::move(chain)}; }
  static Verdict go_to(std::string chain) { return {Kind::Goto, std::move(chain)}; }

  friend auto operator<=>(const Verdict&, const Verdict&) = default;
  friend bool operator==(const Verdict&, const Verdict&) = default;
};

// std::optional's interface over a heap block: 8 bytes when empty. For a
// member of Element that most elements leave empty (only verdict maps'
// elements carry a verdict; an inline optional<Verdict> was 48 bytes in each).
template <typename T>
class BoxedOptional {
 public:
  BoxedOptional() = default;
  BoxedOptional(std::nullopt_t) {}  // NOLINT: implicit, like std::optional
  BoxedOptional(T v) : p_(std::make_unique<T>(std::move(v))) {}  // NOLINT: same
  BoxedOptional(const BoxedOptional& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  BoxedOptional(BoxedOptional&&) noexcept = default;
  BoxedOptional& operator=(const BoxedOptional& o) {
    if (this != &o) p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr;
    return *this;
  }
  BoxedOptional& operator=(BoxedOptional&&) noexcept = default;
  BoxedOptional& operator=(std::nullopt_t) {
    p_.reset();
    return *this;
  }

  bool has_value() const { return p_ != nullptr; }
  explicit operator bool() const { return has_value(); }
  const T& operator*() const { return *p_; }
  T& operator*() { return *p_; }
  const T* operator->() const { return p_.get(); }
  T* operator->() { return p_.get(); }
  void reset() { p_.reset(); }

  // As std::optional: empty equals empty and orders before any value.
  friend bool operator==(const BoxedOptional& a, const BoxedOptional& b) {
    return a.has_value() == b.has_value() && (!a.has_value() || *a == *b);
  }
  friend auto operator<=>(const BoxedOptional& a, const BoxedOptional& b) {
    using R = std::compare_three_way_result_t<T>;
    if (!a.has_value() || !b.has_value()) return R(a.has_value() <=> b.has_value());
    return *a <=> *b;
  }

 private:
  std::unique_ptr<T> p_;
};

// The values of one element key, one per key part, held inline: a set element
// is the agent's most numerous object (338k at 100k pods), and a heap block per
// key was a third of each. Concatenations have at most kMaxKeyParts parts
// (ip . proto . port); the netlink decoder refuses longer keys before they get
// here, and push_back past the end is a programming error (it aborts).
inline constexpr size_t kMaxKeyParts = 3;
class KeyParts {
 public:
  KeyParts() = default;
  KeyParts(std::initializer_list<Value> parts) {
    for (const Value& v : parts) push_back(v);
  }
  size_t size() const { return n_; }
  bool empty() const { return n_ == 0; }
  const Value& operator[](size_t i) const { return parts_[i]; }
  Value& operator[](size_t i) { return parts_[i]; }
  const Value* begin() const { return parts_.data(); }
  const Value* end() const { return parts_.data() + n_; }
  void push_back(const Value& v) {
    if (n_ == kMaxKeyParts) std::abort();
    parts_[n_++] = v;
  }

  friend bool operator==(const KeyParts& a, const KeyParts& b) {
    return std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  friend std::strong_ordering operator<=>(const KeyParts& a, const KeyParts& b) {
    return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
  }

 private:
  std::array<Value, kMaxKeyParts> parts_{};
  uint8_t n_ = 0;
};

// One set element. key has one Value per key part. key_end, when not empty, makes
// the element the inclusive range [key, key_end] (interval sets, one key part;
// a vector, as most elements are not ranges and an empty one costs no block).
// verdict is set exactly for elements of verdict maps.
struct Element {
  KeyParts key;
  std::vector<Value> key_end;
  BoxedOptional<Verdict> verdict;

  bool is_range() const { return !key_end.empty(); }
  friend auto operator<=>(const Element&, const Element&) = default;
  friend bool operator==(const Element&, const Element&) = default;
};

// The elements of one set or map in Element order: std::set<Element>'s
// interface, as far as netpol uses it, over a lighter store. Set elements are
// the agent's most numerous objects (338k at 100k pods), and nearly all of
// them have one of two shapes: one address (a Pods set's), or address .
// protocol . port (a named-port set's), with no range end and no verdict.
// While every element of a set has the shape of its first, the set holds
// them as 20-byte keys in SortedBlocks (where a std::set node was 128 bytes);
// the first element of any other shape moves the whole set to a
// std::set<Element>, where it stays until cleared.
//
// Iterators are invalidated by any change, as a vector's are. Dereferenced,
// they give a copy of the element (the compact form has no Element to refer
// to), so no reference into the set outlives the expression; `->` points
// into the iterator itself (compact form) or the set (general form).
class ElementSet {
  // The compact form's key: `ip` alone, or `ip . proto . port`.
  struct Key {
    IpAddr ip;
    uint8_t proto = 0;
    uint16_t port = 0;
    friend auto operator<=>(const Key&, const Key&) = default;
    friend bool operator==(const Key&, const Key&) = default;
  };
  enum class Shape : uint8_t { None, Address, AddressProtoPort, General };

 public:
  class const_iterator {
   public:
    using iterator_category = std::bidirectional_iterator_tag;
    using value_type = Element;
    using difference_type = std::ptrdiff_t;
    using pointer = const Element*;
    using reference = Element;

    const_iterator() = default;
    Element operator*() const { return general_ ? *it_ : cur_; }
    pointer operator->() const { return general_ ? &*it_ : &cur_; }
    const_iterator& operator++();
    const_iterator operator++(int) {
      const_iterator old = *this;
      ++*this;
      return old;
    }
    const_iterator& operator--();
    const_iterator operator--(int) {
      const_iterator old = *this;
      --*this;
      return old;
    }
    friend bool operator==(const const_iterator& a, const const_iterator& b) {
      return a.general_ ? a.it_ == b.it_ : a.kit_ == b.kit_;
    }

   private:
    friend class ElementSet;
    const_iterator(const ElementSet* owner, SortedBlocks<Key>::const_iterator kit);
    explicit const_iterator(std::set<Element>::const_iterator it) : general_(true), it_(it) {}
    void load();

    const ElementSet* owner_ = nullptr;
    bool general_ = false;
    SortedBlocks<Key>::const_iterator kit_;
    std::set<Element>::const_iterator it_;
    Element cur_;  // compact form: the element at kit_
  };
  using iterator = const_iterator;
  using value_type = Element;
  using size_type = size_t;

  ElementSet() = default;
  ElementSet(std::initializer_list<Element> elements) { insert(elements.begin(), elements.end()); }
  template <typename It>
  ElementSet(It first, It last) {
    insert(first, last);
  }
  // Implicit, as the same elements in another container: lossless.
  ElementSet(const std::set<Element>& elements)  // NOLINT(google-explicit-constructor)
      : ElementSet(elements.begin(), elements.end()) {}
  ElementSet(std::set<Element>&& elements);  // NOLINT(google-explicit-constructor)

  const_iterator begin() const;
  const_iterator end() const;
  size_t size() const { return shape_ == Shape::General ? general_.size() : keys_.size(); }
  bool empty() const { return size() == 0; }

  std::pair<const_iterator, bool> insert(const Element& e);
  const_iterator insert(const_iterator /*hint*/, const Element& e) { return insert(e).first; }
  template <typename It>
  void insert(It first, It last) {
    for (; first != last; ++first) insert(*first);
  }
  size_t erase(const Element& e);
  void clear();

  const_iterator lower_bound(const Element& e) const;
  const_iterator find(const Element& e) const;
  bool contains(const Element& e) const { return find(e) != end(); }
  size_t count(const Element& e) const { return contains(e) ? 1 : 0; }

  friend bool operator==(const ElementSet& a, const ElementSet& b);
  friend std::strong_ordering operator<=>(const ElementSet& a, const ElementSet& b);

 private:
  static Shape shape_of(const Element& e);
  static Key key_of(const Element& e);  // e has a compact shape
  Element element_of(const Key& k) const;
  void to_general();

  Shape shape_ = Shape::None;  // None: empty, no shape chosen yet
  SortedBlocks<Key> keys_;     // Address and AddressProtoPort
  std::set<Element> general_;  // General
};

// A named set, or a map when `data` is set. key has several types for a
// concatenation (`ipv4_addr . inet_proto . inet_service`).
struct Set {
  std::string name;
  std::vector<KeyType> key;
  bool interval = false;  // flags interval: elements may be ranges/prefixes
  std::optional<DataType> data;
  std::string comment;
  ElementSet elements;

  bool is_map() const { return data.has_value(); }
  // Same declaration (everything except elements and comment).
  bool same_type(const Set& other) const {
    return key == other.key && interval == other.interval && data == other.data;
  }
  friend auto operator<=>(const Set&, const Set&) = default;
  friend bool operator==(const Set&, const Set&) = default;
};

// Packet fields a rule can match on or look up in a set.
enum class Field : uint8_t {
  IpSaddr,      // ip saddr      (IPv4 only, ipv4_addr)
  IpDaddr,      // ip daddr
  Ip6Saddr,     // ip6 saddr     (IPv6 only, ipv6_addr)
  Ip6Daddr,     // ip6 daddr
  MetaL4Proto,  // meta l4proto  (inet_proto)
  ThDport,      // th dport      (inet_service; any transport with ports)
  IifName,      // iifname       (ifname; in a bridge table: the bridge port)
};
KeyType key_type(Field f);

// Conntrack states as the kernel numbers them (NF_CT_STATE_*_BIT).
enum CtState : uint8_t {
  kCtInvalid = 1,
  kCtEstablished = 2,
  kCtRelated = 4,
  kCtNew = 8,
  kCtUntracked = 64,
};

// --- The closed set of rule expressions -------------------------------------

// ct state S1,S2: the packet's conntrack state is one of `states` (CtState bits).
struct CtStateMatch {
  uint8_t states = 0;
  friend auto operator<=>(const CtStateMatch&, const CtStateMatch&) = default;
  friend bool operator==(const CtStateMatch&, const CtStateMatch&) = default;
};

// fib saddr type local: the source address is one of this host's addresses.
struct FibSaddrLocal {
  friend auto operator<=>(const FibSaddrLocal&, const FibSaddrLocal&) = default;
  friend bool operator==(const FibSaddrLocal&, const FibSaddrLocal&) = default;
};

// meta l4proto P.
struct L4ProtoMatch {
  uint8_t proto = 0;
  friend auto operator<=>(const L4ProtoMatch&, const L4ProtoMatch&) = default;
  friend bool operator==(const L4ProtoMatch&, const L4ProtoMatch&) = default;
};

// tcp flags & MASK != VALUE: the packet is TCP (the match carries nft's
// `meta l4proto tcp` dependency) and its flags, masked, differ from VALUE.
// Flag bits as in the TCP header (kTcpFin ... kTcpCwr).
struct TcpFlagsMatch {
  uint8_t mask = 0;
  uint8_t value = 0;
  friend auto operator<=>(const TcpFlagsMatch&, const TcpFlagsMatch&) = default;
  friend bool operator==(const TcpFlagsMatch&, const TcpFlagsMatch&) = default;
};
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08,
                         kTcpAck = 0x10, kTcpUrg = 0x20, kTcpEcn = 0x40, kTcpCwr = 0x80;

struct PortRange {
  uint16_t first = 0;
  uint16_t last = 0;
  friend auto operator<=>(const PortRange&, const PortRange&) = default;
  friend bool operator==(const PortRange&, const PortRange&) = default;
};

// th dport P, th dport A-B, or th dport { P, A-B, ... } (anonymous set) for
// several ranges. Ranges are sorted and disjoint.
struct DportMatch {
  std::vector<PortRange> ports;
  friend auto operator<=>(const DportMatch&, const DportMatch&) = default;
  friend bool operator==(const DportMatch&, const DportMatch&) = default;
};

// F1 . F2 ... @set: the (concatenated) fields are an element of a named set
// (`F != @set` when `negate`: they are not).
struct SetMatch {
  std::vector<Field> key;
  std::string set;
  bool negate = false;
  friend auto operator<=>(const SetMatch&, const SetMatch&) = default;
  friend bool operator==(const SetMatch&, const SetMatch&) = default;
};

// F vmap @map: look the field up in a verdict map; a hit applies its verdict,
// a miss continues with the next rule. Terminal: last expression of a rule.
struct VmapLookup {
  Field key = Field::IpSaddr;
  std::string map;
  friend auto operator<=>(const VmapLookup&, const VmapLookup&) = default;
  friend bool operator==(const VmapLookup&, const VmapLookup&) = default;
};

// limit rate R/second burst B packets: matches while the rule's own token
// bucket (R tokens a second, at most B) has a token for the packet; over the
// limit the rule stops matching and evaluation goes on with the next rule.
// The bucket lives in the kernel and belongs to this one rule.
struct LimitMatch {
  uint32_t rate = 0;   // packets per second, > 0
  uint32_t burst = 0;  // packets, > 0
  friend auto operator<=>(const LimitMatch&, const LimitMatch&) = default;
  friend bool operator==(const LimitMatch&, const LimitMatch&) = default;
};

// log prefix "P" group G: hands the packet to NFLOG group G (netpol's audit
// listener) with the prefix P, then goes on with the rule. The prefix is at
// most kMaxLogPrefixBytes of [A-Za-z0-9 _:./-], so it needs no escaping.
struct LogStmt {
  uint16_t group = 0;
  std::string prefix;
  friend auto operator<=>(const LogStmt&, const LogStmt&) = default;
  friend bool operator==(const LogStmt&, const LogStmt&) = default;
};
// NF_LOG_PREFIXLEN is 128 including the terminating NUL.
inline constexpr size_t kMaxLogPrefixBytes = 127;
// True if `prefix` is a LogStmt prefix netpol may write (see LogStmt).
bool valid_log_prefix(std::string_view prefix);

// counter: counts the packets and bytes that reach it. The numbers live only in
// the kernel (the audit listener reads and resets them); as a value, every
// counter is equal to every other, so read-back and diffs ignore them.
struct CounterStmt {
  friend auto operator<=>(const CounterStmt&, const CounterStmt&) = default;
  friend bool operator==(const CounterStmt&, const CounterStmt&) = default;
};

// Matches are anded in order; Verdict and VmapLookup end a rule.
using Expr = std::variant<CtStateMatch, FibSaddrLocal, L4ProtoMatch, DportMatch, SetMatch,
                          VmapLookup, Verdict, LimitMatch, LogStmt, CounterStmt, TcpFlagsMatch>;

struct Rule {
  std::string chain;
  std::vector<Expr> exprs;
  std::string comment;

  friend auto operator<=>(const Rule&, const Rule&) = default;
  friend bool operator==(const Rule&, const Rule&) = default;
};

// The whole content of one table: what the agent wants, or what it read back.
// Canonical, so == means "same table content": sets (and maps) and chains by
// name; rules by chain name, in evaluation order, with an entry only for chains
// that have at least one rule.
struct Ruleset {
  Table table;
  std::map<std::string, Set> sets;
  std::map<std::string, Chain> chains;
  std::map<std::string, std::vector<Rule>> rules;

  // Appends to rule.chain's list (does not check that the chain exists).
  void append(Rule rule);
  // Rules of `chain` (empty if none).
  const std::vector<Rule>& rules_of(const std::string& chain) const;

  friend bool operator==(const Ruleset&, const Ruleset&) = default;
};

// Names for messages and script text.
const char* to_string(TableFamily f);  // "inet", "bridge"
const char* to_string(Hook h);         // "forward"
const char* to_string(KeyType t);      // "ipv4_addr"
const char* to_string(Field f);        // "ip saddr"

}  // namespace netpol::nft
