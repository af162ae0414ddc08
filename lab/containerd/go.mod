module drillkit.local/lab/containerd

go 1.26.0

require github.com/containerd/containerd/v2 v2.2.10 // indirect
