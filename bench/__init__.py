"""Benchmarks that report ratios measured side by side in one run (absolute times mean little here)."""
