/* unload.h: the wrapped dlclose, which records the libraries it unloads,
 * so that the reader does not name their frames by what is loaded at
 * their addresses later (see struct pprof_agent_bucket's stamp). */
#ifndef UNLOAD_H
#define UNLOAD_H

#include "agent.h"

#include <dlfcn.h>

/* The loaded objects, around a dlclose: before it (while their memory is
 * still there) with what names them once unloaded, after it their address
 * ranges only. */
struct module {
	uint64_t lo, hi, bias, offset;
	uint32_t build_id_size;
	uint8_t build_id[PPROF_AGENT_BUILD_ID];
	char file[PPROF_AGENT_FILE];
};

struct range {
	uint64_t lo, hi;
};

/* room for both lists, mapped once (A.dl_lists, by tables_make) */
struct dl_lists {
	struct module before[MAX_MODULES];
	struct range after[MAX_MODULES];
};

OWN_DECL(dlclose);

#endif
