# Agent benchmark (issue 5): the real netpol-agent against the fake API server
# serving the synthetic cluster, in a throwaway network namespace (root):
# start-to-ready, RSS, event->kernel latency p50/p99 of a stream of changes.
add_executable(netpol-bench-agent bench_agent.cpp)
target_link_libraries(netpol-bench-agent PRIVATE netpol_bench_synthetic netpol_test_support
                      netpol_test_support_netns netpol_fakeapi netpol_cni)
if(TARGET netpol-agent)
  add_dependencies(netpol-bench-agent netpol-agent)
endif()
