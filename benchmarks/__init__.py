"""Performance benchmarks (``make perf``): each compares ours against a reference run side by side."""
