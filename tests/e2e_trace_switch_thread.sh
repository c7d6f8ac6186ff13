#!/bin/bash
# e2e_trace_switch.sh with the perf_event sampler's per-thread layout
# forced: its buffers lose records too (each thread's own, and a small one
# fills between two switch records), and no slice may cross those gaps.
PERF_LAYOUT=per-thread exec bash "$(dirname "$0")/e2e_trace_switch.sh"
