// cxx-plugin: C++ that cxx-host loads with dlopen, to check that the agent
// leaves the target's C++ unwinding alone: exceptions, and the destructors
// that pthread_exit and pthread_cancel run on their way out of a thread.
#include <atomic>
#include <pthread.h>
#include <stdexcept>
#include <unistd.h>

static std::atomic<int> destroyed{ 0 };

struct Guard {
	~Guard() { destroyed++; }
};

extern "C" __attribute__((visibility("default"))) int plugin_destroyed(void)
{
	return destroyed.load();
}

extern "C" __attribute__((visibility("default"))) int plugin_throw(int x)
{
	try {
		Guard g;
		if (x)
			throw std::runtime_error("thrown");
	} catch (const std::exception &) {
		return 1;
	}
	return 0;
}

extern "C" __attribute__((visibility("default"))) void *plugin_exit(void *)
{
	Guard g;
	pthread_exit(nullptr);
}

extern "C" __attribute__((visibility("default"))) void *plugin_wait(void *)
{
	Guard g;
	for (;;)
		pause(); // a cancellation point
}
