#include "edge/params.h"

#include "base/err.h"
#include "edge/query.h"

#include <string.h>

/* Go treats an empty value as an absent one. */
static const char *get(const struct query *q, const char *key)
{
	const char *v = query_get(q, key);
	return v && *v ? v : NULL;
}

int params_parse(const struct query *q, unsigned flags, long default_seconds,
		 long max_seconds, struct params *p, struct err *e)
{
	memset(p, 0, sizeof *p);
	p->seconds = default_seconds;
	p->hz = PARAMS_HZ_DEFAULT;
	const char *sec = get(q, "seconds");
	const char *debug = get(q, "debug");
	long v;
	/* The order of checks is Go's serveDeltaProfile's. */
	if (sec) {
		if (query_parse_long(sec, &v) < 0 || v <= 0)
			return err_set(e, ERR_INVALID,
				       "invalid value for \"seconds\" - must be a positive integer");
		if (!(flags & (PARAMS_SECONDS_DELTA | PARAMS_SECONDS_WINDOW)))
			return err_set(e, ERR_INVALID,
				       "\"seconds\" parameter is not supported for this profile type");
		if (v > max_seconds)
			return err_set(e, ERR_INVALID,
				       "seconds %ld exceeds max request duration of %ld", v, max_seconds);
		p->has_seconds = true;
		p->seconds = v;
		long d;
		if ((flags & PARAMS_SECONDS_DELTA) && debug &&
		    query_parse_long(debug, &d) == 0 && d != 0)
			return err_set(e, ERR_INVALID, "seconds and debug params are incompatible");
	}
	if ((flags & PARAMS_DEBUG) && debug) {
		if (query_parse_long(debug, &v) < 0 || v < 0 || v > 2)
			return err_set(e, ERR_INVALID,
				       "invalid value for \"debug\" - must be 0, 1 or 2");
		p->debug = (int)v;
	}
	/* for viewers: checked against the profile's types by the endpoint */
	p->sample_index = flags & PARAMS_PPROF ? get(q, "sample_index") : NULL;
	const char *inlines = get(q, "inlines");
	if ((flags & PARAMS_PPROF) && inlines) {
		if (strcmp(inlines, "split") != 0)
			return err_set(e, ERR_INVALID,
				       "invalid value for \"inlines\" - must be split");
		p->split_inlines = true;
	}
	const char *retry = get(q, "retry");
	if ((flags & PARAMS_RETRY) && retry) {
		if (strcmp(retry, "1") != 0 && strcmp(retry, "0") != 0)
			return err_set(e, ERR_INVALID, "invalid value for \"retry\" - must be 0 or 1");
		p->retry = strcmp(retry, "1") == 0;
	}
	const char *hz = get(q, "hz");
	if ((flags & PARAMS_HZ) && hz) {
		if (query_parse_long(hz, &v) < 0 || v < 1 || v > PARAMS_HZ_MAX)
			return err_set(e, ERR_INVALID,
				       "invalid value for \"hz\" - must be an integer from 1 to 1000");
		p->hz = v;
	}
	return 0;
}
