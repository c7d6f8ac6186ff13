/* ctx: what every request shares: the config and the target it names.
 * Built once in main; endpoints only read it. */
#ifndef PF_CTX_H
#define PF_CTX_H

#include "config.h"
#include "proc.h"

#include <sys/types.h>

struct ctx {
	const struct config *cfg;
	struct target_spec target;
	pid_t self;
};

#endif
