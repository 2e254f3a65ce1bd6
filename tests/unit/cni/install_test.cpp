// `netpol-cni install`, the DaemonSet's init container: the binary lands in
// the CNI bin directory and runs from there; the entry is appended to the
// conflist the runtime uses (the lexically first), once; no conflist yet is
// a failure (the init container is retried until the main CNI wrote one).
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/unit/cni/harness.h"

namespace netpol::cni {
namespace {

using json = nlohmann::json;

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

TEST(CniInstall, CopiesTheBinaryAndChainsItInTheFirstConflistOnce) {
  test::TempDir dir;
  std::filesystem::create_directories(dir.file("bin"));
  std::filesystem::create_directories(dir.file("net.d"));
  const std::vector<std::string> args = {"install", "--bin-dir", dir.file("bin"),
                                         "--conf-dir=" + dir.file("net.d"), "--timeout-seconds=7"};
  test::ProgramRun r = test::run_program(test::plugin_path(), {}, "", args);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no CNI configuration"), std::string::npos) << r.err;

  const json kindnet = json::parse(R"({"cniVersion":"0.4.0","name":"kindnet","plugins":[
      {"type":"ptp","ipMasq":false,"ipam":{"type":"host-local"}},{"type":"portmap","capabilities":{"portMappings":true}}]})");
  std::ofstream(dir.file("net.d/10-kindnet.conflist")) << kindnet.dump(2);
  std::ofstream(dir.file("net.d/99-other.conflist")) << kindnet.dump(2);
  r = test::run_program(test::plugin_path(), {}, "", args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json chained = json::parse(slurp(dir.file("net.d/10-kindnet.conflist")));
  ASSERT_EQ(chained["plugins"].size(), 3u);
  EXPECT_EQ(chained["plugins"][0], kindnet["plugins"][0]) << "the main plugin untouched";
  EXPECT_EQ(chained["plugins"][2],
            json::parse(R"({"type":"netpol-cni","socket":"/run/netpol/cni.sock",
      "timeoutSeconds":7,"failOpen":false})"));
  EXPECT_EQ(json::parse(slurp(dir.file("net.d/99-other.conflist"))), kindnet) << "only the first";

  r = test::run_program(test::plugin_path(), {}, "", args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("already chains"), std::string::npos) << r.out;
  EXPECT_EQ(json::parse(slurp(dir.file("net.d/10-kindnet.conflist"))), chained);

  struct stat st {};
  ASSERT_EQ(::stat(dir.file("bin/netpol-cni").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  const test::ProgramRun v =
      test::run_program(dir.file("bin/netpol-cni"), {{"CNI_COMMAND", "VERSION"}}, "");
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("supportedVersions"), std::string::npos);

  EXPECT_EQ(test::run_program(test::plugin_path(), {}, "", {"install", "--bogus"}).exit_code, 2);
}

}  // namespace
}  // namespace netpol::cni
