#!/bin/bash
# e2e_profile.sh with the ptrace sampler forced: the fallback where
# perf_event is refused must pass the same CPU profile tests.
CPU_SAMPLER=ptrace exec bash "$(dirname "$0")/e2e_profile.sh"
