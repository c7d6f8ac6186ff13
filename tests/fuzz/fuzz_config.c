/* libFuzzer: any config file text. */
#include "config.h"
#include "base/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	struct config c;
	memset(&c, 0, sizeof c);
	struct err e = { 0 };
	if (config_parse_text(&c, "fuzz.conf", text, &e) < 0 && e.msg[0] == '\0')
		abort(); /* a failure must say why */
	config_release(&c);
	free(text);
	return 0;
}
