/* cxx-host: a C program that loads a C++ module with dlopen, as a server
 * loads its plugins, and checks C++ unwinding in it: a caught exception,
 * and the destructors pthread_exit and pthread_cancel run. A preload
 * library that brought an unwinder of its own into the global scope took
 * these over from libgcc_s (the agent did, with libunwind's _Unwind_*):
 * then pthread_exit skipped the destructors.
 *
 *   cxx-host MODULE.so
 *
 * Prints "cxx ok" and exits 0, or says what went wrong and exits 1. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: cxx-host MODULE.so\n");
		return 2;
	}
	void *h = dlopen(argv[1], RTLD_NOW);
	if (!h) {
		printf("dlopen: %s\n", dlerror());
		return 1;
	}
	int (*destroyed)(void) = (int (*)(void))dlsym(h, "plugin_destroyed");
	int (*throws)(int) = (int (*)(int))dlsym(h, "plugin_throw");
	void *(*exits)(void *) = (void *(*)(void *))dlsym(h, "plugin_exit");
	void *(*waits)(void *) = (void *(*)(void *))dlsym(h, "plugin_wait");
	if (!destroyed || !throws || !exits || !waits) {
		printf("the module lacks a function: %s\n", dlerror());
		return 1;
	}
	int bad = 0;
	if (throws(1) != 1 || destroyed() != 1) {
		printf("exception: caught %d, destructors %d (want 1)\n", 0, destroyed());
		bad = 1;
	}
	pthread_t t;
	void *ret;
	if (pthread_create(&t, NULL, exits, NULL) != 0 || pthread_join(t, NULL) != 0)
		return printf("pthread_create failed\n"), 1;
	if (destroyed() != 2) {
		printf("pthread_exit: destructors %d (want 2)\n", destroyed());
		bad = 1;
	}
	if (pthread_create(&t, NULL, waits, NULL) != 0 || pthread_cancel(t) != 0 ||
	    pthread_join(t, &ret) != 0 || ret != PTHREAD_CANCELED)
		return printf("cancelling a thread failed\n"), 1;
	if (destroyed() != 3) {
		printf("pthread_cancel: destructors %d (want 3)\n", destroyed());
		bad = 1;
	}
	if (!bad)
		printf("cxx ok\n");
	return bad;
}
