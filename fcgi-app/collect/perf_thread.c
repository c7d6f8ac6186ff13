/* perf_thread: an event and a ring buffer per thread (see perf_thread.h). */
#include "collect/perf_thread.h"

#include "base/log.h"
#include "base/vec.h"
#include "collect/sampler_pick.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

/* per thread at most: 7 records of 32 KiB, a 100 Hz thread's 70 ms, a
 * 1000 Hz one's 7 (the collector drains every period); halved down to 8
 * pages (one record) while locked memory is short */
#define THREAD_PAGES 64
/* descriptors kept for the rest of the app (requests, files, the ptrace
 * sampler's) when deciding whether per-CPU events fit */
#define NOFILE_SPARE 256

bool perf_thread_too_many(long nthreads, long ncpu)
{
	struct rlimit r;
	if (getrlimit(RLIMIT_NOFILE, &r) < 0 || r.rlim_cur == RLIM_INFINITY)
		return false;
	return (rlim_t)(nthreads * ncpu + NOFILE_SPARE) > r.rlim_cur;
}

int perf_thread_open(struct sampler *s, pid_t tid, struct err *e)
{
	for (size_t i = 0; i < s->ntbufs; i++)
		if (s->tbufs[i].tid == tid)
			return 0;
	int fd = sampler_perf_open_own(s, tid);
	if (fd < 0 && errno == ESRCH)
		return 0; /* exited meanwhile */
	if (fd < 0)
		return sampler_pick_refusal(errno, s->pid, e);
	long page = sysconf(_SC_PAGESIZE);
	for (size_t pages = THREAD_PAGES; pages >= 8; pages /= 2) {
		size_t len = (pages + 1) * (size_t)page;
		void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
		if (m != MAP_FAILED) {
			struct tbuf *t = VEC_PUSH(s->tbufs, s->ntbufs, s->tbufs_cap, 64);
			*t = (struct tbuf){ .tid = tid, .b = { .fd = fd, .map = m, .len = len } };
			return 0;
		}
	}
	/* no locked memory left for it: this thread is not sampled */
	s->counts.unbuffered_errno = errno;
	s->counts.threads_unbuffered++;
	close(fd);
	return 0;
}

static void close_one(struct sampler *s, size_t i)
{
	struct tbuf *t = &s->tbufs[i];
	munmap(t->b.map, t->b.len);
	close(t->b.fd);
	*t = s->tbufs[--s->ntbufs];
}

void perf_thread_tend(struct sampler *s)
{
	if (!s->per_thread)
		return;
	/* the list first: opening may read nothing more into it */
	for (size_t i = 0; i < s->nfresh; i++) {
		struct err e = { 0 };
		if (perf_thread_open(s, s->fresh[i], &e) < 0)
			log_info("perf_event sampler: thread %d: %s", (int)s->fresh[i], e.msg);
	}
	s->nfresh = 0;
	/* a thread's own buffer is read whole by now: its EXIT record is in it */
	for (size_t i = 0; i < s->ntbufs;) {
		struct task *k = perf_rec_task_find(s, s->tbufs[i].tid);
		if (!k || k->exited) /* ended: its task is settled and gone */
			close_one(s, i);
		else
			i++;
	}
}

void perf_thread_close_all(struct sampler *s)
{
	while (s->ntbufs)
		close_one(s, s->ntbufs - 1);
	s->nfresh = 0;
}
