/* cpu-split: two threads, each spending 3/4 of its CPU time in spin_hot and
 * 1/4 in spin_cold (by its own thread CPU clock, so preemption cannot skew
 * the split), so a CPU profile must attribute 75% / 25%. Each function
 * overshoots its time by up to one batch of work between clock reads
 * (batches of ~20 us), so the split it really ran is counted and printed
 * at exit: "split HOT_NS COLD_NS", what a profile is checked against.
 *
 *   cpu-split [--exit-after SECONDS] [--plugin PATH [--unload-after MS]]
 *
 * Prints "ready PID" once both threads run. --plugin: on SIGUSR1, loads
 * the library PATH with dlopen and runs its plugin_spin on a third thread
 * ("plugin"), then prints "plugin loaded"; --unload-after: MS later, ends
 * that thread, dlcloses the library and prints "plugin unloaded". On SIGUSR2 it execs itself
 * (/proc/self/exe, no arguments) from its main thread while the workers
 * spin: the same pid, a new image, "ready" again. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int stop_requested, plugin_stop;
static volatile sig_atomic_t plugin_requested, exec_requested;
static pthread_barrier_t started;
static volatile uint64_t sink;
static _Atomic int64_t hot_total, cold_total; /* CPU ns each really ran */

static int64_t thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Burns ns of this thread's CPU time; the clock is read rarely, so that
 * the time is spent in this function and not in the vDSO. */
__attribute__((noinline)) static void spin_hot(int64_t ns)
{
	int64_t start = thread_cpu_ns(), now = start;
	uint64_t x = sink;
	while (now < start + ns) {
		for (int i = 0; i < 20000; i++)
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
		now = thread_cpu_ns();
	}
	sink = x;
	hot_total += now - start;
}

__attribute__((noinline)) static void spin_cold(int64_t ns)
{
	int64_t start = thread_cpu_ns(), now = start;
	uint64_t x = sink;
	while (now < start + ns) {
		for (int i = 0; i < 20000; i++)
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		now = thread_cpu_ns();
	}
	sink = x;
	cold_total += now - start;
}

static void *worker(void *arg)
{
	pthread_setname_np(pthread_self(), (const char *)arg);
	pthread_barrier_wait(&started);
	while (!stop_requested) {
		spin_hot(3000000);
		spin_cold(1000000);
	}
	return NULL;
}

static void *plugin_thread(void *arg)
{
	void (*spin)(volatile int *) = (void (*)(volatile int *))arg;
	pthread_setname_np(pthread_self(), "plugin");
	spin(&plugin_stop);
	return NULL;
}

/* Loads the plugin and starts its thread; 0 on success. */
static int load_plugin(const char *path, pthread_t *t, void **handle)
{
	void *h = *handle = dlopen(path, RTLD_NOW);
	void *fn = h ? dlsym(h, "plugin_spin") : NULL;
	if (!fn) {
		fprintf(stderr, "cpu-split: %s\n", dlerror());
		return -1;
	}
	if (pthread_create(t, NULL, plugin_thread, fn) != 0)
		return -1;
	printf("plugin loaded\n");
	fflush(stdout);
	return 0;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		plugin_requested = 1;
	else if (sig == SIGUSR2)
		exec_requested = 1;
	else
		stop_requested = 1;
}

int main(int argc, char **argv)
{
	long exit_after = 0, unload_after_ms = 0;
	const char *plugin = NULL;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--exit-after") == 0 && i + 1 < argc) {
			exit_after = strtol(argv[++i], NULL, 10);
		} else if (strcmp(argv[i], "--plugin") == 0 && i + 1 < argc) {
			plugin = argv[++i];
		} else if (strcmp(argv[i], "--unload-after") == 0 && i + 1 < argc) {
			unload_after_ms = strtol(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: cpu-split [--exit-after SECONDS] [--plugin PATH "
				"[--unload-after MS]]\n");
			return 2;
		}
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	pthread_barrier_init(&started, NULL, 3);
	pthread_t a, b;
	pthread_create(&a, NULL, worker, "split-a");
	pthread_create(&b, NULL, worker, "split-b");
	pthread_barrier_wait(&started);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pthread_t p;
	void *handle = NULL;
	struct timespec loaded_at = { 0, 0 };
	bool plugin_running = false;
	int rc = 0;
	while (!stop_requested) {
		struct timespec ts = { 0, 50000000 };
		nanosleep(&ts, NULL);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (exec_requested) {
			/* the workers still spin: exec ends them */
			char *args[] = { argv[0], NULL };
			fflush(stdout);
			execv("/proc/self/exe", args);
			perror("cpu-split: execv");
			rc = 1;
			break;
		}
		if (plugin && plugin_requested && !plugin_running && !handle) {
			if (load_plugin(plugin, &p, &handle) < 0) {
				rc = 1;
				break;
			}
			plugin_running = true;
			loaded_at = now;
		}
		if (plugin_running && unload_after_ms &&
		    (now.tv_sec - loaded_at.tv_sec) * 1000 + (now.tv_nsec - loaded_at.tv_nsec) / 1000000 >=
			    unload_after_ms) {
			plugin_stop = 1;
			pthread_join(p, NULL);
			plugin_running = false;
			if (dlclose(handle) != 0) {
				fprintf(stderr, "cpu-split: dlclose: %s\n", dlerror());
				rc = 1;
				break;
			}
			printf("plugin unloaded\n");
			fflush(stdout);
		}
		if (exit_after && now.tv_sec - t0.tv_sec >= exit_after)
			break;
	}
	stop_requested = plugin_stop = 1;
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	if (plugin_running)
		pthread_join(p, NULL);
	printf("split %lld %lld\n", (long long)hot_total, (long long)cold_total);
	return rc;
}
