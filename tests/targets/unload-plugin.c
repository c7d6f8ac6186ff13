/* unload-plugin: built as unload-a.so and unload-b.so, with one function
 * named differently (PLUGIN_FN): the same code, so the same layout, so
 * that unload-host can load b where a was; and as a smaller unload-c.so
 * (PLUGIN_ROOM_MIB), which a unloads from its destructor. */
#include <dlfcn.h>
#include <stdlib.h>

#ifndef PLUGIN_FN
#error "PLUGIN_FN names the function"
#endif

#ifndef PLUGIN_ROOM_MIB
#define PLUGIN_ROOM_MIB 64
#endif

void *PLUGIN_FN(int n, size_t size);
void unload_close_at_exit(void *handle);

static void *kept[1000];
/* larger than any hole the loader may find above a's place once it is gone
 * (the agent maps and unmaps tables of its own meanwhile, as its live
 * table grows) */
static volatile char room[PLUGIN_ROOM_MIB << 20] __attribute__((used));

/* n blocks of size bytes, kept live (after an unload too: they leak) */
__attribute__((noinline)) void *PLUGIN_FN(int n, size_t size)
{
	for (int i = 0; i < n && i < 1000; i++)
		kept[i] = malloc(size);
	room[n % sizeof room] = 1;
	return kept[0];
}

/* a library this one unloads when it is unloaded: a dlclose within one */
static void *close_at_exit;

void unload_close_at_exit(void *handle)
{
	close_at_exit = handle;
}

__attribute__((destructor)) static void unload_plugin_fini(void)
{
	if (close_at_exit)
		dlclose(close_at_exit);
}
