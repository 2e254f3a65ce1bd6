// policyc: compile Kubernetes NetworkPolicies for one node, offline.
//
//   policyc compile --node NODE -f PATH [-f PATH ...] [-o nft|json]
//
// -o nft (default) prints the nft script that atomically replaces netpol's table
// with exactly what the agent would program on NODE; -o json prints the IR.
// Exit status: 0 ok; 1 invalid input (every problem on stderr, nothing on
// stdout); 2 usage error; 3 internal error (a bug: the compiler produced an IR
// the renderer cannot turn into a valid table). Output is rendered into memory
// first and written only when complete: never a partial script.
#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>
#include <vector>

#include "compiler/compiler.h"
#include "compiler/ir.h"
#include "k8s/decode.h"
#include "nft/render.h"
#include "nft/script.h"
#include "nft/transaction.h"

namespace {

constexpr int kExitInvalidInput = 1;
constexpr int kExitUsage = 2;
constexpr int kExitInternal = 3;

struct CompileArgs {
  std::string node;
  std::vector<std::string> files;
  std::string output = "nft";
};

void warn(const std::string& message) {
  std::cerr << "policyc: warning: " << message << "\n";
}

// Writes all of `text` to stdout; false (with a message) if it could not.
bool write_stdout(const std::string& text) {
  if (std::fwrite(text.data(), 1, text.size(), stdout) != text.size() || std::fflush(stdout) != 0) {
    std::cerr << "policyc: cannot write output: " << std::strerror(errno) << "\n";
    return false;
  }
  return true;
}

int run_compile(const CompileArgs& args) {
  netpol::k8s::DecodeResult decoded = netpol::k8s::load_manifests(args.files);
  netpol::k8s::complete_snapshot(decoded);
  if (!decoded.ok()) {
    for (const auto& e : decoded.errors) std::cerr << e.str() << "\n";
    return kExitInvalidInput;
  }

  netpol::ir::RuleSet rules = netpol::compiler::compile(decoded.objects, args.node);
  for (const std::string& w : rules.warnings) warn(w);

  std::string out;
  if (args.output == "json") {
    out = netpol::ir::to_json(rules);
  } else {
    netpol::nft::Rendered rendered = netpol::nft::render(rules);
    for (const std::string& w : rendered.warnings) warn(w);
    auto tx = netpol::nft::Transaction::replace(rendered.ruleset);
    if (!tx.ok()) {
      std::cerr << "policyc: internal error: " << tx.message() << "\n";
      return kExitInternal;
    }
    out = netpol::nft::to_script(tx.value());
  }
  return write_stdout(out) ? 0 : kExitInvalidInput;
}

int run(int argc, char** argv) {
  CLI::App app{
      "policyc: compile Kubernetes NetworkPolicies into the nftables ruleset netpol's agent "
      "would program on one node (a dry run: nothing is changed on this machine)",
      "policyc"};
  app.set_version_flag("--version", std::string("policyc ") + NETPOL_VERSION);
  app.require_subcommand(1);
  app.footer(
      "Exit status: 0 ok, 1 invalid input (problems on stderr, nothing on stdout), "
      "2 usage error, 3 internal error.");

  CompileArgs args;
  CLI::App* compile = app.add_subcommand(
      "compile",
      "Read Namespaces, Pods and NetworkPolicies and print what the agent would program on NODE");
  compile->add_option("--node", args.node, "Node name: pods whose spec.nodeName is NODE are local")
      ->required()
      ->check([](const std::string& v) { return v.empty() ? "must not be empty" : ""; });
  compile
      ->add_option("-f,--filename", args.files,
                   "YAML/JSON manifest file, directory (*.yaml, *.yml, *.json) or - for stdin; "
                   "repeatable")
      ->required()
      ->allow_extra_args(false);
  compile->add_option("-o,--output", args.output, "nft: nft -f script (default); json: the IR")
      ->check(CLI::IsMember({"nft", "json"}))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version are "errors" with exit code 0.
    return app.exit(e) == 0 ? 0 : kExitUsage;
  }
  return run_compile(args);
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    // Nothing was written to stdout yet: output is written only at the very end.
    std::cerr << "policyc: internal error: " << e.what() << "\n";
    return kExitInternal;
  } catch (...) {
    std::cerr << "policyc: internal error\n";
    return kExitInternal;
  }
}
