/* libFuzzer: any request (method, SCRIPT_NAME, PATH_INFO, query, body,
 * split at NUL bytes) through the router, against a target that is not
 * running: every answer must be a well-formed response, never a crash. */
#include "fuzz_ctx.h"
#include "edge/http.h"
#include "edge/router.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ctx *ctx = fuzz_ctx(0x7ffffff0 /* no such process */);
	char *copy = malloc(size + 1);
	memcpy(copy, data, size);
	copy[size] = '\0';
	const char *part[5] = { "GET", "", "", "", "" };
	size_t n = 0;
	for (char *p = copy; n < 5 && p <= copy + size; n++) {
		part[n] = p;
		p += strlen(p) + 1;
	}
	struct req req = { .method = part[0], .script_name = part[1], .path_info = part[2],
			   .query_string = part[3], .body = part[4], .body_len = strlen(part[4]) };
	struct resp resp;
	resp_init(&resp);
	router_handle(ctx, &req, &resp);
	if (resp.status < 200 || resp.status > 599 || !resp.content_type)
		abort();
	req_release(&req);
	resp_release(&resp);
	free(copy);
	return 0;
}
