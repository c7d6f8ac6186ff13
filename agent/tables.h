/* tables.h: the published header (pprof_agent, pprof-agent.h) and the
 * tables it points to, mapped by the agent itself: what pprof-fcgi reads
 * from outside. */
#ifndef TABLES_H
#define TABLES_H

#include "agent.h"

/* Fills the header and maps the tables; fails (agent_fail) when a mapping
 * does. Sets A.tables when sampling can run. */
HIDDEN void tables_make(void);

/* bytes of private anonymous memory, counted in the header; NULL on
 * failure */
HIDDEN void *tables_map(size_t bytes);
HIDDEN void tables_unmap(void *p, size_t bytes);

/* A sample, or a thread record, that found no room. */
static inline void tables_count_drop(void)
{
	__atomic_fetch_add(&pprof_agent.dropped, 1, __ATOMIC_RELAXED);
}

#endif
