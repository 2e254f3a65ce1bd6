# API client benchmark (issue 4): list of N pods, store bytes per pod, watch
# events per second; the fake API server runs in a forked child.
add_executable(netpol-bench-k8sapi bench_k8sapi.cpp)
target_link_libraries(netpol-bench-k8sapi PRIVATE netpol_k8s_api netpol_fakeapi)
