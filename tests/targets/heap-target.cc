// heap-target: allocates known amounts from known call sites, for the
// heap, allocs and threadcreate tests (run under LD_PRELOAD=libpprof-agent.so).
//
//   heap-target [--workers N] [--stress THREADS SECONDS] [--fork-exec]
//               [--fork-storm SECONDS] [--turnover ROUNDS] [--exit-after S]
//
// Default: sets up the known heap, prints "ready PID" and waits for SIGTERM.
//   leak_here       64 MiB live (32 x 2 MiB, malloc)
//   churn_here      1 GiB allocated and freed (65536 x 16 KiB)
//   exact_here      1000 x 100 bytes live (exact with PPROF_MEMRATE=1)
//   realloc_here    one block grown by realloc from 1 KiB to 4 MiB, live
//   memalign_here   64 x 64 KiB live (posix_memalign)
//   new_here        8 x 1 MiB live (C++ new[])
//   handoff_here    3000 x 200 bytes allocated in a thread of its own (its
//                   own malloc arena), 2000 of them freed by the main
//                   thread: 1000 live
//   family_here     8 blocks each from calloc, aligned_alloc, memalign,
//                   valloc and pvalloc, of sizes that round up, live
//   realloc_fail_here  4 blocks of 300 bytes, each then grown by a realloc
//                   that fails (ENOMEM): still live
//   spread_here     one call allocating (and freeing) every size from 1,000
//                   to 100,000 bytes: 99,001 sizes, ~110 size classes
//   two_sizes_here  one call instruction allocating 262,144 x 64 bytes and
//                   64 x 1 MiB, live (two buckets of one stack)
//   spawn_workers   N threads that wait (their creation stack)
// Before "ready" it prints, for each call site with live blocks, "held
// SITE BYTES OBJECTS": the sum of malloc_usable_size of its live blocks,
// what the allocator holds for them (and "held realloc_here_allocated
// BYTES 10": the same over every block realloc handed out, and
// "held spread_here_allocated BYTES 99001" for spread_here's; "held
// two_sizes_here/SIZE ...": that site's blocks of SIZE bytes asked).
// --stress: THREADS threads allocate, fill, check and free random blocks
// for SECONDS (malloc, calloc, realloc, posix_memalign, aligned_alloc, new,
// and a fork whose child allocates and exits), then print
// "stress ops N errors M" and exit 0 when M is 0.
// --fork-exec: forks; the child allocates, checks and execs /bin/true; the
// parent prints "fork-exec ok" when the child succeeded.
// --fork-storm: forks as fast as it can for SECONDS while threads come and
// go; prints "fork-storm forks N stuck 0 failed 0" when no child hung.
// --turnover: N rounds of 100,000 blocks of 32..224 bytes (all sampled at
// PPROF_MEMRATE=2), each next to a malloc(0) one (not sampled: its free
// looks up a pointer the agent does not hold), allocated then freed; then
// prints "turnover N ok". Many more sampled blocks, at many more
// addresses, come and go than the agent's live table has slots.
#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <malloc.h>
#include <new>
#include <pthread.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#define NOINLINE __attribute__((noinline))

static void *volatile sink; // keeps the compiler from removing malloc/free pairs
static std::vector<void *> kept;
static std::vector<char *> kept_new;

extern "C" NOINLINE void leak_here(void)
{
	for (int i = 0; i < 32; i++)
		kept.push_back(malloc(2 << 20));
}

extern "C" NOINLINE void churn_here(void)
{
	for (int i = 0; i < 65536; i++) {
		void *p = malloc(16 << 10);
		sink = p;
		free(p);
	}
}

extern "C" NOINLINE void exact_here(void)
{
	for (int i = 0; i < 1000; i++)
		kept.push_back(malloc(100));
}

static size_t realloc_held; // malloc_usable_size of each block realloc_here got

extern "C" NOINLINE void realloc_here(void)
{
	void *p = nullptr;
	for (size_t n = 1024; n <= (4u << 20); n *= 2) {
		void *q = realloc(p, n);
		if (!q)
			abort();
		p = q;
		realloc_held += malloc_usable_size(p);
	}
	kept.push_back(p);
}

extern "C" NOINLINE void memalign_here(void)
{
	for (int i = 0; i < 64; i++) {
		void *p;
		if (posix_memalign(&p, 4096, 64 << 10) != 0)
			abort();
		kept.push_back(p);
	}
}

NOINLINE void new_here(void)
{
	for (int i = 0; i < 8; i++)
		kept_new.push_back(new char[1 << 20]);
}

// the blocks are freed by another thread than the one that allocated them,
// and fall in other heap addresses than the main thread's
extern "C" NOINLINE void handoff_here(std::vector<void *> *out)
{
	for (int i = 0; i < 3000; i++)
		out->push_back(malloc(200));
}

static void *handoff_thread(void *arg)
{
	handoff_here(static_cast<std::vector<void *> *>(arg));
	return nullptr;
}

static void handoff(void)
{
	std::vector<void *> blocks;
	blocks.reserve(3000);
	pthread_t t;
	if (pthread_create(&t, nullptr, handoff_thread, &blocks) != 0 ||
	    pthread_join(t, nullptr) != 0)
		abort();
	for (size_t i = 0; i < blocks.size(); i++)
		if (i % 3 != 0)
			free(blocks[i]);
		else
			kept.push_back(blocks[i]);
}

// the other allocation functions, each with sizes the allocator rounds up
extern "C" NOINLINE void family_here(void)
{
	for (size_t i = 0; i < 8; i++) {
		kept.push_back(calloc(3, 25 + i));
		kept.push_back(aligned_alloc(64, 64 * (i + 1)));
		kept.push_back(memalign(256, 1000 + i));
		kept.push_back(valloc(5000 + i));
		kept.push_back(pvalloc(100 + i));
	}
	for (size_t i = kept.size() - 40; i < kept.size(); i++)
		if (!kept[i])
			abort();
}

extern "C" NOINLINE void realloc_fail_here(void)
{
	for (int i = 0; i < 4; i++) {
		void *p = malloc(300);
		if (!p || realloc(p, SIZE_MAX / 4) != nullptr)
			abort();
		kept.push_back(p);
	}
}

static size_t spread_held; // malloc_usable_size of each block spread_here got

extern "C" NOINLINE void spread_here(void)
{
	for (size_t n = 1000; n <= 100000; n++) {
		void *p = malloc(n);
		if (!p)
			abort();
		spread_held += malloc_usable_size(p);
		free(p);
	}
}

static const size_t two_sizes_small = 262144, two_sizes_big = 64;
static size_t two_sizes[two_sizes_small + two_sizes_big];

// one call of malloc, its size read from an array: one stack, two sizes
extern "C" NOINLINE void two_sizes_here(void)
{
	for (size_t i = 0; i < sizeof two_sizes / sizeof *two_sizes; i++)
		kept.push_back(malloc(two_sizes[i]));
}

// Prints the held line of the blocks kept[from..] (see the top).
static void print_held(const char *site, size_t from)
{
	size_t bytes = 0;
	for (size_t i = from; i < kept.size(); i++)
		bytes += malloc_usable_size(kept[i]);
	printf("held %s %zu %zu\n", site, bytes, kept.size() - from);
}

static pthread_mutex_t wait_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wait_cond = PTHREAD_COND_INITIALIZER;

static void *worker(void *)
{
	pthread_mutex_lock(&wait_lock);
	for (;;)
		pthread_cond_wait(&wait_cond, &wait_lock);
	return nullptr;
}

extern "C" NOINLINE void spawn_workers(int n)
{
	for (int i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, nullptr, worker, nullptr) != 0)
			abort();
		pthread_detach(t);
	}
}

// ---- stress ----

static std::atomic<long> ops{0}, errors{0};
static std::atomic<bool> stop{false};

static uint64_t next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

struct block {
	unsigned char *p;
	size_t n;
	unsigned char fill;
	int how; // 0 malloc family, 1 new[]
};

static void check(const block &b)
{
	for (size_t i = 0; i < b.n; i += 61)
		if (b.p[i] != b.fill) {
			errors++;
			return;
		}
}

static void release(block &b)
{
	check(b);
	if (b.how == 1)
		delete[] b.p;
	else
		free(b.p);
	b.p = nullptr;
}

static void *stress_thread(void *arg)
{
	uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ULL + 1;
	block slots[256] = {};
	while (!stop.load(std::memory_order_relaxed)) {
		block &b = slots[next(&s) % 256];
		if (b.p) {
			if (next(&s) % 4 == 0 && b.how == 0) {
				check(b);
				size_t n = 1 + next(&s) % 65536;
				unsigned char *q = (unsigned char *)realloc(b.p, n);
				if (!q) {
					errors++;
					continue;
				}
				b.p = q;
				b.n = n;
				memset(b.p, b.fill, b.n);
			} else {
				release(b);
			}
		} else {
			size_t n = 1 + next(&s) % (next(&s) % 8 == 0 ? 262144 : 512);
			unsigned char *p = nullptr;
			int how = 0;
			switch (next(&s) % 5) {
			case 0: p = (unsigned char *)malloc(n); break;
			case 1: p = (unsigned char *)calloc(1, n);
				for (size_t i = 0; p && i < n; i += 61)
					if (p[i] != 0)
						errors++;
				break;
			case 2: { void *q; p = posix_memalign(&q, 64, n) == 0 ? (unsigned char *)q : nullptr; break; }
			case 3: p = (unsigned char *)aligned_alloc(256, (n + 255) & ~(size_t)255); break;
			default: p = (unsigned char *)new char[n]; how = 1; break;
			}
			if (!p) {
				errors++;
				continue;
			}
			b = block{ p, n, (unsigned char)(next(&s) | 1), how };
			memset(b.p, b.fill, b.n);
		}
		ops++;
	}
	for (block &b : slots)
		if (b.p)
			release(b);
	return nullptr;
}

// A child that allocates after fork: a lock held across fork would hang it.
static void fork_once(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 1000; i++) {
			void *p = malloc(100 + i);
			sink = p;
			free(p);
		}
		_exit(0);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		errors++;
}

static int stress(int nthreads, int seconds)
{
	std::vector<pthread_t> t(nthreads);
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&t[i], nullptr, stress_thread, (void *)(uintptr_t)(i + 1)) != 0)
			abort();
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	time_t end = time(nullptr) + seconds;
	while (time(nullptr) < end) {
		fork_once();
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, nullptr);
	}
	stop = true;
	for (pthread_t &x : t)
		pthread_join(x, nullptr);
	printf("stress ops %ld errors %ld\n", ops.load(), errors.load());
	return errors.load() == 0 ? 0 : 1;
}

// --fork-storm: threads that live for a few allocations each (a new
// thread's first stack walks take libunwind's slow path and its locks)
// while the main thread forks as fast as it can; each child walks fresh
// stacks too, in a thread of its own. A lock held across fork hangs the
// child: it is waited for 20 s, then counted as stuck and killed.
static void *short_lived(void *)
{
	for (int i = 0; i < 8; i++) {
		void *p = malloc(64 + i);
		sink = p;
		free(p);
	}
	return nullptr;
}

static void *spawner(void *)
{
	while (!stop.load(std::memory_order_relaxed)) {
		pthread_t t;
		if (pthread_create(&t, nullptr, short_lived, nullptr) == 0)
			pthread_join(t, nullptr);
		else
			errors++;
	}
	return nullptr;
}

static int fork_storm(int seconds)
{
	pthread_t sp[2];
	for (pthread_t &t : sp)
		if (pthread_create(&t, nullptr, spawner, nullptr) != 0)
			abort();
	long forks = 0, stuck = 0, failed = 0;
	time_t end = time(nullptr) + seconds;
	while (time(nullptr) < end) {
		pid_t pid = fork();
		if (pid == 0) {
			pthread_t t;
			short_lived(nullptr);
			if (pthread_create(&t, nullptr, short_lived, nullptr) != 0 ||
			    pthread_join(t, nullptr) != 0)
				_exit(2);
			_exit(0);
		}
		if (pid < 0) {
			failed++;
			continue;
		}
		forks++;
		int st = 0, k = 0;
		pid_t w;
		while ((w = waitpid(pid, &st, WNOHANG)) == 0 && k++ < 20000) {
			struct timespec ts = { 0, 1000 * 1000 };
			nanosleep(&ts, nullptr);
		}
		if (w == 0) {
			stuck++;
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
		} else if (w != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			failed++;
		}
	}
	stop = true;
	for (pthread_t &t : sp)
		pthread_join(t, nullptr);
	printf("fork-storm forks %ld stuck %ld failed %ld\n", forks, stuck, failed + errors.load());
	return stuck == 0 && failed == 0 && errors.load() == 0 ? 0 : 1;
}

static int fork_exec(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		std::vector<char *> v;
		for (int i = 0; i < 1000; i++) {
			char *p = (char *)malloc(64);
			memset(p, 7, 64);
			v.push_back(p);
		}
		for (char *p : v) {
			if (p[63] != 7)
				_exit(3);
			free(p);
		}
		execl("/bin/true", "true", (char *)nullptr);
		_exit(4);
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		printf("fork-exec failed\n");
		return 1;
	}
	printf("fork-exec ok\n");
	return 0;
}

static int turnover(long rounds)
{
	// the blocks' stride changes every round, so the addresses (and the
	// agent's live-table slots they hash to) do too
	const long k = 100000;
	void **a = static_cast<void **>(calloc(k, sizeof *a));
	void **b = static_cast<void **>(calloc(k, sizeof *b));
	if (!a || !b)
		return 1;
	for (long r = 0; r < rounds; r++) {
		size_t size = 32 + 16 * (size_t)(r % 13);
		for (long i = 0; i < k; i++) {
			a[i] = malloc(size);
			b[i] = malloc(0);
			if (!a[i] || !b[i])
				return 1;
			memset(a[i], 1, size);
		}
		for (long i = 0; i < k; i++) {
			free(b[i]);
			free(a[i]);
		}
	}
	free(a);
	free(b);
	printf("turnover %ld ok\n", rounds);
	return 0;
}

int main(int argc, char **argv)
{
	int workers = 3, exit_after = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--workers") && i + 1 < argc)
			workers = atoi(argv[++i]);
		else if (!strcmp(argv[i], "--stress") && i + 2 < argc)
			return stress(atoi(argv[i + 1]), atoi(argv[i + 2]));
		else if (!strcmp(argv[i], "--turnover") && i + 1 < argc)
			return turnover(atol(argv[i + 1]));
		else if (!strcmp(argv[i], "--fork-exec"))
			return fork_exec();
		else if (!strcmp(argv[i], "--fork-storm") && i + 1 < argc)
			return fork_storm(atoi(argv[i + 1]));
		else if (!strcmp(argv[i], "--exit-after") && i + 1 < argc)
			exit_after = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: heap-target [--workers N] [--stress THREADS SECONDS] "
					"[--fork-exec] [--fork-storm SECONDS] [--turnover ROUNDS] "
					"[--exit-after S]\n");
			return 2;
		}
	}
	// no vector growth inside the measured call sites
	kept.reserve(8192 + sizeof two_sizes / sizeof *two_sizes);
	kept_new.reserve(16);
	// first: at PPROF_MEMRATE=1 nothing allocated since the agent started
	// may go unsampled, not even right at the start of main
	exact_here();
	print_held("exact_here", 0);
	size_t from = kept.size();
	leak_here();
	print_held("leak_here", from);
	churn_here();
	from = kept.size();
	realloc_here();
	print_held("realloc_here", from);
	printf("held realloc_here_allocated %zu 10\n", realloc_held);
	from = kept.size();
	memalign_here();
	print_held("memalign_here", from);
	new_here();
	size_t new_held = 0;
	for (char *p : kept_new)
		new_held += malloc_usable_size(p);
	printf("held new_here %zu %zu\n", new_held, kept_new.size());
	from = kept.size();
	handoff();
	print_held("handoff_here", from);
	from = kept.size();
	family_here();
	print_held("family_here", from);
	spread_here();
	printf("held spread_here_allocated %zu 99001\n", spread_held);
	from = kept.size();
	realloc_fail_here();
	print_held("realloc_fail_here", from);
	for (size_t i = 0; i < sizeof two_sizes / sizeof *two_sizes; i++)
		two_sizes[i] = i % 4097 == 0 ? 1 << 20 : 64; // the big ones spread out
	from = kept.size();
	two_sizes_here();
	print_held("two_sizes_here", from);
	for (size_t size : { (size_t)64, (size_t)1 << 20 }) {
		size_t bytes = 0, n = 0;
		for (size_t i = from; i < kept.size(); i++)
			if (two_sizes[i - from] == size) {
				bytes += malloc_usable_size(kept[i]);
				n++;
			}
		printf("held two_sizes_here/%zu %zu %zu\n", size, bytes, n);
	}
	spawn_workers(workers);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	pthread_sigmask(SIG_BLOCK, &set, nullptr);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	if (exit_after > 0) {
		struct timespec ts = { exit_after, 0 };
		sigtimedwait(&set, nullptr, &ts);
	} else {
		int sig;
		sigwait(&set, &sig);
	}
	return 0;
}
