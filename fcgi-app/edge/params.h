/* params: the rules for seconds, debug and hz shared by every endpoint,
 * with Go's (and Vault's) error texts. */
#ifndef PF_PARAMS_H
#define PF_PARAMS_H

#include <stdbool.h>

struct err;
struct query;

enum params_flags {
	PARAMS_SECONDS_DELTA = 1 << 0,  /* seconds asks for a delta over a window (Go) */
	PARAMS_SECONDS_WINDOW = 1 << 1, /* seconds is the collection window */
	PARAMS_HZ = 1 << 2,             /* hz is the sampling rate */
	PARAMS_DEBUG = 1 << 3,          /* debug picks the format: 0, 1 or 2 */
	PARAMS_PPROF = 1 << 4,          /* a pprof profile: sample_index, inlines */
	PARAMS_RETRY = 1 << 5,          /* retry=1: do again what failed before */
};

#define PARAMS_HZ_DEFAULT 100
#define PARAMS_HZ_MAX 1000

struct params {
	bool has_seconds; /* given in the request */
	long seconds;     /* given, or the endpoint's default window (0: none) */
	int debug;
	long hz;
	const char *sample_index; /* the default sample type's name, or NULL; in the query */
	bool split_inlines;       /* inlines=split: each inlined frame its own location */
	bool retry;               /* retry=1 */
};

/* Validates the query for an endpoint with the given flags. */
int params_parse(const struct query *q, unsigned flags, long default_seconds,
		 long max_seconds, struct params *p, struct err *e);

#endif
