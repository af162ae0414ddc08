module drillkit.local/bench/ceiling

go 1.26
