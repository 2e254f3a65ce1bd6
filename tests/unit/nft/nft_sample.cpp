// Prints nft scripts rendered from the hand-built rich IR (fixtures.h), so a
// ctest can load them into a real kernel in a throwaway network namespace:
//   nft_sample full         full replace of the rich IR
//   nft_sample incremental  one-command-per-line changes on top of it
// Test-only; exits 1 if the objects do not form a valid transaction.
#include <cstdio>
#include <iostream>
#include <string>

#include "fixtures.h"
#include "nft/render.h"
#include "nft/script.h"
#include "nft/transaction.h"

using namespace netpol;
using namespace netpol::nft;

namespace {

int fail(const std::string& msg) {
  std::cerr << "nft_sample: " << msg << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string mode = argc > 1 ? argv[1] : "full";
  Ruleset rich = render(fx::rich_ir()).ruleset;
  if (mode == "full") {
    auto tx = Transaction::replace(rich);
    if (!tx.ok()) return fail(tx.message());
    std::cout << to_script(tx.value());
    return 0;
  }
  if (mode != "incremental") return fail("unknown mode " + mode);
  Transaction tx(TableFamily::Inet, kTableName, rich);
  std::string db = pod_chain_name(Direction::Ingress, "prod", "db-0");
  std::string web = pod_chain_name(Direction::Ingress, "prod", "web-1");
  std::string fresh = pod_chain_name(Direction::Egress, "prod", "new-0");
  Op ops[] = {
      {Verb::Add, Elements{"pods-AAAAAAAA-v4", {{{fx::ip("10.0.3.3")}, {}, {}}}}},
      {Verb::Delete, Elements{"pods-AAAAAAAA-v6", {{{fx::ip("fd00::1:5")}, {}, {}}}}},
      {Verb::Add,
       Elements{"cidr-CCCCCCCC-v4", {{{fx::ip("10.1.0.0")}, {fx::ip("10.1.0.255")}, {}}}}},
      {Verb::Delete, Elements{"cidr-CCCCCCCC-v4",
                              {{{fx::ip("10.0.0.0")}, {fx::ip("10.0.255.255")}, {}},
                               {{fx::ip("192.168.1.1")}, {fx::ip("192.168.1.9")}, {}}}}},
      {Verb::Delete,
       Elements{"nport-DDDDDDDD-v4", {{{fx::ip("10.0.2.7"), Proto{6}, Port{80}}, {}, {}}}}},
      {Verb::Delete, Elements{"ingress-v4", {{{fx::ip("10.0.1.9")}, {}, Verdict::jump(db)}}}},
      {Verb::Flush, Chain{db, "", std::nullopt}},
      {Verb::Delete, Chain{db, "", std::nullopt}},
      {Verb::Flush, Chain{web, "", std::nullopt}},
      {Verb::Add, Rule{web,
                       {SetMatch{{Field::IpSaddr}, "pods-AAAAAAAA-v4"}, Verdict::ret()},
                       "prod/allow-frontend ingress[0]"}},
      {Verb::Add, Rule{web, {Verdict::drop()}, "no policy allows this"}},
      {Verb::Add, Set{"nport-EEEEEEEE-v4",
                      {KeyType::Ipv4Addr, KeyType::InetProto, KeyType::InetService},
                      false,
                      std::nullopt,
                      "port name 'dns' (UDP)",
                      {{{fx::ip("10.0.1.5"), Proto{17}, Port{53}}, {}, {}}}}},
      {Verb::Add, Chain{fresh, "egress of pod prod/new-0; isolated by prod/egress", std::nullopt}},
      {Verb::Add,
       Rule{fresh,
            {L4ProtoMatch{17},
             SetMatch{{Field::IpDaddr, Field::MetaL4Proto, Field::ThDport}, "nport-EEEEEEEE-v4"},
             Verdict::ret()},
            "prod/egress egress[0]"}},
      {Verb::Add, Rule{fresh, {Verdict::drop()}, "no policy allows this"}},
      {Verb::Add, Elements{"egress-v4", {{{fx::ip("10.0.1.77")}, {}, Verdict::jump(fresh)}}}},
      {Verb::Flush, Set{"pods-BBBBBBBB-v4", {KeyType::Ipv4Addr}, false, std::nullopt, "", {}}},
  };
  for (Op& op : ops) tx.append(std::move(op));
  if (!tx.ok()) return fail(tx.status().message());
  std::cout << to_script(tx);
  return 0;
}
