// ElementSet (nft/objects.h): compact keys in SortedBlocks while every element
// has the shape of the first, a std::set<Element> otherwise.
#include <algorithm>

#include "nft/objects.h"

namespace netpol::nft {

ElementSet::const_iterator::const_iterator(const ElementSet* owner,
                                           SortedBlocks<Key>::const_iterator kit)
    : owner_(owner), kit_(kit) {
  load();
}

void ElementSet::const_iterator::load() {
  if (kit_ != owner_->keys_.end()) cur_ = owner_->element_of(*kit_);
}

ElementSet::const_iterator& ElementSet::const_iterator::operator++() {
  if (general_) {
    ++it_;
  } else {
    ++kit_;
    load();
  }
  return *this;
}

ElementSet::const_iterator& ElementSet::const_iterator::operator--() {
  if (general_) {
    --it_;
  } else {
    --kit_;
    load();
  }
  return *this;
}

ElementSet::ElementSet(std::set<Element>&& elements) {
  const Shape first = elements.empty() ? Shape::None : shape_of(*elements.begin());
  if (first != Shape::General &&
      std::all_of(elements.begin(), elements.end(),
                  [&](const Element& e) { return shape_of(e) == first; })) {
    insert(elements.begin(), elements.end());
  } else {
    shape_ = Shape::General;
    general_ = std::move(elements);
  }
}

ElementSet::Shape ElementSet::shape_of(const Element& e) {
  if (e.is_range() || e.verdict || e.key.empty() || !std::holds_alternative<IpAddr>(e.key[0])) {
    return Shape::General;
  }
  if (e.key.size() == 1) return Shape::Address;
  if (e.key.size() == 3 && std::holds_alternative<Proto>(e.key[1]) &&
      std::holds_alternative<Port>(e.key[2])) {
    return Shape::AddressProtoPort;
  }
  return Shape::General;
}

ElementSet::Key ElementSet::key_of(const Element& e) {
  Key k{std::get<IpAddr>(e.key[0])};
  if (e.key.size() == 3) {
    k.proto = std::get<Proto>(e.key[1]).num;
    k.port = std::get<Port>(e.key[2]).num;
  }
  return k;
}

Element ElementSet::element_of(const Key& k) const {
  Element e;
  e.key.push_back(k.ip);
  if (shape_ == Shape::AddressProtoPort) {
    e.key.push_back(Proto{k.proto});
    e.key.push_back(Port{k.port});
  }
  return e;
}

ElementSet::const_iterator ElementSet::begin() const {
  if (shape_ == Shape::General) return const_iterator(general_.begin());
  return const_iterator(this, keys_.begin());
}

ElementSet::const_iterator ElementSet::end() const {
  if (shape_ == Shape::General) return const_iterator(general_.end());
  return const_iterator(this, keys_.end());
}

void ElementSet::to_general() {
  for (const Key& k : keys_) general_.insert(general_.end(), element_of(k));
  keys_.clear();
  shape_ = Shape::General;
}

std::pair<ElementSet::const_iterator, bool> ElementSet::insert(const Element& e) {
  if (shape_ != Shape::General) {
    const Shape s = shape_of(e);
    if (keys_.empty() && s != Shape::General) shape_ = s;
    if (s == shape_) {
      auto [kit, added] = keys_.insert(key_of(e));
      return {const_iterator(this, kit), added};
    }
    to_general();
  }
  auto [it, added] = general_.insert(e);
  return {const_iterator(it), added};
}

size_t ElementSet::erase(const Element& e) {
  if (shape_ == Shape::General) return general_.erase(e);
  if (keys_.empty() || shape_of(e) != shape_) return 0;
  return keys_.erase(key_of(e));
}

void ElementSet::clear() {
  keys_.clear();
  general_.clear();
  shape_ = Shape::None;
}

ElementSet::const_iterator ElementSet::lower_bound(const Element& e) const {
  if (shape_ == Shape::General) return const_iterator(general_.lower_bound(e));
  if (keys_.empty()) return end();
  if (shape_of(e) == shape_) return const_iterator(this, keys_.lower_bound(key_of(e)));
  // A probe of another shape (a key with a verdict, say) by Element order,
  // so it lands where std::set would put it.
  return const_iterator(this,
                        keys_.partition_point([&](const Key& k) { return element_of(k) < e; }));
}

ElementSet::const_iterator ElementSet::find(const Element& e) const {
  auto it = lower_bound(e);
  if (it != end() && *it == e) return it;
  return end();
}

bool operator==(const ElementSet& a, const ElementSet& b) {
  if (a.size() != b.size()) return false;
  if (a.shape_ == b.shape_ && a.shape_ != ElementSet::Shape::General) return a.keys_ == b.keys_;
  return std::equal(a.begin(), a.end(), b.begin(), b.end());
}

std::strong_ordering operator<=>(const ElementSet& a, const ElementSet& b) {
  return std::lexicographical_compare_three_way(a.begin(), a.end(), b.begin(), b.end());
}

}  // namespace netpol::nft
