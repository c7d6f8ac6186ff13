/* waits: a target whose threads time their own waits, the ground truth
 * for /block, /mutex and /trace's waiting slices. Each thread is named
 * after what it does (pthread_setname_np). Each waiting function below records every call
 * that blocked: its wall time (CLOCK_REALTIME), and how much of it the
 * thread spent on a CPU or queued for one (its own schedstat before and
 * after: queueing for a CPU after a wake-up is not waiting, and a loaded
 * machine makes it a large part of a short wait). On SIGUSR1 the main
 * thread reads "START_NS END_NS" from the file named by argv[1] (a
 * profile's time_nanos and time_nanos + duration_nanos; CLOCK_REALTIME,
 * or CLOCK_BOOTTIME after the word "boottime", as a trace's) and prints, per
 * function, the time waited inside those calls clipped to that window (a
 * call still waiting counts up to now) and how many times the calls that
 * began in it blocked:
 *   truth FUNCTION MS WAITS
 *   done
 * SIGTERM prints "eintr N" (epoll_wait interrupted) and exits. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define MAX_WAITS (1 << 20)

struct span {
	int64_t start, end; /* end: INT64_MAX while the call waits */
	int64_t busy;       /* ns on a CPU or queued for one, inside it */
	long blocked;       /* times it blocked: 1 but for the lock, below */
};
struct waits {
	const char *name;
	struct span *span;
	atomic_size_t n;
};

enum { W_LOCK, W_SIGNAL, W_PIPE, W_EPOLL, W_SHORT, W_LONG, W_BURST, W_NAP, W_PULSE, W_N };
static struct waits waits[W_N] = {
	[W_LOCK] = { .name = "wait_for_lock" },     [W_SIGNAL] = { .name = "wait_for_signal" },
	[W_PIPE] = { .name = "read_pipe" },         [W_EPOLL] = { .name = "wait_epoll" },
	[W_SHORT] = { .name = "short_sleep" },      [W_LONG] = { .name = "long_sleep" },
	[W_BURST] = { .name = "burst_sleep" },      [W_NAP] = { .name = "long_nap" },
	[W_PULSE] = { .name = "pulse_sleep" },
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t cond_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static unsigned long signals;
static int pipe_fds[2], epoll_fd;
static atomic_ulong eintr;

static int64_t now_ns(clockid_t clock)
{
	struct timespec ts;
	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* This thread's CPU time plus its time runnable but not running. The
 * CPU clock is read first because it brings the kernel's count up to now:
 * schedstat alone shows a running thread's CPU as of its last scheduler
 * update, which after a wake-up misses the ~19 us it has run since (made
 * burst_sleep's truth 7% too long at 3,000 wake-ups a second). */
static int64_t busy_ns(void)
{
	static _Thread_local int fd = -1;
	if (fd < 0)
		fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
	char text[128];
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	ssize_t n = pread(fd, text, sizeof text - 1, 0);
	if (n <= 0)
		abort();
	text[n] = '\0';
	char *end;
	int64_t cpu = strtoll(text, &end, 10);
	return cpu + strtoll(end, NULL, 10);
}

struct call {
	int kind;
	size_t i;
	int64_t busy0;
};

/* A call about to wait, published at once (its end open). */
static struct call begin(int kind)
{
	struct waits *w = &waits[kind];
	struct call c = { kind, atomic_load_explicit(&w->n, memory_order_relaxed), busy_ns() };
	if (c.i < MAX_WAITS) {
		struct span *s = &w->span[c.i];
		s->busy = 0;
		s->blocked = 1;
		__atomic_store_n(&s->end, INT64_MAX, __ATOMIC_RELAXED);
		s->start = now_ns(CLOCK_REALTIME);
		atomic_store_explicit(&w->n, c.i + 1, memory_order_release);
	}
	return c;
}

static void end(struct call c)
{
	if (c.i >= MAX_WAITS)
		return;
	struct span *s = &waits[c.kind].span[c.i];
	__atomic_store_n(&s->busy, busy_ns() - c.busy0, __ATOMIC_RELAXED);
	__atomic_store_n(&s->end, now_ns(CLOCK_REALTIME), __ATOMIC_RELEASE);
}

/* One that did not wait after all. */
static void cancel(struct call c)
{
	if (c.i < MAX_WAITS)
		atomic_store_explicit(&waits[c.kind].n, c.i, memory_order_relaxed);
}

static void sleep_ns(long ns)
{
	struct timespec ts = { ns / 1000000000L, ns % 1000000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void spin_cpu_ns(int64_t ns)
{
	int64_t end = now_ns(CLOCK_THREAD_CPUTIME_ID) + ns;
	while (now_ns(CLOCK_THREAD_CPUTIME_ID) < end)
		;
}

/* This thread's voluntary context switches: the times it blocked. */
static long blocked_so_far(void)
{
	char text[4096];
	int fd = open("/proc/thread-self/status", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		abort();
	text[n] = '\0';
	const char *v = strstr(text, "\nvoluntary_ctxt_switches:");
	return v ? strtol(v + 26, NULL, 10) : 0;
}

/* keeps the lock 3 of every 4 ms */
static __attribute__((noinline)) void hold_lock(void)
{
	pthread_mutex_lock(&lock);
	sleep_ns(3000000);
	pthread_mutex_unlock(&lock);
	sleep_ns(1000000);
}

static __attribute__((noinline)) void wait_for_lock(void)
{
	if (pthread_mutex_trylock(&lock) != 0) {
		/* a waiter woken late (no free CPU) may find the lock taken
		 * again and block twice in one call */
		long before = blocked_so_far();
		struct call c = begin(W_LOCK);
		pthread_mutex_lock(&lock);
		if (c.i < MAX_WAITS)
			waits[W_LOCK].span[c.i].blocked = blocked_so_far() - before;
		end(c);
	}
	pthread_mutex_unlock(&lock);
	spin_cpu_ns(50000);
}

static __attribute__((noinline)) void wait_for_signal(void)
{
	pthread_mutex_lock(&cond_lock);
	unsigned long seen = signals;
	struct call c = begin(W_SIGNAL);
	while (signals == seen)
		pthread_cond_wait(&cond, &cond_lock);
	end(c);
	pthread_mutex_unlock(&cond_lock);
}

static __attribute__((noinline)) void read_pipe(void)
{
	char c;
	struct call call = begin(W_PIPE);
	if (read(pipe_fds[0], &c, 1) == 1)
		end(call);
	else
		cancel(call);
}

static __attribute__((noinline)) void wait_epoll(void)
{
	struct epoll_event ev;
	struct call c = begin(W_EPOLL);
	int n = epoll_wait(epoll_fd, &ev, 1, 10);
	if (n < 0 && errno == EINTR)
		atomic_fetch_add(&eintr, 1);
	end(c);
}

static __attribute__((noinline)) void timed_sleep(int kind, long ns)
{
	struct call c = begin(kind);
	sleep_ns(ns);
	end(c);
}

/* each its own frame: no tail call into timed_sleep */
#define SLEEPER(name, kind, ns)                               \
	static __attribute__((noinline)) void name(void)      \
	{                                                     \
		timed_sleep(kind, ns);                        \
		__asm__ volatile("" ::: "memory");            \
	}
SLEEPER(short_sleep, W_SHORT, 2000000)
SLEEPER(long_sleep, W_LONG, 500000000)
SLEEPER(burst_sleep, W_BURST, 100000)
SLEEPER(long_nap, W_NAP, 3000000000L)
SLEEPER(pulse_sleep, W_PULSE, 50000000)

/* the paces of the condition variable and the pipe */
static __attribute__((noinline)) void pace(long ns) { sleep_ns(ns); }

static void *holder(void *a) { for (;;) hold_lock(); return a; }
static void *lock_waiter(void *a) { for (;;) wait_for_lock(); return a; }
static void *cond_waiter(void *a) { for (;;) wait_for_signal(); return a; }
static void *pipe_reader(void *a) { for (;;) read_pipe(); return a; }
static void *epoll_waiter(void *a) { for (;;) wait_epoll(); return a; }
static void *short_sleeper(void *a) { for (;;) short_sleep(); return a; }
static void *long_sleeper(void *a) { for (;;) long_sleep(); return a; }
static void *napper(void *a)
{
	for (;;) {
		long_nap();
		spin_cpu_ns(1000000000LL);
	}
	return a;
}
/* waits 50 ms, runs 50 ms */
static void *pulser(void *a)
{
	for (;;) {
		pulse_sleep();
		spin_cpu_ns(50000000);
	}
	return a;
}
static void *burster(void *a)
{
	for (;;) {
		spin_cpu_ns(100000);
		burst_sleep();
	}
	return a;
}
static void *signaller(void *a)
{
	for (;;) {
		pace(20000000);
		/* signalled after the unlock: the waiter wakes to a free
		 * mutex, one blocking wait per signal */
		pthread_mutex_lock(&cond_lock);
		signals++;
		pthread_mutex_unlock(&cond_lock);
		pthread_cond_signal(&cond);
	}
	return a;
}
static void *pipe_writer(void *a)
{
	for (;;) {
		pace(50000000);
		if (write(pipe_fds[1], "x", 1) != 1)
			abort();
	}
	return a;
}

static void report(const char *window_file)
{
	int64_t start = 0, end = 0;
	char clock[16] = "";
	FILE *f = fopen(window_file, "r");
	if (f && fscanf(f, " %15[a-z]", clock) == 1 && strcmp(clock, "boottime") != 0)
		clock[0] = '\0';
	if (!f || fscanf(f, "%lld %lld", (long long *)&start, (long long *)&end) != 2) {
		printf("error reading %s\n", window_file);
		if (f)
			fclose(f);
		fflush(stdout);
		return;
	}
	fclose(f);
	if (clock[0]) { /* the spans are in CLOCK_REALTIME */
		int64_t offset = now_ns(CLOCK_REALTIME) - now_ns(CLOCK_BOOTTIME);
		start += offset;
		end += offset;
	}
	for (int k = 0; k < W_N; k++) {
		size_t n = atomic_load_explicit(&waits[k].n, memory_order_acquire);
		int64_t total = 0;
		unsigned long count = 0;
		for (size_t i = 0; i < n; i++) {
			const struct span *sp = &waits[k].span[i];
			int64_t e = __atomic_load_n(&sp->end, __ATOMIC_ACQUIRE), s = sp->start;
			int64_t busy = __atomic_load_n(&sp->busy, __ATOMIC_RELAXED);
			if (s >= start && s < end)
				count += (unsigned long)sp->blocked;
			int64_t wall = (e < end ? e : end) - (s > start ? s : start);
			if (wall <= 0)
				continue;
			/* the busy part, spread over the call, clipped with it */
			total += e == INT64_MAX ? wall
				: wall - (int64_t)((double)busy * (double)wall / (double)(e - s));
		}
		printf("truth %s %lld %lu\n", waits[k].name, (long long)(total / 1000000), count);
	}
	printf("done\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: waits WINDOW_FILE\n");
		return 2;
	}
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL); /* inherited: main alone takes them */
	for (int k = 0; k < W_N; k++)
		if (!(waits[k].span = malloc(MAX_WAITS * sizeof *waits[k].span)))
			abort();
	if (pipe(pipe_fds) < 0 || (epoll_fd = epoll_create1(0)) < 0)
		abort();
	static const struct {
		void *(*fn)(void *);
		const char *name;
	} threads[] = {
		{ holder, "holder" },             { lock_waiter, "lock_waiter" },
		{ cond_waiter, "cond_waiter" },   { pipe_reader, "pipe_reader" },
		{ epoll_waiter, "epoll_waiter" }, { short_sleeper, "short_sleeper" },
		{ long_sleeper, "long_sleeper" }, { napper, "napper" },
		{ burster, "burster" },           { pulser, "pulser" },
		{ signaller, "signaller" },       { pipe_writer, "pipe_writer" },
	};
	for (size_t i = 0; i < sizeof threads / sizeof threads[0]; i++) {
		pthread_t th;
		if (pthread_create(&th, NULL, threads[i].fn, NULL) != 0)
			abort();
		pthread_setname_np(th, threads[i].name);
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		int sig;
		sigwait(&set, &sig);
		if (sig == SIGTERM)
			break;
		report(argv[1]);
	}
	printf("eintr %lu\n", atomic_load(&eintr));
	fflush(stdout);
	return 0;
}
