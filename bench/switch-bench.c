/* switch-bench: what exact off-CPU time from perf's scheduler switch
 * records would cost and give, for the choice in docs/sampling.md. A
 * thread waits about 10,000 times a second (sleeps of 80 us, nothing
 * else: two switches each, out and back in); phases of SECONDS each
 * (default 2) take turns, ROUNDS times (default 3):
 *   none     no event on the thread;
 *   switch   a dummy event with context_switch=1: a PERF_RECORD_SWITCH
 *            (with its time) at every switch in and out, read from the
 *            ring by this process;
 *   stacks   a context-switch software event sampled at every switch with
 *            its callchain and 8 KiB of user stack: what it takes to put
 *            each wait on its stack, as the perf CPU sampler does ticks.
 * Per mode: the thread's CPU per wait (its schedstat), the ratio to none,
 * the reader's CPU per wait, and for the records the off-CPU time they
 * add up to against the thread's own: the phase's wall time minus its
 * CPU time (off a CPU is asleep or queued for one, as the records see).
 *   switch-bench [SECONDS [ROUNDS]] */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define RING_PAGES 64 /* data pages, a power of two */

enum mode { NONE, SWITCH, STACKS, NMODES };
static const char *const mode_name[NMODES] = { "none", "switch", "stacks" };

static atomic_long cycles;
static atomic_int worker_tid, stop;

static int64_t now_ns(clockid_t c)
{
	struct timespec ts;
	clock_gettime(c, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *worker(void *arg)
{
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0); /* sleeps as asked: a steady rate */
	atomic_store(&worker_tid, (int)syscall(SYS_gettid));
	while (!atomic_load(&stop)) {
		struct timespec ts = { 0, 80000 };
		nanosleep(&ts, NULL);
		atomic_fetch_add(&cycles, 1);
	}
	return arg;
}

static int64_t task_cpu_ns(int tid)
{
	char path[64], text[128];
	snprintf(path, sizeof path, "/proc/self/task/%d/schedstat", tid);
	int fd = open(path, O_RDONLY);
	ssize_t n = fd < 0 ? -1 : read(fd, text, sizeof text - 1);
	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	return strtoll(text, NULL, 10);
}

struct ring {
	int fd;
	struct perf_event_mmap_page *meta;
	uint8_t *data;
	size_t size;
	int64_t out_at;   /* CLOCK_MONOTONIC of the last voluntary switch out, 0: none */
	int64_t off_ns;   /* switch out (voluntary) to switch in, summed */
	uint64_t samples, lost; /* records and samples read; lost */
};

static int ring_open(struct ring *r, enum mode m, int tid)
{
	struct perf_event_attr a;
	memset(&a, 0, sizeof a);
	a.size = sizeof a;
	a.type = PERF_TYPE_SOFTWARE;
	a.disabled = 1;
	a.exclude_hv = 1;
	a.use_clockid = 1;
	a.clockid = CLOCK_MONOTONIC;
	a.sample_id_all = 1;
	a.sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME;
	a.wakeup_events = 64;
	if (m == SWITCH) {
		a.config = PERF_COUNT_SW_DUMMY;
		a.context_switch = 1;
	} else {
		a.config = PERF_COUNT_SW_CONTEXT_SWITCHES;
		a.sample_period = 1;
		a.sample_type |= PERF_SAMPLE_IP | PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_REGS_USER |
				 PERF_SAMPLE_STACK_USER;
		a.sample_regs_user = 0xff0fff; /* x86-64: the general registers, ip, sp */
		a.sample_stack_user = 8192;
		a.exclude_callchain_kernel = 1; /* the event is in the kernel: counted there */
	}
	r->fd = (int)syscall(SYS_perf_event_open, &a, tid, -1, -1, PERF_FLAG_FD_CLOEXEC);
	if (r->fd < 0)
		return -1;
	r->size = (size_t)RING_PAGES * 4096;
	void *p = mmap(NULL, r->size + 4096, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (p == MAP_FAILED) {
		close(r->fd);
		return -1;
	}
	r->meta = p;
	r->data = (uint8_t *)p + 4096;
	ioctl(r->fd, PERF_EVENT_IOC_ENABLE, 0);
	return 0;
}

static void ring_drain(struct ring *r)
{
	uint64_t head = __atomic_load_n(&r->meta->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = r->meta->data_tail;
	while (tail < head) {
		struct perf_event_header h;
		uint8_t rec[65536];
		for (size_t i = 0; i < sizeof h; i++)
			((uint8_t *)&h)[i] = r->data[(tail + i) % r->size];
		/* samples are counted, not read: their stacks are what an
		 * unwinder would cost on top */
		if (h.type != PERF_RECORD_SAMPLE)
			for (size_t i = 0; i < h.size && i < sizeof rec; i++)
				rec[i] = r->data[(tail + i) % r->size];
		tail += h.size;
		if (h.type == PERF_RECORD_LOST) {
			r->lost += *(uint64_t *)(rec + sizeof h + 8);
		} else if (h.type == PERF_RECORD_SAMPLE) {
			r->samples++;
		} else if (h.type == PERF_RECORD_SWITCH) {
			/* sample_id: pid, tid, then time */
			int64_t t = (int64_t)*(uint64_t *)(rec + sizeof h + 8);
			r->samples++; /* a record read, as a sample is */
			if (h.misc & PERF_RECORD_MISC_SWITCH_OUT) {
				bool preempted = h.misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT;
				r->out_at = preempted ? 0 : t;
			} else if (r->out_at) {
				r->off_ns += t - r->out_at;
				r->out_at = 0;
			}
		}
	}
	__atomic_store_n(&r->meta->data_tail, tail, __ATOMIC_RELEASE);
}

static void ring_close(struct ring *r)
{
	ioctl(r->fd, PERF_EVENT_IOC_DISABLE, 0);
	ring_drain(r);
	munmap(r->meta, r->size + 4096);
	close(r->fd);
}

struct total {
	double cpu_ns, waits, reader_ns, off_ns, truth_ns, samples, lost;
	int phases;
};

int main(int argc, char **argv)
{
	double secs = argc > 1 ? atof(argv[1]) : 2;
	int rounds = argc > 2 ? atoi(argv[2]) : 3;
	pthread_t th;
	if (pthread_create(&th, NULL, worker, NULL) != 0)
		return 1;
	while (!atomic_load(&worker_tid))
		sched_yield();
	int tid = atomic_load(&worker_tid);
	struct total tot[NMODES] = { 0 };
	for (int round = 0; round < rounds; round++) {
		for (int m = 0; m < NMODES; m++) {
			struct ring r = { .fd = -1 };
			if (m != NONE && ring_open(&r, m, tid) < 0) {
				printf("perf_event_open (%s): %s: not permitted here\n", mode_name[m],
				       strerror(errno));
				continue;
			}
			long c0 = atomic_load(&cycles);
			int64_t cpu0 = task_cpu_ns(tid), wall0 = now_ns(CLOCK_MONOTONIC);
			int64_t rd0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
			int64_t end = now_ns(CLOCK_MONOTONIC) + (int64_t)(secs * 1e9);
			while (now_ns(CLOCK_MONOTONIC) < end) {
				if (m != NONE) {
					struct pollfd pfd = { r.fd, POLLIN, 0 };
					poll(&pfd, 1, 10);
					ring_drain(&r);
				} else {
					struct timespec ts = { 0, 10000000 };
					nanosleep(&ts, NULL);
				}
			}
			long c1 = atomic_load(&cycles);
			int64_t cpu1 = task_cpu_ns(tid), wall1 = now_ns(CLOCK_MONOTONIC);
			if (m != NONE)
				ring_close(&r);
			int64_t rd1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
			struct total *t = &tot[m];
			t->waits += (double)(c1 - c0);
			t->cpu_ns += (double)(cpu1 - cpu0);
			t->reader_ns += (double)(rd1 - rd0);
			t->off_ns += (double)r.off_ns;
			t->truth_ns += (double)((wall1 - wall0) - (cpu1 - cpu0));
			t->samples += (double)r.samples;
			t->lost += (double)r.lost;
			t->phases++;
		}
	}
	atomic_store(&stop, 1);
	pthread_join(th, NULL);
	double base = tot[NONE].waits > 0 ? tot[NONE].cpu_ns / tot[NONE].waits : 0;
	printf("| events on the thread | waits/s | thread CPU per wait | ratio to none | reader CPU per wait | records + samples per wait | off-CPU from records / thread's wall - CPU | lost |\n");
	printf("|---|---|---|---|---|---|---|---|\n");
	for (int m = 0; m < NMODES; m++) {
		struct total *t = &tot[m];
		if (!t->phases || t->waits == 0)
			continue;
		double per = t->cpu_ns / t->waits;
		printf("| %s | %.0f | %.2f us | %.2f | %.2f us | ", mode_name[m],
		       t->waits / (t->phases * secs), per / 1e3, base ? per / base : 0,
		       t->reader_ns / t->waits / 1e3);
		printf("%.2f | ", m == NONE ? 0 : t->samples / t->waits);
		if (m == SWITCH)
			printf("%.4f", t->off_ns / t->truth_ns);
		else
			printf("-");
		printf(" | %.0f |\n", t->lost);
	}
	return 0;
}
