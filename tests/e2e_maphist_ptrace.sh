#!/bin/bash
# e2e_maphist.sh with the ptrace sampler forced: a library dlopened and
# dlclosed within the window, and an exec mid-window, named from the
# mapping history that ptrace builds by reading /proc/PID/maps when a
# sample lies outside every mapping it knew (collect/ptrace_maps.c).
CPU_SAMPLER=ptrace exec bash "$(dirname "$0")/e2e_maphist.sh"
