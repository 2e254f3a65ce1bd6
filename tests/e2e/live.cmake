# Live e2e (issue 5): the lab driven through the fake API server and one
# netpol-agent per node (tests/e2e/live.py, docs/agent.md). RUN_SERIAL like
# every lab test: denied probes wait out their timeout, and a busy machine
# must not turn an allowed probe into a false "denied".
# fake-apiserver is defined later (tests/fakeapi); generator expressions resolve it.
if(TARGET netpol-agent)
  set(NETPOL_LIVE ${CMAKE_CURRENT_SOURCE_DIR}/live.py)
  set(NETPOL_LIVE_ENV
      NETPOL_AGENT=$<TARGET_FILE:netpol-agent>
      NETPOL_FAKE_APISERVER=$<TARGET_FILE:fake-apiserver>
      NETPOL_CNI=$<TARGET_FILE:netpol-cni>)
  # Upstream cases through live agents on the bridged network, recipes on the
  # routed one (routed upstream runs through policyc's script in tests/e2e);
  # the other two pairs carry e2e-full.
  foreach(pair "bridged;upstream;e2e" "routed;recipes;e2e" "routed;upstream;e2e-full"
               "bridged;recipes;e2e-full")
    list(GET pair 0 topology)
    list(GET pair 1 suite)
    list(GET pair 2 label)
    add_test(NAME e2e-live-${topology}-${suite}
             COMMAND ${Python3_EXECUTABLE} ${NETPOL_LIVE} run --suite ${suite} --topology ${topology})
    set_tests_properties(e2e-live-${topology}-${suite} PROPERTIES LABELS ${label} RUN_SERIAL TRUE
                         TIMEOUT 400 ENVIRONMENT "${NETPOL_LIVE_ENV}")
  endforeach()
  add_test(NAME e2e-live-scenarios
           COMMAND ${Python3_EXECUTABLE} ${NETPOL_LIVE} scenarios --topology routed)
  # e2e-live-scenarios runs every scenario on the routed network; the lifecycle
  # ones run again on the bridged network here: netpol-cni (a new pod's first
  # packets with and without the plugin, SIGKILL of the agent between ADD and
  # the API status), flows cut across a tightening, anti-spoofing (each with
  # its protection switched off too).
  add_test(NAME e2e-live-bridged-lifecycle
           COMMAND ${Python3_EXECUTABLE} ${NETPOL_LIVE} scenarios --topology bridged
                   --scenario cni-first-packet --scenario flows-cut --scenario flows-cut-off
                   --scenario spoof --scenario spoof-off)
  # ClusterNetworkPolicy suite (issue 11): both topologies in one test.
  add_test(NAME e2e-live-cnp
           COMMAND ${Python3_EXECUTABLE} ${NETPOL_LIVE} run --suite cnp --topology both)
  set_tests_properties(e2e-live-scenarios e2e-live-bridged-lifecycle e2e-live-cnp PROPERTIES
                       LABELS e2e RUN_SERIAL TRUE TIMEOUT 400 ENVIRONMENT "${NETPOL_LIVE_ENV}")
endif()
