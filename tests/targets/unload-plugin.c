/* unload-plugin: built twice, as unload-a.so and unload-b.so, with one
 * function named differently (PLUGIN_FN): the same code, so the same
 * layout, so that unload-host can load b where a was. */
#include <stdlib.h>

#ifndef PLUGIN_FN
#error "PLUGIN_FN names the function"
#endif

void *PLUGIN_FN(int n, size_t size);

static void *kept[1000];
/* larger than any hole the loader may find above a's place once it is gone
 * (the agent maps and unmaps tables of its own meanwhile, as its live
 * table grows) */
static volatile char room[64 << 20] __attribute__((used));

/* n blocks of size bytes, kept live (after an unload too: they leak) */
__attribute__((noinline)) void *PLUGIN_FN(int n, size_t size)
{
	for (int i = 0; i < n && i < 1000; i++)
		kept[i] = malloc(size);
	room[n % sizeof room] = 1;
	return kept[0];
}
