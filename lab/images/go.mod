module drillkit.local/lab/images

go 1.26.0
