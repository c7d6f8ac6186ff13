/* attach.h: the agent loaded into a running process (by pprof-fcgi's
 * POST /agent): pprof_agent_attach (pprof-agent.h) routes the process's
 * allocator calls through the agent's wrappers by their GOT slots (got.h),
 * and the routed dlopen routes what is loaded later. */
#ifndef ATTACH_H
#define ATTACH_H

#include "agent.h"

/* Whether the agent is in the program's own symbol scope (preloaded, or
 * linked), where its functions interpose the allocator's; not when
 * dlopened (RTLD_LOCAL) into the running process. */
HIDDEN bool attach_preloaded(void);

#endif
