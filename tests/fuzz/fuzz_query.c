/* libFuzzer: any query string through the parser and the parameter rules
 * of every kind of endpoint. */
#include "base/err.h"
#include "edge/params.h"
#include "edge/query.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *raw = malloc(size + 1);
	memcpy(raw, data, size);
	raw[size] = '\0';
	struct query q;
	struct err e = { 0 };
	if (query_parse(&q, raw, &e) == 0) {
		static const unsigned flags[] = { 0, PARAMS_SECONDS_DELTA | PARAMS_DEBUG,
						  PARAMS_SECONDS_WINDOW | PARAMS_HZ };
		for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
			struct params p;
			err_clear(&e);
			if (params_parse(&q, flags[i], 30, 300, &p, &e) == 0 && p.has_seconds &&
			    (p.seconds < 1 || p.seconds > 300))
				abort(); /* a window outside its bounds got through */
		}
		query_release(&q);
	}
	free(raw);
	return 0;
}
