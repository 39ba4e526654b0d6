"""`make bench`: latency tables measured in one run, printed with ratios to baselines."""
