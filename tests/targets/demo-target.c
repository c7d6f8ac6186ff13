/* demo-target: a small multi-threaded program doing recognisable work, for
 * ./run.sh and the end-to-end tests. Each thread is named and sits in known
 * functions: two CPU workers (hash_block with fold_block inlined into it,
 * sort_records), a thread waiting on
 * a mutex another one holds, one waiting on a condition variable, a
 * sleeper, a reader blocked on a pipe, and a
 * thread in epoll_wait that counts the EINTRs it sees (a profiler must
 * never cause one) and prints "eintr N" at exit.
 *
 *   demo-target [--pidfile FILE] [--idle-threads N] [--churn] [--exec-on-hup]
 *
 * --churn adds a thread that keeps creating and joining short threads and
 * forking children that exec /bin/true (and are waited for), printing
 * "churn N" (rounds done) at exit. --exec-on-hup: SIGHUP makes it exec
 * itself anew with the same arguments (same pid, a new program).
 *
 * Prints "ready PID" on stdout once every thread runs, so a test waits for
 * that line instead of sleeping. Runs until SIGTERM or SIGINT. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop_requested;
static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t started;
static int pipe_fds[2];
static volatile uint64_t progress; /* work done, for tests that watch it move */
static volatile int epoll_eintr;
static volatile int churn_rounds, churn_errors;
static int epoll_pipe[2];

static volatile sig_atomic_t exec_requested;

static void on_signal(int sig)
{
	if (sig == SIGHUP)
		exec_requested = 1;
	else
		stop_requested = 1;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && !stop_requested)
		;
}

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A second pass over the block, always inlined into hash_block: a hot
 * function that exists only as inlined code (DWARF's inlined subroutine),
 * which a viewer names only from the location's inline frames (inlines=split
 * for speedscope). About a third of the hash worker's time. */
static inline __attribute__((always_inline)) uint64_t fold_block(const unsigned char *p, size_t n,
								 uint64_t h)
{
	for (int round = 0; round < 192; round++)
		for (size_t i = 0; i + 8 <= n; i += 8) {
			uint64_t w;
			memcpy(&w, p + i, sizeof w);
			h = (h ^ w) * 0x9E3779B97F4A7C15ULL;
			h ^= h >> 29;
		}
	return h;
}

/* FNV-1a over a block, many times: pure CPU in one named function. */
__attribute__((noinline)) static uint64_t hash_block(const unsigned char *p, size_t n)
{
	uint64_t h = 1469598103934665603ULL;
	for (int round = 0; round < 64; round++)
		for (size_t i = 0; i < n; i++)
			h = (h ^ p[i]) * 1099511628211ULL;
	return fold_block(p, n, h);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

__attribute__((noinline)) static void sort_records(uint32_t *v, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1664525u + 1013904223u;
		v[i] = seed;
	}
	qsort(v, n, sizeof *v, cmp_u32);
}

/* Busy for busy_ms out of every 20 ms, so the demo leaves the machine usable. */
static void *hash_worker(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "hash-worker");
	unsigned char block[4096];
	memset(block, 7, sizeof block);
	pthread_barrier_wait(&started);
	while (!stop_requested) {
		double t0 = now_ms();
		while (now_ms() - t0 < 10 && !stop_requested)
			block[0] = (unsigned char)hash_block(block, sizeof block);
		progress++;
		sleep_ms(10);
	}
	return NULL;
}

/* Something for /heap and /allocs to show under the preload agent: each
 * round allocates its batch (freed after) and keeps 4 KiB of results, up
 * to 64 MiB, like a cache nobody trims. */
static void **results;
static size_t nresults;

__attribute__((noinline)) static uint32_t *new_batch(size_t n)
{
	return malloc(n * sizeof(uint32_t));
}

__attribute__((noinline)) static void remember_result(const uint32_t *v)
{
	if (nresults == (64u << 20) / 4096)
		return;
	void *r = malloc(4096);
	if (!r)
		return;
	memcpy(r, v, 4096);
	results[nresults++] = r;
}

static void *sort_worker(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "sort-worker");
	size_t n = 1 << 14;
	uint32_t seed = 1;
	results = calloc((64u << 20) / 4096, sizeof *results);
	pthread_barrier_wait(&started);
	while (!stop_requested) {
		double t0 = now_ms();
		uint32_t *v = new_batch(n);
		while (v && now_ms() - t0 < 5 && !stop_requested)
			sort_records(v, n, seed++);
		if (v && results)
			remember_result(v);
		free(v);
		progress++;
		sleep_ms(15);
	}
	return NULL;
}

__attribute__((noinline)) static void hold_lock_while_sleeping(void)
{
	pthread_mutex_lock(&big_lock);
	while (!stop_requested)
		sleep_ms(100);
	pthread_mutex_unlock(&big_lock);
}

static void *lock_holder(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "lock-holder");
	pthread_barrier_wait(&started);
	hold_lock_while_sleeping();
	return NULL;
}

__attribute__((noinline)) static void wait_for_lock(void)
{
	/* trylock until the holder has it, then block in lock */
	while (pthread_mutex_trylock(&big_lock) == 0) {
		pthread_mutex_unlock(&big_lock);
		sleep_ms(1);
	}
	pthread_mutex_lock(&big_lock);
	pthread_mutex_unlock(&big_lock);
}

static void *lock_waiter(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "lock-waiter");
	pthread_barrier_wait(&started);
	wait_for_lock();
	return NULL;
}

static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;

__attribute__((noinline)) static void wait_for_signal(void)
{
	pthread_mutex_lock(&cond_lock);
	while (!stop_requested)
		pthread_cond_wait(&cond, &cond_lock);
	pthread_mutex_unlock(&cond_lock);
}

static void *cond_waiter(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "cond-waiter");
	pthread_barrier_wait(&started);
	wait_for_signal();
	return NULL;
}

static void *sleeper(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "sleeper");
	pthread_barrier_wait(&started);
	while (!stop_requested)
		sleep_ms(1000);
	return NULL;
}

static void *pipe_reader(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "pipe-reader");
	pthread_barrier_wait(&started);
	char c;
	while (!stop_requested && read(pipe_fds[0], &c, 1) > 0)
		;
	return NULL;
}

static void *epoll_waiter(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "epoll-waiter");
	int ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN };
	epoll_ctl(ep, EPOLL_CTL_ADD, epoll_pipe[0], &ev);
	pthread_barrier_wait(&started);
	while (!stop_requested) {
		struct epoll_event got;
		int n = epoll_wait(ep, &got, 1, -1);
		if (n < 0 && errno == EINTR)
			epoll_eintr++;
		if (n > 0)
			break; /* the pipe closed: stopping */
	}
	return NULL;
}

static void *short_lived(void *arg)
{
	(void)arg;
	volatile uint64_t x = 0;
	for (int i = 0; i < 100000; i++)
		x += (uint64_t)i;
	return (void *)(uintptr_t)x;
}

/* Threads born and gone, children forked, exec'd and reaped, all the time:
 * a profiler must not lose any of it or keep any child from its waitpid. */
static void *churner(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "churner");
	pthread_barrier_wait(&started);
	while (!stop_requested) {
		pthread_t t[8];
		for (int i = 0; i < 8; i++)
			if (pthread_create(&t[i], NULL, short_lived, NULL) != 0)
				churn_errors++;
		for (int i = 0; i < 8; i++)
			pthread_join(t[i], NULL);
		pid_t child = fork();
		if (child == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		int status = 0;
		if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			churn_errors++;
		churn_rounds++;
		sleep_ms(5);
	}
	return NULL;
}

static void *idle_thread(void *arg)
{
	(void)arg;
	pthread_setname_np(pthread_self(), "idle");
	pthread_barrier_wait(&started);
	while (!stop_requested)
		sleep_ms(1000);
	return NULL;
}

int main(int argc, char **argv)
{
	const char *pidfile = NULL;
	long idle = 0;
	int churn = 0, exec_on_hup = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--pidfile") == 0 && i + 1 < argc)
			pidfile = argv[++i];
		else if (strcmp(argv[i], "--idle-threads") == 0 && i + 1 < argc)
			idle = strtol(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--churn") == 0)
			churn = 1;
		else if (strcmp(argv[i], "--exec-on-hup") == 0)
			exec_on_hup = 1;
		else {
			fprintf(stderr, "usage: demo-target [--pidfile FILE] [--idle-threads N] [--churn] "
				"[--exec-on-hup]\n");
			return 2;
		}
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if (exec_on_hup)
		sigaction(SIGHUP, &sa, NULL);
	if (pipe(pipe_fds) < 0 || pipe(epoll_pipe) < 0) {
		perror("pipe");
		return 1;
	}
	void *(*fns[])(void *) = { hash_worker, sort_worker, lock_holder, lock_waiter,
				   cond_waiter, sleeper, pipe_reader, epoll_waiter };
	size_t nfns = sizeof fns / sizeof fns[0];
	size_t total = nfns + (size_t)idle + (size_t)churn;
	pthread_t *threads = calloc(total, sizeof *threads);
	if (!threads)
		return 1;
	pthread_barrier_init(&started, NULL, (unsigned)total + 1);
	for (size_t i = 0; i < total; i++) {
		pthread_attr_t attr;
		pthread_attr_init(&attr);
		pthread_attr_setstacksize(&attr, 256 * 1024);
		void *(*fn)(void *) = i < nfns ? fns[i] : (churn && i == total - 1) ? churner : idle_thread;
		if (pthread_create(&threads[i], &attr, fn, NULL) != 0) {
			perror("pthread_create");
			return 1;
		}
		pthread_attr_destroy(&attr);
	}
	pthread_barrier_wait(&started);
	if (pidfile) {
		FILE *f = fopen(pidfile, "w");
		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
			perror(pidfile);
			return 1;
		}
	}
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (!stop_requested) {
		sleep_ms(200);
		if (exec_requested) {
			execv("/proc/self/exe", argv);
			perror("execv");
			return 1;
		}
	}
	/* wake the blocked threads so every one can be joined */
	close(pipe_fds[1]);
	close(epoll_pipe[1]);
	pthread_mutex_lock(&cond_lock);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&cond_lock);
	for (size_t i = 0; i < total; i++)
		pthread_join(threads[i], NULL);
	if (pidfile)
		unlink(pidfile);
	printf("eintr %d\n", epoll_eintr);
	if (churn)
		printf("churn %d errors %d\n", churn_rounds, churn_errors);
	free(threads);
	return 0;
}
