/* late-plugin: a library late-target dlopens after the agent was loaded
 * into it: its allocations must be counted too (the agent routes the
 * modules loaded after it). */
#include <malloc.h>
#include <stddef.h>
#include <stdlib.h>

void *late_plugin_here(size_t n, size_t *held);

__attribute__((noinline)) void *late_plugin_here(size_t n, size_t *held)
{
	void *p = malloc(n);
	*held += p ? malloc_usable_size(p) : 0;
	return p;
}
