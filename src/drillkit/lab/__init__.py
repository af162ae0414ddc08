"""The local lab: a real Kubernetes control plane (etcd, kube-apiserver, controllers,
scheduler) with kwok-simulated nodes, built from the Go module proxy and supervised here.
"""
