/* perf_rec: the perf_event sampler's other half (sampler_perf.c opens the
 * events): its ring buffers read, each record parsed (samples with their
 * registers and stack copy, forks, exits, exec, context switches with
 * the wait each began, lost records), the threads it covers, the CPU time
 * /proc counts beyond the samples (threads shorter than a period:
 * docs/sampling.md, "Short-lived threads"), and each thread's kernel time
 * from /proc where the kernel is not sampled. */
#include "collect/perf_rec.h"

#include "base/clock.h"
#include "base/vec.h"
#include "collect/maphist.h"
#include "collect/proc.h"
#include "collect/proc_syscall.h"
#include "collect/tidtab.h"

#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__)
#include <asm/perf_regs.h>
#endif

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

uint64_t perf_rec_regs_mask(void)
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
	uint64_t m = perf_rec_regs_mask();
	for (int i = 0; i < REGS_N; i++) {
		/* the position of this register among the mask's set bits */
		int at = __builtin_popcountll(m & ((1ULL << perf_reg_of[i]) - 1));
		out->r[i] = in[at];
	}
#else
	(void)in;
#endif
}

struct task *perf_rec_task_find(struct sampler *s, pid_t tid)
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

void perf_rec_task_add(struct sampler *s, pid_t tid, uint64_t stime_ns)
{
	if (perf_rec_task_find(s, tid))
		return;
	struct task *k = VEC_PUSH(s->tasks, s->ntasks, s->tasks_cap, 64);
	k->tid = tid;
	k->stime_ns = stime_ns;
	thread_of(s, tid);
}

/* The thread tid of a record, covered from now if not yet: each CPU's
 * buffer is read in turn, so its FORK record may come after its samples,
 * its exit and its counts (READ) written into another CPU's. Born since
 * the window began: all its kernel time is ours. */
static struct task *task_seen(struct sampler *s, pid_t tid)
{
	struct task *k = perf_rec_task_find(s, tid);
	if (!k) {
		perf_rec_task_add(s, tid, 0);
		k = perf_rec_task_find(s, tid);
	}
	return k;
}

static const uint64_t kernel_pc[1] = { SAMPLER_PC_KERNEL };
static const uint64_t unsampled_pc[1] = { SAMPLER_PC_NOT_SAMPLED };

static void on_sample(struct sampler *s, const unsigned char *p, const unsigned char *end)
{
	const uint32_t *ids = (const uint32_t *)p;
	pid_t pid = (pid_t)ids[0], tid = (pid_t)ids[1];
	p += 8;
	uint64_t time = *(const uint64_t *)p, period = *(const uint64_t *)(p + 8);
	p += 16;
	size_t nk = 0;
	if (s->kernel) {
		/* the kernel part of the call chain, after its context marker */
		uint64_t nr = *(const uint64_t *)p;
		const uint64_t *ips = (const uint64_t *)(p + 8);
		p += 8 + 8 * nr;
		if (p > end)
			return;
		for (uint64_t i = 0; i < nr && nk < PERF_REC_KERNEL_DEPTH; i++) {
			if (ips[i] >= PERF_CONTEXT_MAX)
				continue;
			/* callers' return addresses: the call is the byte before */
			s->kpcs[nk] = nk ? ips[i] - 1 : ips[i];
			nk++;
		}
	}
	uint64_t abi = *(const uint64_t *)p;
	p += 8;
	const uint64_t *regs = (const uint64_t *)p;
	if (abi)
		p += 8 * (size_t)__builtin_popcountll(perf_rec_regs_mask());
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
	task_seen(s, tid)->ran = true;
	s->sampled_ns += period;
	s->given_ns += period;
	struct sampler_sample smp = {
		.pid = pid, .tid = tid, .time_ns = (int64_t)time, .period_ns = period,
		.has_regs = abi != 0, .stack = stack, .stack_size = dyn < size ? dyn : size,
		.kernel_pcs = s->kpcs, .nkernel_pcs = nk,
	};
	if (nk)
		s->counts.kernel_samples++;
	if (abi)
		regs_from_sample(regs, &smp.regs);
	/* samples are counted where each subscriber is handed its own */
	s->counts.ticks++;
	s->host.sink.sample(s->host.sink.arg, &smp);
}

/* A thread's own events closed: no thread inherited them. A CPU's buffer
 * stays with its event. */
static void own_events_end(struct sampler *s, struct task *k)
{
	for (size_t i = k->fd_at; i < k->fd_at + k->nfd; i++) {
		if (s->fds[i] < 0)
			continue;
		bool buffer = false;
		for (int cpu = 0; cpu < s->ncpu; cpu++)
			buffer |= s->buf[cpu].fd == s->fds[i];
		if (!buffer) {
			close(s->fds[i]);
			s->fds[i] = -1;
		}
	}
}

/* A record's time: the last field of its sample_id (sample_id_all, with
 * TID and TIME the only sample_id fields asked for). */
static int64_t record_time(const struct perf_event_header *h)
{
	uint64_t t;
	memcpy(&t, (const unsigned char *)h + h->size - 8, 8);
	return (int64_t)t;
}

/* An executable mapping (mmap_data = 0): into the mapping history, by its
 * time, and announced (the unwinder reads the maps anew). */
static void on_mmap2(struct sampler *s, const struct perf_event_header *h)
{
	const unsigned char *p = (const unsigned char *)(h + 1), *end = (const unsigned char *)h + h->size;
	/* pid, tid; addr, len, pgoff; maj, min, ino, ino_generation or
	 * build_id_size, 3 reserved, build_id[20]; prot, flags; filename */
	const size_t file_at = 8 + 24 + 24 + 8;
	if (p + file_at + 16 > end)
		return;
	uint32_t ids[2];
	uint64_t v[3];
	memcpy(ids, p, sizeof ids);
	memcpy(v, p + 8, sizeof v);
	if ((pid_t)ids[0] != s->pid)
		return;
	struct maphist_entry m = { .start = v[0], .len = v[1], .pgoff = v[2] };
	const unsigned char *id = p + 32;
	if ((h->misc & PERF_RECORD_MISC_MMAP_BUILD_ID) && id[0] <= MAPHIST_ID_MAX) {
		m.build_id_size = id[0];
		memcpy(m.build_id, id + 4, m.build_id_size);
	}
	char file[4096];
	size_t room = (size_t)(end - 16 - (p + file_at));
	snprintf(file, sizeof file, "%.*s", (int)(room < sizeof file ? room : sizeof file - 1),
		 (const char *)(p + file_at));
	m.file = file;
	int64_t t = record_time(h);
	maphist_add(s->host.maps, s->pid, &m, t);
	struct sampler_event ev = { .kind = SAMPLER_MMAP, .tid = (pid_t)ids[1], .time_ns = t,
				    .start = m.start, .len = m.len, .pgoff = m.pgoff, .path = file };
	s->host.sink.event(s->host.sink.arg, &ev);
}

static void switch_event(struct sampler *s, pid_t tid, int64_t time_ns, enum sampler_switch sw,
			 const char *label)
{
	struct sampler_event ev = { .kind = SAMPLER_SWITCH, .tid = tid, .time_ns = time_ns,
				    .sw = sw, .label = label };
	s->host.sink.event(s->host.sink.arg, &ev);
}

/* A PERF_RECORD_SWITCH of a thread's own event: no body, its sample_id
 * (pid, tid, time) only. */
static void on_switch(struct sampler *s, const struct perf_event_header *h)
{
	const uint32_t *u = (const uint32_t *)(h + 1);
	if (h->size < sizeof *h + 16 || (pid_t)u[0] != s->pid)
		return;
	pid_t tid = (pid_t)u[1];
	int64_t time = (int64_t)*(const uint64_t *)(u + 2);
	enum sampler_switch sw = !(h->misc & PERF_RECORD_MISC_SWITCH_OUT) ? SAMPLER_SWITCH_IN
		: h->misc & PERF_RECORD_MISC_SWITCH_OUT_PREEMPT ? SAMPLER_SWITCH_PREEMPTED
		: SAMPLER_SWITCH_BLOCKED;
	struct task *k = task_seen(s, tid);
	/* the records of different CPUs are read in turn: the latest counts */
	if (sw == SAMPLER_SWITCH_BLOCKED && time > k->blocked_ns)
		k->blocked_ns = time;
	else if (sw != SAMPLER_SWITCH_BLOCKED && time > k->blocked_ns)
		k->blocked_ns = 0;
	switch_event(s, tid, time, sw, NULL);
}

/* The syscall tid waits in now as a wait's name; false when it is not in one. */
static bool wait_now(struct sampler *s, pid_t tid, char *label, size_t size)
{
	struct proc_syscall sc;
	if (proc_syscall(s->pid, tid, &sc) < 0 || sc.nr < 0)
		return false;
	proc_wait_label(s->pid, &sc, label, size);
	return true;
}

/* Tests: the buffers left unread from 1 s after a timeline's records
 * began, so that records are lost (this machine's buffers are drained
 * well before they fill): until one has been full for 100 ms, at most
 * host.perf_stall_ms. Full: samples are lost first, with their stack
 * copies, then the switch records too, which a trace's slices are made
 * of. Not a fixed time: on a loaded machine the target runs less and a
 * buffer fills slower. */
static void stall_arm(struct sampler *s)
{
	if (s->host.perf_stall_ms <= 0)
		return;
	s->stall_from_ns = clock_ns(CLOCK_BOOTTIME) + 1000000000LL;
	s->stall_until_ns = s->stall_from_ns + s->host.perf_stall_ms * 1000000LL;
	s->stall_full_ns = 0;
}

/* Whether b has no room left for a switch record, or hardly. */
static bool buffer_full(const struct cpubuf *b)
{
	if (!b->map)
		return false;
	const struct perf_event_mmap_page *mp = (const void *)b->map;
	uint64_t used = __atomic_load_n(&mp->data_head, __ATOMIC_ACQUIRE) - mp->data_tail;
	return mp->data_size - used < 256;
}

static bool stalled(struct sampler *s)
{
	if (!s->stall_until_ns)
		return false;
	int64_t now = clock_ns(CLOCK_BOOTTIME);
	if (now < s->stall_from_ns || now >= s->stall_until_ns)
		return false;
	for (int cpu = 0; !s->stall_full_ns && cpu < s->ncpu; cpu++)
		if (buffer_full(&s->buf[cpu]))
			s->stall_full_ns = now;
	for (size_t i = 0; !s->stall_full_ns && i < s->ntbufs; i++)
		if (buffer_full(&s->tbufs[i].b))
			s->stall_full_ns = now;
	if (s->stall_full_ns && now - s->stall_full_ns >= 100000000LL)
		s->stall_until_ns = now;
	return now < s->stall_until_ns;
}

void perf_rec_switch_start(struct sampler *s)
{
	char label[64];
	stall_arm(s);
	s->switches_ns = clock_ns(CLOCK_BOOTTIME);
	for (size_t i = 0; i < s->ntasks; i++) {
		struct task *k = &s->tasks[i];
		int64_t now = clock_ns(CLOCK_BOOTTIME);
		bool waits = wait_now(s, k->tid, label, sizeof label);
		switch_event(s, k->tid, now, waits ? SAMPLER_SWITCH_START_WAITING
			     : SAMPLER_SWITCH_START_RUNNING, waits ? label : NULL);
	}
}

void perf_rec_switch_labels(struct sampler *s)
{
	char label[64];
	for (size_t i = 0; i < s->ntasks; i++) {
		struct task *k = &s->tasks[i];
		if (k->blocked_ns && wait_now(s, k->tid, label, sizeof label))
			switch_event(s, k->tid, k->blocked_ns, SAMPLER_SWITCH_LABEL, label);
		k->blocked_ns = 0;
	}
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
	case PERF_RECORD_SWITCH:
		on_switch(s, h);
		break;
	case PERF_RECORD_THROTTLE:
		s->counts.throttled++;
		break;
	case PERF_RECORD_FORK: /* pid, ppid, tid, ptid */
		if ((pid_t)u[0] == s->pid) {
			struct task *twice = perf_rec_task_find(s, (pid_t)u[2]);
			if (twice && twice->nfd && !twice->parent) {
				/* listed before its FORK was written: it has inherited
				 * events too, which count and sample it alone from now */
				own_events_end(s, twice);
				twice->nfd = 0;
			}
			perf_rec_task_add(s, (pid_t)u[2], 0);
			/* an inherited event links to the event its creator's line
			 * was opened with, whose count then holds the child's too */
			struct task *by = perf_rec_task_find(s, (pid_t)u[3]);
			pid_t origin = by ? (by->nfd ? by->tid : by->origin) : 0;
			struct task *o = origin ? perf_rec_task_find(s, origin) : NULL;
			if (o)
				o->parent = true; /* its events stay open to the end */
			perf_rec_task_find(s, (pid_t)u[2])->origin = origin;
			s->forked_ns = record_time(h);
			if (s->per_thread) /* its event: opened after the drain */
				*(pid_t *)VEC_PUSH(s->fresh, s->nfresh, s->fresh_cap, 64) = (pid_t)u[2];
		}
		break;
	case PERF_RECORD_EXIT: /* pid, ppid, tid, ptid: ended by perf_rec_settle */
		if ((pid_t)u[0] == s->pid) {
			struct task *k = task_seen(s, (pid_t)u[2]);
			if (!k->exited)
				k->exited = 1;
		}
		break;
	case PERF_RECORD_MMAP2:
		on_mmap2(s, h);
		break;
	case PERF_RECORD_COMM: /* pid, tid, comm */
		if ((pid_t)u[0] != s->pid)
			break;
		if (h->misc & PERF_RECORD_MISC_COMM_EXEC) {
			struct sampler_event ev = { .kind = SAMPLER_EXEC, .tid = (pid_t)u[1],
						    .time_ns = clock_ns(CLOCK_BOOTTIME) };
			maphist_exec(s->host.maps, s->pid, record_time(h));
			s->host.sink.event(s->host.sink.arg, &ev);
		}
		struct thr *t = tidtab_find(s->host.threads, (pid_t)u[1]);
		if (t)
			snprintf(t->comm, sizeof t->comm, "%.15s", (const char *)(u + 2));
		break;
	}
}

/* A record's time; 0 for a record with none (sample_id_all gives one to
 * every kind asked for but samples, whose time is their third field). */
static int64_t any_record_time(const struct perf_event_header *h)
{
	if (h->type == PERF_RECORD_SAMPLE) {
		uint64_t t;
		if (h->size < sizeof *h + 16)
			return 0;
		memcpy(&t, (const unsigned char *)(h + 1) + 8, 8);
		return (int64_t)t;
	}
	return h->size >= sizeof *h + 16 ? record_time(h) : 0;
}

/* A PERF_RECORD_LOST in b (id, lost; its time is that of the record
 * written after it): the gap from the last record read in b to it,
 * handed on, so that a timeline draws no switch-made slice across it. */
static void lost_gap(struct sampler *s, struct cpubuf *b, const struct perf_event_header *h)
{
	if (!s->switches || h->size < sizeof *h + 16 + 16)
		return;
	int cpu = b >= s->buf && b < s->buf + s->ncpu ? (int)(b - s->buf) : -1;
	pid_t tid = 0;
	for (size_t i = 0; cpu < 0 && i < s->ntbufs; i++)
		if (&s->tbufs[i].b == b)
			tid = s->tbufs[i].tid;
	uint64_t lost;
	memcpy(&lost, (const unsigned char *)(h + 1) + 8, 8);
	int64_t to = record_time(h);
	struct sampler_event ev = { .kind = SAMPLER_SWITCH, .tid = tid, .time_ns = to,
				    .sw = SAMPLER_SWITCH_LOST,
				    /* lost before any record was read: since the start */
				    .from_ns = b->last_ns ? b->last_ns : s->switches_ns,
				    .lost = lost, .cpu = cpu };
	s->host.sink.event(s->host.sink.arg, &ev);
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
		if (h->type == PERF_RECORD_LOST)
			lost_gap(s, b, h);
		on_record(s, h);
		int64_t t = any_record_time(h);
		if (t > b->last_ns)
			b->last_ns = t;
		tail += h->size;
	}
	__atomic_store_n(&mp->data_tail, tail, __ATOMIC_RELEASE);
}

void perf_rec_drain(struct sampler *s)
{
	if (stalled(s))
		return;
	for (int cpu = 0; cpu < s->ncpu; cpu++)
		if (s->buf[cpu].map)
			drain_buffer(s, &s->buf[cpu]);
	for (size_t i = 0; i < s->ntbufs; i++)
		drain_buffer(s, &s->tbufs[i].b);
	perf_rec_settle(s, false);
}

/* A thread's exit: its own events closed, its last CPU time out (the
 * collector's), the thread marked gone. */
static void task_end(struct sampler *s, struct task *k)
{
	if (k->nfd && !k->parent)
		own_events_end(s, k);
	struct sampler_event ev = { .kind = SAMPLER_THREAD_EXIT, .tid = k->tid,
				    .time_ns = clock_ns(CLOCK_BOOTTIME) };
	s->host.sink.event(s->host.sink.arg, &ev);
	struct thr *t = tidtab_find(s->host.threads, k->tid);
	if (t)
		t->dead = true;
	*k = s->tasks[--s->ntasks];
}

void perf_rec_settle(struct sampler *s, bool all)
{
	for (size_t i = 0; i < s->ntasks;) {
		struct task *k = &s->tasks[i];
		if (k->exited && (all || k->exited++ >= 2))
			task_end(s, k); /* the last task moved to i */
		else
			i++;
	}
}

/* tid's kernel time since the last look, handed out as a one-frame
 * sample: how much it was. */
static uint64_t task_kernel_time(struct sampler *s, struct task *k, int64_t at)
{
	k->ran = false;
	uint64_t now = proc_stime_ns(s->pid, k->tid);
	if (now <= k->stime_ns)
		return 0;
	struct sampler_sample smp = {
		.pid = s->pid, .tid = k->tid, .time_ns = at,
		.period_ns = now - k->stime_ns, .pcs = kernel_pc, .npcs = 1,
	};
	k->stime_ns = now;
	k->moved_ns = at;
	s->given_ns += smp.period_ns;
	s->host.sink.sample(s->host.sink.arg, &smp);
	return smp.period_ns;
}

/* Each thread's kernel time since the last look, as a one-frame sample:
 * with exclude_kernel a tick in the kernel makes no sample at all. Not
 * every thread's stat at every look (1,000 sleeping threads' were most
 * of this sampler's CPU): those that can have moved, sampled since or
 * seen moving within a second; the others only when the process's
 * kernel time moved by more than a tick per CPU that those did not
 * explain: a thread busy in the kernel only (read from then on), or what
 * sleepers' wake-ups added up to (late by that much at most). */
void perf_rec_kernel_time(struct sampler *s)
{
	if (s->kernel)
		return; /* sampled: its frames are in the samples */
	uint64_t total = proc_stime_ns(s->pid, 0);
	if (total == s->proc_stime_ns)
		return; /* no thread spent a tick in the kernel: no thread to read */
	if (total > s->proc_stime_ns)
		s->stime_unseen += total - s->proc_stime_ns;
	s->proc_stime_ns = total;
	int64_t at = clock_ns(CLOCK_BOOTTIME);
	uint64_t seen = 0;
	for (size_t i = 0; i < s->ntasks; i++) {
		struct task *k = &s->tasks[i];
		if (k->ran || (k->moved_ns && at - k->moved_ns < 1000000000LL))
			seen += task_kernel_time(s, k, at);
	}
	s->stime_unseen -= seen < s->stime_unseen ? seen : s->stime_unseen;
	long tck = sysconf(_SC_CLK_TCK);
	uint64_t tick = 1000000000ULL / (uint64_t)(tck > 0 ? tck : 100);
	if (s->stime_unseen <= tick * (uint64_t)s->ncpu && s->stime_all_ns)
		return;
	for (size_t i = 0; i < s->ntasks; i++)
		task_kernel_time(s, &s->tasks[i], at);
	s->stime_unseen = 0;
	s->stime_all_ns = at;
}

/* The thread the rest goes to: one whose events threads created in the
 * window inherited (a storm's spawner), else the main thread, else any. */
static struct task *rest_thread(struct sampler *s)
{
	struct task *main = NULL;
	for (size_t i = 0; i < s->ntasks; i++) {
		if (s->tasks[i].parent && !s->tasks[i].exited)
			return &s->tasks[i];
		if (s->tasks[i].tid == s->pid)
			main = &s->tasks[i];
	}
	return main ? main : s->ntasks ? &s->tasks[0] : NULL;
}

void perf_rec_proc_rest(struct sampler *s)
{
	/* Not handed out: what /proc may count ahead of the samples of
	 * threads alive (each running one's period under way, up to a
	 * period per CPU) and /proc's own error (to the clock tick, and a
	 * running thread's last tick not yet in it): so a long-lived
	 * thread's profile gets no [not sampled] from the rounding. None
	 * while threads are created: their rest dwarfs it, and the
	 * margin would be missing from their total. */
	long tck = sysconf(_SC_CLK_TCK);
	int64_t at = clock_ns(CLOCK_BOOTTIME);
	uint64_t margin = 2 * 1000000000ULL / (uint64_t)(tck > 0 ? tck : 100) +
			  (uint64_t)s->ncpu * (uint64_t)(1000000000LL / (s->hz > 0 ? s->hz : 1));
	if (at - s->forked_ns < 1000000000LL)
		margin = 0;
	s->rest_read_ns = at;
	uint64_t now = proc_cpu_ns(s->pid);
	if (now <= s->proc_cpu_ns + s->given_ns + margin)
		return;
	struct task *k = rest_thread(s);
	if (!k)
		return; /* no thread left to name */
	uint64_t rest = now - s->proc_cpu_ns - s->given_ns - margin;
	struct sampler_sample smp = {
		.pid = s->pid, .tid = k->tid, .time_ns = clock_ns(CLOCK_BOOTTIME),
		.period_ns = rest, .carried = true, .pcs = unsampled_pc, .npcs = 1,
	};
	s->given_ns += rest;
	s->rest_ns += rest;
	s->counts.unsampled_ns += rest;
	s->host.sink.sample(s->host.sink.arg, &smp);
}

void perf_rec_proc_rest_often(struct sampler *s)
{
	/* not always: a read of /proc/PID/stat walks every thread */
	int64_t now = clock_ns(CLOCK_BOOTTIME);
	if (now - s->forked_ns < 1000000000LL && now - s->rest_read_ns >= 10000000LL) {
		perf_rec_kernel_time(s); /* first, as at a follow: not a rest */
		perf_rec_proc_rest(s);
	}
}
