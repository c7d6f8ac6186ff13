/* threads.h: the wrapped pthread_create, which records each new thread's
 * creating stack for /threadcreate, and the threads that end (the fork
 * handlers ask whether one may be inside libunwind). */
#ifndef THREADS_H
#define THREADS_H

#include "agent.h"

/* Drops the exiting threads that are gone; true when none is left. With
 * A.lock held. */
HIDDEN bool threads_sweep_exiting(void);

OWN_DECL(pthread_create);

#endif
