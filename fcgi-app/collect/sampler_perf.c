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
 * CPU time still adds up to the kernel's accounting. A trace asks for
 * context-switch records too (switches: context_switch on the same
 * events), so its slices need no tracer either. Off-CPU passes and
 * thread dumps asked for meanwhile are lent to the ptrace sampler
 * (perf_lend.c). The buffers' records are read in perf_rec.c; which
 * sampler a window gets, and a refusal in words, in sampler_pick.c. */
#include "collect/sampler.h"

#include "base/clock.h"
#include "base/err.h"
#include "base/log.h"
#include "base/vec.h"
#include "collect/collector.h"
#include "collect/maphist.h"
#include "collect/perf_lend.h"
#include "collect/perf_rec.h"
#include "collect/perf_thread.h"
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

/* a multiple of 8 below 64 KiB; 32 KiB held every stack measured whole.
 * Each record takes all of it whatever the stack's depth. */
#define STACK_BYTES (32 * 1024)
/* per CPU at most (halved while locked memory is short): 128 records of
 * 32 KiB, 64 ms of one thread at 1000 Hz before the collector reads */
#define DATA_PAGES 1024
#define LIST_PASSES 16 /* listings until no thread is new */

static int perf_open(struct perf_event_attr *a, pid_t tid, int cpu)
{
	return (int)syscall(SYS_perf_event_open, a, tid, cpu, -1, PERF_FLAG_FD_CLOEXEC);
}

/* MMAP2 records of executable mappings, with their build-ids where the
 * kernel gives them (5.12, as inherit_thread's 5.13): the mapping history
 * a sample is named from (maphist.h) */
static void perf_attr_maps(struct perf_event_attr *a, bool build_id)
{
	a->mmap = 1;
	a->mmap2 = 1;
	a->mmap_data = 0;
	a->build_id = build_id;
}

static void attr_init(struct perf_event_attr *a, long hz, bool inherit_thread, bool kernel)
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
	a->sample_regs_user = perf_rec_regs_mask();
	a->sample_stack_user = STACK_BYTES;
	/* the kernel's frames come as a call chain (its user part left out:
	 * the user stack is unwound from the copy); without them a tick in
	 * the kernel makes no sample */
	a->exclude_kernel = !kernel;
	if (kernel) {
		a->sample_type |= PERF_SAMPLE_CALLCHAIN;
		a->exclude_callchain_user = 1;
	}
	a->exclude_hv = 1;
	a->inherit = 1;
	a->inherit_thread = inherit_thread;
	a->task = 1;      /* FORK and EXIT records: threads come and go */
	a->comm = 1;      /* thread names, and exec (comm_exec) */
	a->comm_exec = 1;
	perf_attr_maps(a, inherit_thread);
	a->sample_id_all = 1;
	a->use_clockid = 1;
	a->clockid = CLOCK_BOOTTIME; /* the clock of every sample timestamp here */
	/* woken at half the buffer, as perf record: each wake-up preempts a
	 * busy thread of the target (every 4 records: ~500 pauses a second
	 * at 1,000 Hz); the collector's loop drains it 50 times a second too */
	a->watermark = 1;
	a->wakeup_watermark = 0;
}

/* one task-clock event, opened and closed */
int sampler_perf_probe(const struct collector_config *cc, pid_t pid, struct err *e)
{
	if (cc->perf_refused)
		return sampler_pick_refusal(cc->perf_refused, pid, e);
	if (!perf_rec_regs_mask())
		return err_set(e, ERR_PERMISSION, "perf_event: user registers of this architecture "
			       "are not supported yet");
	struct perf_event_attr a;
	attr_init(&a, 100, true, false);
	a.disabled = 1;
	int fd = perf_open(&a, pid, -1);
	if (fd < 0 && (errno == EINVAL || errno == E2BIG)) {
		attr_init(&a, 100, false, false);
		a.disabled = 1;
		fd = perf_open(&a, pid, -1);
	}
	if (fd < 0)
		return sampler_pick_refusal(errno, pid, e);
	close(fd);
	return 0;
}

int sampler_perf_open_own(struct sampler *s, pid_t tid)
{
	struct perf_event_attr a;
	attr_init(&a, s->hz, false, s->kernel);
	a.inherit = 0; /* an inherited event cannot have a buffer of its own */
	a.context_switch = s->switches;
	perf_attr_maps(&a, !s->no_inherit_thread);
	return perf_open(&a, tid, -1);
}

/* Events for tid on every CPU; 0 also when it is gone, -1 with e when
 * perf_event_open refuses. */
static int open_thread(struct sampler *s, pid_t tid, struct err *e)
{
	if (s->per_thread)
		return perf_thread_open(s, tid, e);
	long page = sysconf(_SC_PAGESIZE);
	for (int cpu = 0; cpu < s->ncpu; cpu++) {
		struct perf_event_attr a;
		attr_init(&a, s->hz, !s->no_inherit_thread, s->kernel);
		a.context_switch = s->switches;
		int fd = perf_open(&a, tid, cpu);
		if (fd < 0 && !s->no_inherit_thread && (errno == EINVAL || errno == E2BIG)) {
			s->no_inherit_thread = true;
			log_info("perf_event: no inherit_thread in this kernel: forked processes "
				 "are followed too, their samples dropped");
			attr_init(&a, s->hz, false, s->kernel);
			a.context_switch = s->switches;
			fd = perf_open(&a, tid, cpu);
		}
		if (fd < 0 && errno == ENODEV)
			continue; /* an offline CPU */
		if (fd < 0 && errno == ESRCH)
			return 0; /* exited meanwhile */
		if (fd < 0 && errno == EMFILE)
			s->layout_why = LAYOUT_WHY_NOFILE;
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
		if (b->fd < 0) {
			s->layout_why = LAYOUT_WHY_MMAP;
			return err_errno(e, ERR_PERMISSION, errno, "perf_event: ring buffer for CPU %d", cpu);
		}
	}
	return 0;
}

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
		perf_rec_drain(s);
		size_t opened = 0;
		int rc = 0;
		for (size_t i = 0; i < nfound && rc == 0; i++) {
			if (perf_rec_task_find(s, found[i]))
				continue;
			perf_rec_task_add(s, found[i], proc_stime_ns(s->pid, found[i]));
			size_t at = s->nfds;
			rc = open_thread(s, found[i], e);
			struct task *k = perf_rec_task_find(s, found[i]);
			k->fd_at = at;
			k->nfd = s->nfds - at;
			/* gone (listed while it exited): ended as such; a buffer per
			 * thread keeps its descriptor in tbufs, not fds */
			if (rc == 0 && !s->per_thread && !k->nfd && !k->exited)
				k->exited = 1;
			opened++;
		}
		free(found);
		if (rc < 0)
			return -1;
		if (opened == 0) {
			s->listed = true;
			return 0;
		}
	}
	return 0;
}

/* Every event and buffer closed, nothing settled (none was read yet). */
static void drop_events(struct sampler *s)
{
	perf_thread_close_all(s);
	for (size_t i = 0; i < s->nfds; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	s->nfds = 0;
	for (int cpu = 0; cpu < s->ncpu; cpu++) {
		struct cpubuf *b = &s->buf[cpu];
		if (b->map)
			munmap(b->map, b->len);
		*b = (struct cpubuf){ .fd = -1 };
	}
	s->ntasks = 0;
	s->sampled_ns = s->given_ns = s->rest_ns = 0;
	s->forked_ns = s->rest_read_ns = 0;
	s->listed = false;
}

static void close_events(struct sampler *s)
{
	perf_rec_drain(s);
	perf_rec_settle(s, true);
	uint64_t now = s->hz > 0 ? proc_cpu_ns(s->pid) : 0;
	if (now > s->proc_cpu_ns)
		log_info("perf_event sampler: of %.1f ms /proc counted since the events were opened, "
			 "samples carried %.1f ms, /proc's rest %.1f ms",
			 (double)(now - s->proc_cpu_ns) / 1e6, (double)s->sampled_ns / 1e6,
			 (double)s->rest_ns / 1e6);
	drop_events(s);
}

/* The threads covered in the layout perf-layout asks for: per-CPU buffers,
 * or (auto) per-thread ones when threads x CPUs events would pass the
 * open-file limit or the per-CPU events or buffers are refused for it. */
static int cover_layout(struct sampler *s, struct err *e)
{
	int want = s->host.perf_layout;
	s->layout_why = LAYOUT_WHY_NONE;
	if (want == SAMPLER_LAYOUT_PER_THREAD)
		s->layout_why = LAYOUT_WHY_FORCED;
	struct proc_info pi;
	struct err ignored = { 0 };
	if (want == SAMPLER_LAYOUT_AUTO && proc_info(s->pid, &pi, &ignored) == 0 &&
	    perf_thread_too_many(pi.threads, s->ncpu))
		s->layout_why = LAYOUT_WHY_NOFILE;
	s->per_thread = s->layout_why != LAYOUT_WHY_NONE;
	if (cover_threads(s, e) == 0)
		return 0;
	if (s->per_thread || want != SAMPLER_LAYOUT_AUTO || s->layout_why == LAYOUT_WHY_NONE)
		return -1;
	log_info("perf_event sampler: %s: a buffer per thread instead", e->msg);
	drop_events(s);
	err_clear(e);
	s->per_thread = true;
	return cover_threads(s, e);
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

/* Whether the kernel's frames are sampled in this window: asked for, and
 * perf_event_open allows them (root, CAP_PERFMON, or paranoid <= 1). */
static void kernel_decide(struct sampler *s)
{
	s->kernel = false;
	s->kernel_refused = 0;
	if (!s->host.kernel_frames)
		return;
	struct perf_event_attr a;
	attr_init(&a, s->hz, !s->no_inherit_thread, true);
	a.disabled = 1;
	int fd = perf_open(&a, s->pid, -1);
	if (fd < 0 && !s->no_inherit_thread && (errno == EINVAL || errno == E2BIG)) {
		attr_init(&a, s->hz, false, true);
		a.disabled = 1;
		fd = perf_open(&a, s->pid, -1);
	}
	if (fd < 0) {
		s->kernel_refused = errno;
		return;
	}
	close(fd);
	s->kernel = true;
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
	/* the window's CPU from here: what runs before every thread's events
	 * are open is /proc's rest too */
	int64_t t0 = clock_ns(CLOCK_MONOTONIC);
	s->proc_cpu_ns = proc_cpu_ns(s->pid);
	s->proc_stime_ns = proc_stime_ns(s->pid, 0);
	/* what is mapped before the events exist has no MMAP2 record */
	maphist_seed(s->host.maps, s->pid, clock_ns(CLOCK_BOOTTIME));
	kernel_decide(s);
	if (cover_layout(s, &s->open_err) < 0) {
		log_info("perf_event sampler: %s", s->open_err.msg);
		close_events(s);
		return;
	}
	if (s->switches)
		perf_rec_switch_start(s);
	log_info("perf_event sampler: %zu events on %zu threads x %d CPUs at %ld Hz in %.1f ms, %s, %s%s",
		 s->nfds + s->ntbufs, s->ntasks, s->per_thread ? 1 : s->ncpu, hz,
		 (double)(clock_ns(CLOCK_MONOTONIC) - t0) / 1e6,
		 s->kernel ? "kernel frames" : "user frames only",
		 s->per_thread ? "a buffer per thread" : "a buffer per CPU",
		 s->switches ? ", context switches" : "");
}

/* Switch records are an attribute of the events: a change opens them
 * afresh (at the rate they have; arm opens them when none are open). */
static void perf_switches(struct sampler *s, bool on)
{
	if (on == s->switches)
		return;
	s->switches = on;
	long hz = s->hz;
	if (hz > 0) {
		s->hz = 0;
		perf_arm(s, hz);
	}
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
		/* once a listing found no thread new, every thread created later
		 * inherits the events and comes as a FORK record, names as COMM,
		 * ends as EXIT: listing 1,003 threads every 100 ms was half of
		 * this sampler's CPU. A buffer per thread opens new ones itself,
		 * and a thread its creator made before that is found listing. */
		if ((!s->listed || s->per_thread) && cover_threads(s, e) < 0)
			return -1;
		perf_rec_kernel_time(s);
		perf_rec_proc_rest(s);
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
	perf_rec_drain(s);
	if (timeout_ns > 0) {
		/* each buffer wakes the reader at half full (the per-thread
		 * layout's are small: 7 records); the loop's own clock is slow */
		size_t nall = (size_t)s->ncpu + s->ntbufs + 1;
		VEC_RESERVE(s->pfd, s->pfd_cap, nall, 16);
		VEC_RESERVE(s->polled, s->polled_cap, nall, 16);
		nfds_t n = 0;
		for (size_t i = 0; i < (size_t)s->ncpu + s->ntbufs; i++) {
			struct cpubuf *b = i < (size_t)s->ncpu ? &s->buf[i] : &s->tbufs[i - (size_t)s->ncpu].b;
			if (b->map && !b->hup) {
				s->polled[n] = b;
				s->pfd[n++] = (struct pollfd){ .fd = b->fd, .events = POLLIN };
			}
		}
		struct timespec ts = { timeout_ns / 1000000000LL, timeout_ns % 1000000000LL };
		nfds_t nbuf = n;
		if (s->host.wake_fd >= 0)
			s->pfd[n++] = (struct pollfd){ .fd = s->host.wake_fd, .events = POLLIN };
		if (ppoll(n ? s->pfd : NULL, n, &ts, NULL) > 0) {
			uint64_t news; /* the collector looks at what it is itself */
			if (nbuf < n && (s->pfd[nbuf].revents & POLLIN) &&
			    read(s->host.wake_fd, &news, sizeof news) < 0)
				log_debug("perf_event sampler: wake: %s", strerror(errno));
			/* a buffer whose event's thread is gone hangs up for good:
			 * read still (other threads' events write into it), not polled */
			for (nfds_t i = 0; i < nbuf; i++)
				if (s->pfd[i].revents & POLLHUP)
					s->polled[i]->hup = true;
		}
		/* whether woken or not (the reader is woken at half a buffer):
		 * the counts read next hold the time of every sample written
		 * so far, which must be read first or it is handed out twice */
		perf_rec_drain(s);
	}
	perf_thread_tend(s);
	if (s->hz > 0) {
		perf_rec_proc_rest_often(s);
		s->counts.layout = s->per_thread ? SAMPLER_LAYOUT_PER_THREAD : SAMPLER_LAYOUT_PER_CPU;
		s->counts.layout_why = s->layout_why;
	}
	if (s->switches)
		perf_rec_switch_labels(s);
	s->counts.kernel_refused = s->kernel_refused;
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
	free(s->tbufs);
	free(s->fresh);
	free(s->pfd);
	free(s->polled);
	free(s->tasks);
	free(s->buf);
	free(s->rec);
	free(s);
}

/* The per-thread layout, why it ran, and the threads it left unsampled. */
static void perf_describe_layout(const struct sampler_stats *st, struct sampler_lines *out)
{
	static const char *const why[] = {
		[LAYOUT_WHY_FORCED] = "perf-layout = per-thread",
		[LAYOUT_WHY_NOFILE] = "an event per thread and CPU would pass the open-file limit "
				      "(RLIMIT_NOFILE: raise LimitNOFILE for a buffer per CPU)",
		[LAYOUT_WHY_MMAP] = "the buffers per CPU were refused (locked memory: RLIMIT_MEMLOCK, "
				    "kernel.perf_event_mlock_kb)",
	};
	if (st->layout == SAMPLER_LAYOUT_PER_THREAD && st->layout_why > LAYOUT_WHY_NONE &&
	    st->layout_why <= LAYOUT_WHY_MMAP)
		sampler_line(out, "pprof-fcgi: perf_event layout: a buffer per thread (%s); a thread "
			     "created in the window is sampled from when its creation is read, "
			     "a few ms after its start", why[st->layout_why]);
	if (st->threads_unbuffered)
		sampler_line(out, "pprof-fcgi: %llu threads were not sampled: no locked memory was left "
			     "for their ring buffers (%s; RLIMIT_MEMLOCK, kernel.perf_event_mlock_kb): "
			     "their CPU time is missing", (unsigned long long)st->threads_unbuffered,
			     strerror(st->unbuffered_errno));
}

static void perf_describe(enum sampler_kind kind, long hz, const struct sampler_stats *st,
			  struct sampler_lines *out)
{
	if (kind != SAMPLER_CPU) {
		sampler_ptrace.describe(kind, hz, st, out);
		return;
	}
	log_info("perf_event sampler: %llu samples at %ld Hz, %llu lost, %llu throttled, %llu "
		 "stack copies full, %.1f ms counted and not sampled",
		 (unsigned long long)st->samples, hz, (unsigned long long)st->lost,
		 (unsigned long long)st->throttled, (unsigned long long)st->truncated,
		 (double)st->unsampled_ns / 1e6);
	if (st->kernel_refused) {
		char why[SAMPLER_LINE / 2];
		sampler_pick_kernel_refusal(st->kernel_refused, why, sizeof why);
		sampler_line(out, "pprof-fcgi: kernel frames not sampled: %s; each thread's time in "
			     "the kernel is one [kernel: not sampled] frame", why);
	}
	perf_describe_layout(st, out);
	/* the share against what the samples carried: threads that exit
	 * with less than a period of CPU time since their last sample */
	double sampled = (double)st->samples * (hz > 0 ? 1e9 / (double)hz : 0);
	double unsampled = (double)st->unsampled_ns;
	if (unsampled > 0.01 * (unsampled + sampled))
		sampler_line(out, "pprof-fcgi: %.0f ms (%.0f%%) of this profile is [not sampled]: "
			     "/proc counted it for the process and no sample carried it, the "
			     "time of threads that lived less than the %.0f ms sampling period "
			     "(a higher hz samples more of it)", unsampled / 1e6,
			     100 * unsampled / (unsampled + sampled), hz > 0 ? 1e3 / (double)hz : 0);
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
	.switches = perf_switches,
	.tick = NULL,
	.drain = perf_drain,
	.waits = perf_waits,
	.snapshot = perf_snapshot,
	.detach = perf_detach,
	.describe = perf_describe,
};
