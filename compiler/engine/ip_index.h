// Enforceable pods by IP address: who holds each address (set elements are
// unions, so an element stays while any member still holds it) and which
// addresses two or more local pods claim, with the owner of each
// (compiler/ip_owner.h) and the warnings that name them.
#pragma once

#include <cstddef>
#include <memory>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "compiler/engine/records.h"

namespace netpol::compiler::engine {

class IpIndex {
 public:
  void reserve(size_t pods) { holders_.reserve(pods); }

  // Called when a pod becomes enforceable / stops being enforceable; its IPs
  // must not change in between.
  void add(PodRec* p) {
    for (const auto& ip : p->ips) holders_[ip].add(p);
  }
  void remove(PodRec* p) {
    for (const auto& ip : p->ips) {
      auto it = holders_.find(ip);
      if (it == holders_.end()) continue;
      it->second.remove(p);
      if (it->second.empty()) holders_.erase(it);
    }
  }

  // Calls f(const PodRec*) for every enforceable pod holding `ip`.
  template <typename F>
  void each(const IpAddr& ip, F&& f) const {
    auto it = holders_.find(ip);
    if (it != holders_.end()) it->second.each(f);
  }

  // Whether two or more local pods hold `ip` (as of the last update()).
  bool contested(const IpAddr& ip) const { return contested_.count(ip) != 0; }
  // The local pod that enforces `ip` (compiler::outranks), nullptr if none.
  const PodRec* owner(const IpAddr& ip) const;

  // Re-decides which of `ips` are contested; calls mark(const PodRec*) for
  // every local holder of each, whose LocalPod::ips may change.
  template <typename F>
  void update(const std::set<IpAddr>& ips, F&& mark) {
    for (const auto& ip : ips) {
      size_t local = 0;
      each(ip, [&](const PodRec* q) {
        if (!q->local()) return;
        ++local;
        mark(q);
      });
      if (local >= 2) {
        contested_.insert(ip);
      } else {
        contested_.erase(ip);
      }
    }
  }

  // "IP a held by x and y; enforcing for x", one per contested address, in
  // address order.
  std::vector<std::string> warnings() const;

 private:
  // The enforceable pods holding one IP: almost always exactly one, kept
  // inline so the index costs no allocation per address; the rare others in
  // a list of their own (16 bytes in all, where an inline vector made each
  // of the 110k index nodes 64 bytes instead of 48).
  struct Holders {
    PodRec* first = nullptr;
    std::unique_ptr<std::vector<PodRec*>> more;  // null: none

    bool empty() const { return first == nullptr; }
    void add(PodRec* p) {
      if (!first) {
        first = p;
      } else {
        if (!more) more = std::make_unique<std::vector<PodRec*>>();
        more->push_back(p);
      }
    }
    void remove(PodRec* p) {
      if (first != p) {
        if (more) erase_one(*more, p);
      } else if (!more || more->empty()) {
        first = nullptr;
      } else {
        first = more->back();
        more->pop_back();
      }
      if (more && more->empty()) more.reset();
    }
    template <typename F>
    void each(F&& f) const {
      if (first) f(first);
      if (more)
        for (PodRec* p : *more) f(p);
    }
  };

  std::unordered_map<IpAddr, Holders, IpHash> holders_;
  std::set<IpAddr> contested_;  // IPs held by two or more local pods
};

}  // namespace netpol::compiler::engine
