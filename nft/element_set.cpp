// ElementSet (nft/objects.h): sorted blocks of bare addresses while every
// element is one, a std::set<Element> otherwise.
#include <algorithm>

#include "nft/objects.h"

namespace netpol::nft {

namespace {

Element address_element(const IpAddr& ip) {
  Element e;
  e.key.push_back(ip);
  return e;
}

}  // namespace

ElementSet::const_iterator::const_iterator(const ElementSet* owner, size_t block, size_t pos)
    : owner_(owner), block_(block), pos_(pos) {
  cur_.key.push_back(IpAddr{});
  load();
}

void ElementSet::const_iterator::load() {
  if (block_ < owner_->blocks_.size()) cur_.key[0] = owner_->blocks_[block_][pos_];
}

ElementSet::const_iterator& ElementSet::const_iterator::operator++() {
  if (!compact_) {
    ++it_;
    return *this;
  }
  if (++pos_ == owner_->blocks_[block_].size()) {
    ++block_;
    pos_ = 0;
  }
  load();
  return *this;
}

ElementSet::const_iterator& ElementSet::const_iterator::operator--() {
  if (!compact_) {
    --it_;
    return *this;
  }
  if (pos_ == 0) {
    --block_;
    pos_ = owner_->blocks_[block_].size() - 1;
  } else {
    --pos_;
  }
  load();
  return *this;
}

ElementSet::ElementSet(std::set<Element>&& elements) {
  if (std::all_of(elements.begin(), elements.end(),
                  [](const Element& e) { return compact_key(e) != nullptr; })) {
    insert(elements.begin(), elements.end());
  } else {
    compact_ = false;
    general_ = std::move(elements);
  }
}

const IpAddr* ElementSet::compact_key(const Element& e) {
  if (e.key.size() != 1 || e.is_range() || e.verdict) return nullptr;
  return std::get_if<IpAddr>(&e.key[0]);
}

ElementSet::const_iterator ElementSet::begin() const {
  if (!compact_) return const_iterator(general_.begin());
  return const_iterator(this, 0, 0);
}

ElementSet::const_iterator ElementSet::end() const {
  if (!compact_) return const_iterator(general_.end());
  return const_iterator(this, blocks_.size(), 0);
}

void ElementSet::to_general() {
  for (const Block& b : blocks_) {
    for (const IpAddr& ip : b) general_.insert(general_.end(), address_element(ip));
  }
  blocks_ = {};
  size_ = 0;
  compact_ = false;
}

std::pair<ElementSet::const_iterator, bool> ElementSet::insert(const Element& e) {
  const IpAddr* ip = compact_ ? compact_key(e) : nullptr;
  if (!ip) {
    if (compact_) to_general();
    auto [it, added] = general_.insert(e);
    return {const_iterator(it), added};
  }
  // The first block whose last address is not below ip, or the last block
  // (ip goes at its end). In-order inserts (every bulk load) take the end.
  size_t b = blocks_.size();
  if (b == 0 || blocks_.back().back() < *ip) {
    if (b == 0 || blocks_.back().size() == kBlock) {
      blocks_.emplace_back();
      blocks_.back().reserve(1);
      ++b;
    }
    blocks_.back().push_back(*ip);
    ++size_;
    return {const_iterator(this, b - 1, blocks_.back().size() - 1), true};
  }
  b = static_cast<size_t>(std::partition_point(blocks_.begin(), blocks_.end(),
                                               [&](const Block& blk) { return blk.back() < *ip; }) -
                          blocks_.begin());
  Block& blk = blocks_[b];
  auto at = std::lower_bound(blk.begin(), blk.end(), *ip);
  size_t pos = static_cast<size_t>(at - blk.begin());
  if (at != blk.end() && *at == *ip) return {const_iterator(this, b, pos), false};
  blk.insert(at, *ip);
  ++size_;
  if (blk.size() > kBlock) {
    // Split in two exact halves (no spare capacity kept in either).
    const size_t half = blk.size() / 2;
    Block lo(blk.begin(), blk.begin() + static_cast<std::ptrdiff_t>(half));
    Block hi(blk.begin() + static_cast<std::ptrdiff_t>(half), blk.end());
    blocks_[b] = std::move(lo);
    blocks_.insert(blocks_.begin() + static_cast<std::ptrdiff_t>(b) + 1, std::move(hi));
    if (pos >= half) {
      ++b;
      pos -= half;
    }
  }
  return {const_iterator(this, b, pos), true};
}

size_t ElementSet::erase(const Element& e) {
  if (!compact_) return general_.erase(e);
  const IpAddr* ip = compact_key(e);
  if (!ip) return 0;
  auto bit = std::partition_point(blocks_.begin(), blocks_.end(),
                                  [&](const Block& blk) { return blk.back() < *ip; });
  if (bit == blocks_.end()) return 0;
  auto at = std::lower_bound(bit->begin(), bit->end(), *ip);
  if (at == bit->end() || *at != *ip) return 0;
  bit->erase(at);
  if (bit->empty()) blocks_.erase(bit);
  --size_;
  return 1;
}

void ElementSet::clear() {
  blocks_ = {};
  size_ = 0;
  general_.clear();
  compact_ = true;
}

ElementSet::const_iterator ElementSet::lower_bound(const Element& e) const {
  if (!compact_) return const_iterator(general_.lower_bound(e));
  const IpAddr* key = compact_key(e);
  // A probe of another shape (say a key of several parts) by Element order,
  // so it lands where std::set would put it.
  auto below = [&](const IpAddr& ip) { return key ? ip < *key : address_element(ip) < e; };
  auto bit = std::partition_point(blocks_.begin(), blocks_.end(),
                                  [&](const Block& blk) { return below(blk.back()); });
  if (bit == blocks_.end()) return end();
  auto at = std::partition_point(bit->begin(), bit->end(), below);
  return const_iterator(this, static_cast<size_t>(bit - blocks_.begin()),
                        static_cast<size_t>(at - bit->begin()));
}

ElementSet::const_iterator ElementSet::find(const Element& e) const {
  auto it = lower_bound(e);
  if (it != end() && *it == e) return it;
  return end();
}

bool operator==(const ElementSet& a, const ElementSet& b) {
  if (a.size() != b.size()) return false;
  if (a.compact_ && b.compact_) {
    return std::equal(a.blocks_.begin(), a.blocks_.end(), b.blocks_.begin(), b.blocks_.end()) ||
           std::equal(a.begin(), a.end(), b.begin(), b.end());
  }
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

std::strong_ordering operator<=>(const ElementSet& a, const ElementSet& b) {
  return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
}

}  // namespace netpol::nft
