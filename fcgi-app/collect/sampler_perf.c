/* sampler_perf: sampling by the kernel (perf_event_open), as target.c owns
 * ptrace this module owns perf_event_open and its ring buffers. No thread
 * is ever stopped or traced for a CPU profile: a software task-clock event
 * every 1e9/hz ns of a thread's CPU time records its user registers and
 * the top of its stack, which the collector unwinds (unwind_copy).
 *
 * Layout (what `perf record -p` does): one event per (thread, online CPU)
 * with inherit (threads only: inherit_thread, so forked processes are not
 * followed), one ring buffer per CPU, the other events of that CPU
 * redirected into it. Threads created later inherit the events of their
 * creator and land in the same buffers with no new descriptor; a thread
 * cloned between listing and opening is found by listing again.
 *
 * User frames only for now (exclude_kernel): a tick landing in the kernel
 * makes no sample, so each thread's time in the kernel is read from /proc
 * (stime) and handed as one [kernel: not sampled] frame, and the profile's
 * CPU time still adds up to the kernel's accounting. Off-CPU passes and
 * thread dumps asked for meanwhile are lent to the ptrace sampler
 * (perf_lend.c). Which
 * sampler a window gets, and a refusal in words: sampler_pick.c. */
#include "collect/sampler.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/vec.h"
#include "collect/collector.h"
#include "collect/perf_lend.h"
#include "collect/proc.h"
#include "collect/sampler_perf.h"
#include "collect/sampler_pick.h"
#include "collect/tidtab.h"

#include <dirent.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <asm/perf_regs.h>
#endif

/* a multiple of 8 below 64 KiB; 32 KiB held every stack measured whole.
 * Each record takes all of it whatever the stack's depth. */
#define STACK_BYTES (32 * 1024)
/* per CPU at most (halved while locked memory is short): 128 records of
 * 32 KiB, 64 ms of one thread at 1000 Hz before the collector reads */
#define DATA_PAGES 1024
#define LIST_PASSES 16 /* listings until no thread is new */

struct task {
	pid_t tid;
	uint64_t stime_ns; /* its kernel time at the last look */
};

struct cpubuf {
	int fd;            /* the event whose buffer it is; -1: none yet */
	unsigned char *map;
	size_t len;        /* mapped, header page included */
	bool hup;          /* its event's thread is gone: not polled */
};

struct sampler {
	struct sampler_host host;
	pid_t pid;
	long hz;                  /* events open at this rate; 0: none */
	int ncpu;
	struct cpubuf *buf;       /* by CPU number */
	int *fds;                 /* every event, closed at detach: closing */
	size_t nfds, fds_cap;     /* one frees the events its thread's children inherited */
	struct task *tasks;       /* threads covered: opened or inherited */
	size_t ntasks, tasks_cap;
	bool no_inherit_thread;   /* a kernel before 5.13 */
	struct err open_err;      /* why events could not be opened (arm), for follow */
	uint64_t proc_stime_ns;   /* the process's kernel time at the last look */
	unsigned char *rec;       /* a record that wraps the ring's end, copied */
	size_t rec_cap;
	struct sampler_stats counts; /* handed out by the next drain */
	struct sampler *pt;       /* ptrace, only for waits and dumps asked meanwhile */
};

static int perf_open(struct perf_event_attr *a, pid_t tid, int cpu)
{
	return (int)syscall(SYS_perf_event_open, a, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

#if defined(__x86_64__)
/* the sample's registers come in bit order; regs.h numbers them as libunwind */
static const int perf_reg_of[REGS_N] = {
	PERF_REG_X86_AX, PERF_REG_X86_DX, PERF_REG_X86_CX, PERF_REG_X86_BX,
	PERF_REG_X86_SI, PERF_REG_X86_DI, PERF_REG_X86_BP, PERF_REG_X86_SP,
	PERF_REG_X86_R8, PERF_REG_X86_R9, PERF_REG_X86_R10, PERF_REG_X86_R11,
	PERF_REG_X86_R12, PERF_REG_X86_R13, PERF_REG_X86_R14, PERF_REG_X86_R15,
	PERF_REG_X86_IP,
};
#endif

static uint64_t regs_mask(void)
{
	uint64_t m = 0;
#if defined(__x86_64__)
	for (int i = 0; i < REGS_N; i++)
		m |= 1ULL << perf_reg_of[i];
#endif
	return m;
}

/* The sample's registers (in mask order) as struct regs. */
static void regs_from_sample(const uint64_t *in, struct regs *out)
{
	memset(out, 0, sizeof *out);
#if defined(__x86_64__)
	uint64_t m = regs_mask();
	for (int i = 0; i < REGS_N; i++) {
		/* the position of this register among the mask's set bits */
		int at = __builtin_popcountll(m & ((1ULL << perf_reg_of[i]) - 1));
		out->r[i] = in[at];
	}
#else
	(void)in;
#endif
}

static void attr_init(struct perf_event_attr *a, long hz, bool inherit_thread)
{
	memset(a, 0, sizeof *a);
	a->size = sizeof *a;
	a->type = PERF_TYPE_SOFTWARE;
	a->config = PERF_COUNT_SW_TASK_CLOCK;
	/* a fixed period: sample_freq fails when the kernel has lowered
	 * perf_event_max_sample_rate, which VMs do after slow interrupts */
	a->sample_period = hz > 0 ? (uint64_t)(1000000000LL / hz) : 10000000;
	a->sample_type = PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_PERIOD |
			 PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER;
	a->sample_regs_user = regs_mask();
	a->sample_stack_user = STACK_BYTES;
	a->exclude_kernel = 1;
	a->exclude_hv = 1;
	a->inherit = 1;
	a->inherit_thread = inherit_thread;
	a->task = 1;      /* FORK and EXIT records: threads come and go */
	a->comm = 1;      /* thread names, and exec (comm_exec) */
	a->comm_exec = 1;
	a->sample_id_all = 1;
	a->use_clockid = 1;
	a->clockid = CLOCK_BOOTTIME; /* the clock of every sample timestamp here */
	a->watermark = 1;
	a->wakeup_watermark = 4 * (STACK_BYTES + 4096); /* a few records */
}

/* one task-clock event, opened and closed */
int sampler_perf_probe(const struct collector_config *cc, pid_t pid, struct err *e)
{
	if (cc->perf_refused)
		return sampler_pick_refusal(cc->perf_refused, pid, e);
	if (!regs_mask())
		return err_set(e, ERR_PERMISSION, "perf_event: user registers of this architecture "
			       "are not supported yet");
	struct perf_event_attr a;
	attr_init(&a, 100, true);
	a.disabled = 1;
	int fd = perf_open(&a, pid, -1);
	if (fd < 0 && (errno == EINVAL || errno == E2BIG)) {
		attr_init(&a, 100, false);
		a.disabled = 1;
		fd = perf_open(&a, pid, -1);
	}
	if (fd < 0)
		return sampler_pick_refusal(errno, pid, e);
	close(fd);
	return 0;
}

/* ---- threads ---- */

static struct task *task_find(struct sampler *s, pid_t tid)
{
	for (size_t i = 0; i < s->ntasks; i++)
		if (s->tasks[i].tid == tid)
			return &s->tasks[i];
	return NULL;
}

/* The table's entry for tid, added (and announced) when new. */
static struct thr *thread_of(struct sampler *s, pid_t tid)
{
	struct thr *t = tidtab_find(s->host.threads, tid);
	if (t && !t->kept)
		return t;
	if (t)
		tidtab_renew(t); /* from an earlier loop: counts from 0 again */
	else
		t = tidtab_add(s->host.threads, tid);
	tidtab_state(s->pid, t);
	struct sampler_event ev = { .kind = SAMPLER_THREAD_NEW, .tid = tid,
				    .time_ns = clock_ns(CLOCK_BOOTTIME) };
	s->host.sink.event(s->host.sink.arg, &ev);
	return tidtab_find(s->host.threads, tid);
}

static void task_add(struct sampler *s, pid_t tid, uint64_t stime_ns)
{
	if (task_find(s, tid))
		return;
	struct task *k = VEC_PUSH(s->tasks, s->ntasks, s->tasks_cap, 64);
	k->tid = tid;
	k->stime_ns = stime_ns;
	thread_of(s, tid);
}

static void task_drop(struct sampler *s, pid_t tid)
{
	struct task *k = task_find(s, tid);
	if (k)
		*k = s->tasks[--s->ntasks];
}

/* Events for tid on every CPU; 0 also when it is gone, -1 with e when
 * perf_event_open refuses. */
static int open_thread(struct sampler *s, pid_t tid, struct err *e)
{
	long page = sysconf(_SC_PAGESIZE);
	for (int cpu = 0; cpu < s->ncpu; cpu++) {
		struct perf_event_attr a;
		attr_init(&a, s->hz, !s->no_inherit_thread);
		int fd = perf_open(&a, tid, cpu);
		if (fd < 0 && !s->no_inherit_thread && (errno == EINVAL || errno == E2BIG)) {
			s->no_inherit_thread = true;
			log_info("perf_event: no inherit_thread in this kernel: forked processes "
				 "are followed too, their samples dropped");
			attr_init(&a, s->hz, false);
			fd = perf_open(&a, tid, cpu);
		}
		if (fd < 0 && errno == ENODEV)
			continue; /* an offline CPU */
		if (fd < 0 && errno == ESRCH)
			return 0; /* exited meanwhile */
		if (fd < 0)
			return sampler_pick_refusal(errno, s->pid, e);
		*(int *)VEC_PUSH(s->fds, s->nfds, s->fds_cap, 64) = fd;
		struct cpubuf *b = &s->buf[cpu];
		if (b->fd >= 0) {
			if (ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, b->fd) < 0)
				return err_errno(e, ERR_INTERNAL, errno, "perf_event: redirect to CPU %d's buffer", cpu);
			continue;
		}
		/* smaller when locked memory is short (perf_event_mlock_kb) */
		for (size_t pages = DATA_PAGES; pages >= 8; pages /= 2) {
			size_t len = (pages + 1) * (size_t)page;
			void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
			if (m != MAP_FAILED) {
				b->fd = fd;
				b->map = m;
				b->len = len;
				break;
			}
		}
		if (b->fd < 0)
			return err_errno(e, ERR_PERMISSION, errno, "perf_event: ring buffer for CPU %d", cpu);
	}
	return 0;
}

static void drain_buffers(struct sampler *s);

/* Lists the target's threads until no new one shows up: a thread cloned
 * between a listing and its creator's events was inherited by none. The
 * buffers are read before each decision, so a thread that was inherited
 * (its FORK record) is not opened twice. */
static int cover_threads(struct sampler *s, struct err *e)
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/task", (int)s->pid);
	for (int pass = 0; pass < LIST_PASSES; pass++) {
		DIR *d = opendir(path);
		if (!d)
			return err_errno(e, ERR_TARGET, errno, "target pid %d exited", (int)s->pid);
		pid_t *found = NULL;
		size_t nfound = 0, cap = 0;
		struct dirent *de;
		while ((de = readdir(d))) {
			char *end;
			long tid = strtol(de->d_name, &end, 10);
			if (!*end && tid > 0)
				*(pid_t *)VEC_PUSH(found, nfound, cap, 64) = (pid_t)tid;
		}
		closedir(d);
		drain_buffers(s);
		size_t opened = 0;
		int rc = 0;
		for (size_t i = 0; i < nfound && rc == 0; i++) {
			if (task_find(s, found[i]))
				continue;
			task_add(s, found[i], proc_stime_ns(s->pid, found[i]));
			rc = open_thread(s, found[i], e);
			opened++;
		}
		free(found);
		if (rc < 0)
			return -1;
		if (opened == 0)
			return 0;
	}
	return 0;
}

static void close_events(struct sampler *s)
{
	drain_buffers(s);
	for (size_t i = 0; i < s->nfds; i++)
		close(s->fds[i]);
	s->nfds = 0;
	for (int cpu = 0; cpu < s->ncpu; cpu++) {
		struct cpubuf *b = &s->buf[cpu];
		if (b->map)
			munmap(b->map, b->len);
		*b = (struct cpubuf){ .fd = -1 };
	}
	s->ntasks = 0;
}

/* ---- records ---- */

static const uint64_t kernel_pc[1] = { SAMPLER_PC_KERNEL };

static void on_sample(struct sampler *s, const unsigned char *p, const unsigned char *end)
{
	const uint32_t *ids = (const uint32_t *)p;
	pid_t pid = (pid_t)ids[0], tid = (pid_t)ids[1];
	p += 8;
	uint64_t time = *(const uint64_t *)p, period = *(const uint64_t *)(p + 8);
	p += 16;
	uint64_t abi = *(const uint64_t *)p;
	p += 8;
	const uint64_t *regs = (const uint64_t *)p;
	if (abi)
		p += 8 * (size_t)__builtin_popcountll(regs_mask());
	if (p + 8 > end || pid != s->pid)
		return; /* another process (a kernel without inherit_thread) */
	uint64_t size = *(const uint64_t *)p;
	p += 8;
	const unsigned char *stack = p;
	uint64_t dyn = 0;
	if (size && p + size + 8 <= end)
		dyn = *(const uint64_t *)(p + size);
	/* a copy that filled all it asked for may have left the stack's outer
	 * frames out (a shorter one reached the stack's end) */
	if (size && dyn >= size)
		s->counts.truncated++;
	if (!task_find(s, tid))
		task_add(s, tid, 0); /* born since: all its kernel time is ours */
	struct sampler_sample smp = {
		.pid = pid, .tid = tid, .time_ns = (int64_t)time, .period_ns = period,
		.has_regs = abi != 0, .stack = stack, .stack_size = dyn < size ? dyn : size,
	};
	if (abi)
		regs_from_sample(regs, &smp.regs);
	s->counts.samples++;
	s->counts.ticks++;
	s->host.sink.sample(s->host.sink.arg, &smp);
}

static void on_record(struct sampler *s, const struct perf_event_header *h)
{
	const unsigned char *p = (const unsigned char *)(h + 1), *end = (const unsigned char *)h + h->size;
	const uint32_t *u = (const uint32_t *)p;
	switch (h->type) {
	case PERF_RECORD_SAMPLE:
		on_sample(s, p, end);
		break;
	case PERF_RECORD_LOST:
		s->counts.lost += *(const uint64_t *)(p + 8);
		break;
	case PERF_RECORD_LOST_SAMPLES:
		s->counts.lost += *(const uint64_t *)p;
		break;
	case PERF_RECORD_THROTTLE:
		s->counts.throttled++;
		break;
	case PERF_RECORD_FORK: /* pid, ppid, tid, ptid */
		if ((pid_t)u[0] == s->pid)
			task_add(s, (pid_t)u[2], 0);
		break;
	case PERF_RECORD_EXIT:
		if ((pid_t)u[0] == s->pid) {
			pid_t tid = (pid_t)u[2];
			struct thr *t = tidtab_find(s->host.threads, tid);
			struct sampler_event ev = { .kind = SAMPLER_THREAD_EXIT, .tid = tid,
						    .time_ns = clock_ns(CLOCK_BOOTTIME) };
			s->host.sink.event(s->host.sink.arg, &ev);
			if (t)
				t->dead = true;
			task_drop(s, tid);
		}
		break;
	case PERF_RECORD_COMM: /* pid, tid, comm */
		if ((pid_t)u[0] != s->pid)
			break;
		if (h->misc & PERF_RECORD_MISC_COMM_EXEC) {
			struct sampler_event ev = { .kind = SAMPLER_EXEC, .tid = (pid_t)u[1],
						    .time_ns = clock_ns(CLOCK_BOOTTIME) };
			s->host.sink.event(s->host.sink.arg, &ev);
		}
		struct thr *t = tidtab_find(s->host.threads, (pid_t)u[1]);
		if (t)
			snprintf(t->comm, sizeof t->comm, "%.15s", (const char *)(u + 2));
		break;
	}
}

/* Hands every record in b to on_record, then frees its room. */
static void drain_buffer(struct sampler *s, struct cpubuf *b)
{
	struct perf_event_mmap_page *mp = (void *)b->map;
	unsigned char *data = b->map + mp->data_offset;
	uint64_t size = mp->data_size;
	uint64_t head = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE);
	uint64_t tail = mp->data_tail;
	while (tail + sizeof(struct perf_event_header) <= head) {
		const struct perf_event_header *h = (const void *)(data + tail % size);
		if (h->size < sizeof *h || tail + h->size > head)
			break;
		if (tail % size + h->size > size) {
			/* wraps the end: one piece */
			VEC_RESERVE(s->rec, s->rec_cap, h->size, 65536);
			size_t first = (size_t)(size - tail % size);
			memcpy(s->rec, data + tail % size, first);
			memcpy(s->rec + first, data, h->size - first);
			h = (const void *)s->rec;
		}
		on_record(s, h);
		tail += h->size;
	}
	__atomic_store_n(&mp->data_tail, tail, __ATOMIC_RELEASE);
}

static void drain_buffers(struct sampler *s)
{
	for (int cpu = 0; cpu < s->ncpu; cpu++)
		if (s->buf[cpu].map)
			drain_buffer(s, &s->buf[cpu]);
}

/* Each thread's kernel time since the last look, as a one-frame sample:
 * with exclude_kernel a tick in the kernel makes no sample at all. */
static void kernel_time(struct sampler *s)
{
	uint64_t total = proc_stime_ns(s->pid, 0);
	if (total == s->proc_stime_ns)
		return; /* no thread spent a tick in the kernel: no thread to read */
	s->proc_stime_ns = total;
	for (size_t i = 0; i < s->ntasks; i++) {
		struct task *k = &s->tasks[i];
		uint64_t now = proc_stime_ns(s->pid, k->tid);
		if (now <= k->stime_ns)
			continue;
		struct sampler_sample smp = {
			.pid = s->pid, .tid = k->tid, .time_ns = clock_ns(CLOCK_BOOTTIME),
			.period_ns = now - k->stime_ns, .pcs = kernel_pc, .npcs = 1,
		};
		k->stime_ns = now;
		s->host.sink.sample(s->host.sink.arg, &smp);
	}
}

/* ---- the ops ---- */

static struct sampler *perf_attach(const struct sampler_host *host, struct err *e)
{
	(void)e; /* events are opened by arm once the rate is known */
	struct sampler *s = calloc(1, sizeof *s);
	if (!s)
		abort();
	s->host = *host;
	s->pid = host->pid;
	long n = sysconf(_SC_NPROCESSORS_CONF);
	s->ncpu = n > 0 ? (int)n : 1;
	s->buf = calloc((size_t)s->ncpu, sizeof *s->buf);
	if (!s->buf)
		abort();
	for (int cpu = 0; cpu < s->ncpu; cpu++)
		s->buf[cpu].fd = -1;
	return s;
}

static void perf_arm(struct sampler *s, long hz)
{
	if (hz == s->hz)
		return;
	/* a new rate: events opened afresh (an inherited event keeps its
	 * parent's period) */
	close_events(s);
	s->hz = hz;
	err_clear(&s->open_err);
	if (hz <= 0)
		return;
	s->proc_stime_ns = proc_stime_ns(s->pid, 0);
	if (cover_threads(s, &s->open_err) < 0) {
		log_info("perf_event sampler: %s", s->open_err.msg);
		close_events(s);
		return;
	}
	log_info("perf_event sampler: %zu events on %zu threads x %d CPUs at %ld Hz", s->nfds,
		 s->ntasks, s->ncpu, hz);
}

static int perf_follow(struct sampler *s, struct err *e)
{
	if (s->open_err.kind != ERR_NONE) {
		*e = s->open_err;
		return -1;
	}
	if (!proc_alive(s->pid))
		return err_set(e, ERR_TARGET, "target pid %d exited", (int)s->pid);
	if (s->hz > 0) {
		if (cover_threads(s, e) < 0)
			return -1;
		kernel_time(s);
	}
	if (s->pt && sampler_ptrace.follow(s->pt, e) < 0)
		return -1;
	tidtab_compact(s->host.threads);
	return 0;
}

static void perf_drain(struct sampler *s, int64_t timeout_ns, struct sampler_stats *st)
{
	if (s->pt) {
		/* the lent tracer's events (signals to pass on) come often */
		sampler_ptrace.drain(s->pt, 0, st);
		if (timeout_ns > 5000000)
			timeout_ns = 5000000;
	}
	drain_buffers(s);
	struct pollfd pfd[s->ncpu];
	int cpu_of[s->ncpu];
	nfds_t n = 0;
	for (int cpu = 0; cpu < s->ncpu; cpu++)
		if (s->buf[cpu].map && !s->buf[cpu].hup) {
			cpu_of[n] = cpu;
			pfd[n++] = (struct pollfd){ .fd = s->buf[cpu].fd, .events = POLLIN };
		}
	if (timeout_ns > 0) {
		struct timespec ts = { timeout_ns / 1000000000LL, timeout_ns % 1000000000LL };
		if (ppoll(n ? pfd : NULL, n, &ts, NULL) > 0) {
			/* a buffer whose event's thread is gone hangs up for good:
			 * read still (other threads' events write into it), not polled */
			for (nfds_t i = 0; i < n; i++)
				if (pfd[i].revents & POLLHUP)
					s->buf[cpu_of[i]].hup = true;
			drain_buffers(s);
		}
	}
	sampler_stats_add(st, &s->counts);
	memset(&s->counts, 0, sizeof s->counts);
}

static void perf_waits(struct sampler *s, bool settle, struct sampler_stats *st)
{
	perf_lend_waits(&s->pt, &s->host, settle, st);
}

static void perf_snapshot(struct sampler *s, struct sampler_stats *st)
{
	perf_lend_snapshot(&s->pt, &s->host, st);
}

static void perf_detach(struct sampler *s)
{
	close_events(s);
	if (s->pt) {
		sampler_ptrace.detach(s->pt);
	} else {
		/* the threads stay known with their stacks for the next loop */
		for (size_t i = 0; i < s->host.threads->n; i++)
			s->host.threads->thr[i].kept = true;
	}
	free(s->fds);
	free(s->tasks);
	free(s->buf);
	free(s->rec);
	free(s);
}

static void perf_describe(enum sampler_kind kind, long hz, const struct sampler_stats *st,
			  struct sampler_lines *out)
{
	if (kind != SAMPLER_CPU) {
		sampler_ptrace.describe(kind, hz, st, out);
		return;
	}
	log_info("perf_event sampler: %llu samples at %ld Hz, %llu lost, %llu throttled, %llu "
		 "stack copies full", (unsigned long long)st->samples, hz,
		 (unsigned long long)st->lost, (unsigned long long)st->throttled,
		 (unsigned long long)st->truncated);
	if (st->lost > 0)
		sampler_line(out, "pprof-fcgi: %llu samples were lost (the kernel's ring buffers filled "
			     "faster than pprof-fcgi read them, a busy machine): their CPU time is "
			     "missing from this profile", (unsigned long long)st->lost);
	if (st->throttled > 0)
		sampler_line(out, "pprof-fcgi: the kernel throttled sampling %llu times "
			     "(kernel.perf_event_max_sample_rate): fewer samples than %ld Hz asks, "
			     "their CPU time is missing; ask a lower hz", (unsigned long long)st->throttled, hz);
	if (st->truncated * 100 > st->samples)
		sampler_line(out, "pprof-fcgi: %llu of %llu stacks were deeper than the %d KiB copied "
			     "with each sample: their outermost frames may be missing",
			     (unsigned long long)st->truncated, (unsigned long long)st->samples,
			     STACK_BYTES / 1024);
}

const struct sampler_ops sampler_perf = {
	.name = "perf_event",
	.needs = SAMPLER_NEEDS_READ_MEM | SAMPLER_NEEDS_PERF,
	.attach = perf_attach,
	.follow = perf_follow,
	.arm = perf_arm,
	.tick = NULL,
	.drain = perf_drain,
	.waits = perf_waits,
	.snapshot = perf_snapshot,
	.detach = perf_detach,
	.describe = perf_describe,
};
