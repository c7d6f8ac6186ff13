/* libFuzzer: any /symbol body (POST) and query (GET), with the fuzzer's
 * parent process as the target, so addresses are really looked up. */
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
	struct ctx *ctx = fuzz_ctx(getppid() /* the shell that runs the fuzzer: alive */);
	char *body = malloc(size + 1);
	memcpy(body, data, size);
	body[size] = '\0';
	for (int get = 0; get < 2; get++) {
		struct req req = { .method = get ? "GET" : "POST", .script_name = "/debug/pprof",
				   .path_info = "/symbol", .query_string = get ? body : "",
				   .body = get ? "" : body, .body_len = get ? 0 : size };
		struct resp resp;
		resp_init(&resp);
		router_handle(ctx, &req, &resp);
		if (resp.status == 200 && strncmp(buf_cstr(&resp.body), "num_symbols: 1\n", 15) != 0)
			abort();
		req_release(&req);
		resp_release(&resp);
	}
	free(body);
	return 0;
}
