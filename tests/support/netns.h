// Throwaway network namespaces for tests and benchmarks that need a kernel,
// and commands run inside them.
//
// Netns::create() unshares a fresh network namespace for the calling thread
// (it starts with no nftables tables at all) and the destructor switches back;
// the namespace disappears with its last reference, even if the test crashes,
// so no test can leave rules behind or touch the host's tables. Netlink
// sockets opened while inside stay bound to it. run_in_netns() is the
// same for a body run on a thread of its own. Test-only.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace netpol::testsupport {

struct Command {
  int status = -1;  // exit status, or -1 if it could not run
  std::string out;
  std::string err;
};

class Netns {
 public:
  // nullptr (with *why set) when namespaces cannot be created (not root).
  static std::unique_ptr<Netns> create(std::string* why);
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;

  // Switches the calling thread into this namespace / back to the original.
  bool enter();
  bool leave();

  // Runs argv inside this namespace (whatever namespace the caller is in),
  // feeding `input` on stdin.
  Command run(const std::vector<std::string>& argv, const std::string& input = "") const;

  // `nft -j list table inet netpol` with every "handle" removed, pretty-printed
  // and sorted, so tables loaded different ways compare as text.
  std::string listing(const std::string& table = "inet netpol") const;
  // canonical_nft_json of the same listing.
  std::string canonical_listing(const std::string& table = "inet netpol") const;

 private:
  Netns(int original, int self) : original_(original), self_(self) {}
  int original_;
  int self_;
};

// Runs `body` on a new thread inside a fresh network namespace, which goes
// away with the thread; everything the body starts (threads, child
// processes) lives there. False (with *why) when namespaces cannot be created.
bool run_in_netns(const std::function<void()>& body, std::string* why);

// Strips "handle" members from nft's JSON output and pretty-prints it.
std::string normalize_nft_json(const std::string& json);

// Like normalize_nft_json, but independent of creation order: objects sorted
// by kind and name (rules keep their order within a chain), set elements
// sorted. Tables built by different op sequences compare equal iff the kernel
// holds the same content.
std::string canonical_nft_json(const std::string& json);

}  // namespace netpol::testsupport
