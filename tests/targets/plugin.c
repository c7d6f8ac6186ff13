/* plugin: a library cpu-split --plugin loads with dlopen while it is being
 * profiled, so the profile must name functions of a module that was not
 * there when the profile began. */
#include <stdint.h>

void plugin_spin(volatile int *stop);

static volatile uint64_t plugin_sink;

__attribute__((noinline)) void plugin_spin(volatile int *stop)
{
	uint64_t x = plugin_sink;
	while (!*stop)
		for (int i = 0; i < 200000; i++)
			x = x * 2862933555777941757ULL + 3037000493ULL;
	plugin_sink = x;
}
