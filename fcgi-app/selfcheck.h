/* selfcheck: pprof-fcgi --check. With the config it would run with, says
 * one line per thing a first run depends on: which process the target
 * resolves to and why, whether ptrace is allowed and what is missing,
 * perf events and kernel symbols (reported only), the target's seccomp,
 * the symbols of each of its modules, the heap agent, the web server's
 * socket. Touches nothing in the target: no attach, no stop. */
#ifndef PF_SELFCHECK_H
#define PF_SELFCHECK_H

#include <stdio.h>

struct config;

/* Writes the lines to out; 0 when all the config asks for can work, 1
 * when something cannot (each such line begins with "FAIL"). */
int selfcheck_run(const struct config *cfg, FILE *out);

#endif
