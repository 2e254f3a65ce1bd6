"""netlab: a two-node Kubernetes-like lab built from Linux network namespaces.

It exists to run real TCP/UDP traffic through the nftables rules that policyc
produces, on the two node network styles netpol must support (routed and
bridged), and to compare what gets through with an expected reachability
matrix. It never creates anything outside the network namespaces it names,
and it never touches the host's own network namespace or rule set.
"""
