// policyc matrix and diff: the reachability of every ordered pair of pods, and
// what a change of the manifests would flip.
//
// Every answer is Explainer::evaluate()'s (explain's evaluation of the rules
// the kernel gets), asked once per distinct identity rather than per pod
// pair: pods whose chains are equal and whose addresses sit in the same sets
// cannot be told apart by any rule, so one evaluation serves them all. That
// keeps 1,000 pods (a million pairs a probe) interactive.
//
// Pure: no I/O. Renderers return text; the caller writes it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "compiler/policyc/explain.h"
#include "k8s/model.h"

namespace netpol::policyc {

// One port and protocol every pair is probed on.
struct Probe {
  uint16_t port = 0;
  k8s::Protocol protocol = k8s::Protocol::TCP;

  std::string key() const;    // "TCP/80": the JSON contract's key
  std::string label() const;  // "tcp/80": as the lab prints it
  friend auto operator<=>(const Probe&, const Probe&) = default;
  friend bool operator==(const Probe&, const Probe&) = default;
};

// Every (port, protocol) a container of `pods` declares, in key order;
// {80/TCP} when none declares any.
std::vector<Probe> declared_probes(const std::vector<const k8s::Pod*>& pods);

// The pods a matrix has rows and columns for: Running, with an IP, not
// hostNetwork (their traffic is the node's), sorted by "namespace/name".
// `keep` (optional) filters by namespace.
std::vector<const k8s::Pod*> matrix_pods(
    const k8s::Objects& objects, const std::function<bool(const std::string& ns)>& keep = {});

// One cell: the verdict of each direction as explain gives it. `ingress` is
// null when egress already denied (the ingress chain is never reached) or
// the two pods share no address family.
struct Cell {
  bool allowed = false;
  bool no_family = false;  // no address family both pods have: nothing can connect
  const DirectionVerdict* egress = nullptr;
  const DirectionVerdict* ingress = nullptr;
};

class Matrix {
 public:
  // Evaluates `probes` over `pods` (which must belong to explainer.objects()).
  // `family`: the address family every pair connects over (as explain
  // --family); default: IPv4 when both pods have one, else IPv6.
  Matrix(Explainer& explainer, std::vector<const k8s::Pod*> pods, std::vector<Probe> probes,
         std::optional<Family> family = std::nullopt);
  ~Matrix();
  Matrix(Matrix&&) noexcept;
  Matrix& operator=(Matrix&&) noexcept;

  const std::vector<const k8s::Pod*>& pods() const { return pods_; }
  const std::vector<Probe>& probes() const { return probes_; }
  Cell cell(size_t probe, size_t from, size_t to) const;
  // Distinct identities the evaluation used (for the benchmark's report).
  size_t evaluations() const;

 private:
  struct Grid;
  int pick(const Grid& g, size_t a, size_t b) const;
  std::vector<const k8s::Pod*> pods_;
  std::vector<Probe> probes_;
  std::optional<Family> family_;
  std::vector<std::unique_ptr<Grid>> grids_;
};

// explain's answer for one cell as one line: "denied: ingress of x/b: isolated
// by x/deny, no rule allows it".
std::string one_line(const Matrix& m, size_t probe, size_t from, size_t to);

// The outputs of `policyc matrix` (docs/policyc-reports.md).
std::string render_table(const Matrix& m);
std::string render_json(const Matrix& m);
std::string render_html(const Matrix& m, const std::string& title);

// --- diff ----------------------------------------------------------------------

struct Flip {
  Probe probe;
  std::string from, to;
  bool before = false, after = false;
  std::string why;  // the policy (and rule) responsible
};

// The cells whose verdict differs between `before` and `after`, over the pods
// both hold (by "namespace/name") and the probes both evaluated; in probe,
// then from, then to order.
std::vector<Flip> diff(const Matrix& before, const Matrix& after);

std::string render_diff_table(const std::vector<Flip>& flips);
// {"TCP/80": [{"from": .., "to": .., "before": .., "after": .., "why": ..}], ...}:
// every probe key present, an empty list when nothing flips on it.
std::string render_diff_json(const std::vector<Flip>& flips, const std::vector<Probe>& probes);

}  // namespace netpol::policyc
