# Netlink benchmark (issue 3): full table via netlink vs `nft -f` of policyc's
# script, and incremental change latency. Needs root (network namespaces).
add_executable(netpol-bench-netlink bench_netlink.cpp)
target_link_libraries(netpol-bench-netlink PRIVATE netpol_bench_synthetic netpol_test_support_netns netpol_compiler
                      netpol_nft_netlink nlohmann_json::nlohmann_json)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  target_compile_options(netpol-bench-netlink PRIVATE -Wno-maybe-uninitialized)
endif()
