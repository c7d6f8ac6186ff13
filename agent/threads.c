/* threads.c: thread creation and ending. */
#define _GNU_SOURCE
#include "threads.h"
#include "bucket.h"
#include "shard.h"
#include "tables.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>

struct start {
	void *(*fn)(void *);
	void *arg;
	int64_t bucket;
};

/* Records tid as created from bucket; with the lock held. A full table is
 * swept of threads that are gone. */
static void record_thread(pid_t tid, uint32_t bucket)
{
	struct pprof_agent_thread *t = (struct pprof_agent_thread *)(uintptr_t)pprof_agent.threads;
	for (int sweep = 0; sweep < 2; sweep++) {
		uint32_t h = agent_ptr_hash((uintptr_t)tid << 4, 15);
		for (uint32_t k = 0; k < MAX_THREADS; k++) {
			struct pprof_agent_thread *s = &t[(h + k) & (MAX_THREADS - 1)];
			int32_t cur = __atomic_load_n(&s->tid, __ATOMIC_RELAXED);
			if (cur != 0 && cur != tid)
				continue;
			__atomic_store_n(&s->tid, 0, __ATOMIC_RELAXED);
			s->bucket = bucket;
			s->seq = ++A.thread_seq;
			__atomic_store_n(&s->tid, tid, __ATOMIC_RELEASE);
			return;
		}
		pid_t pid = getpid();
		for (uint32_t k = 0; k < MAX_THREADS; k++)
			if (t[k].tid && syscall(SYS_tgkill, pid, t[k].tid, 0) < 0 && errno == ESRCH)
				__atomic_store_n(&t[k].tid, 0, __ATOMIC_RELAXED);
	}
	tables_count_drop();
}

bool threads_sweep_exiting(void)
{
	int saved = errno;
	bool none = true;
	pid_t pid = getpid();
	for (int i = 0; i < MAX_EXITING; i++) {
		if (!A.exiting[i])
			continue;
		if (syscall(SYS_tgkill, pid, A.exiting[i], 0) < 0 && errno == ESRCH)
			A.exiting[i] = 0;
		else
			none = false;
	}
	errno = saved;
	return none;
}

/* A thread that walked stacks ends (its start routine returned, or it
 * called pthread_exit or was cancelled): libunwind frees its trace cache
 * after this, in a key destructor, under a lock of its own. Noted with
 * A.lock held, which before_fork holds across fork: a thread that did
 * not get noted in time cannot reach its destructors until the fork is
 * over. */
static void thread_ends(void *unused)
{
	(void)unused;
	T.ending = 1;
	if (!T.walked)
		return;
	pid_t tid = (pid_t)syscall(SYS_gettid);
	pthread_mutex_lock(&A.lock);
	int i = 0;
	for (int pass = 0; pass < 2; pass++) {
		for (i = 0; i < MAX_EXITING && A.exiting[i]; i++)
			;
		if (i < MAX_EXITING || pass == 1)
			break;
		threads_sweep_exiting();
	}
	if (i < MAX_EXITING)
		A.exiting[i] = tid;
	else
		A.exits_lost = 1;
	pthread_mutex_unlock(&A.lock);
}

static void *thread_start(void *arg)
{
	struct start s = *(struct start *)arg;
	A.real.free(arg);
	if (s.bucket >= 0 && A.tables) {
		pthread_mutex_lock(&A.lock);
		record_thread((pid_t)syscall(SYS_gettid), (uint32_t)s.bucket);
		pthread_mutex_unlock(&A.lock);
	}
	void *ret;
	pthread_cleanup_push(thread_ends, NULL);
	ret = s.fn(s.arg);
	pthread_cleanup_pop(1);
	return ret;
}

EXPORT int pthread_create(pthread_t *thread, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	agent_init();
	struct start *s = A.real.malloc(sizeof *s);
	if (!s || !A.tables || T.busy) {
		A.real.free(s);
		return A.real.pthread_create(thread, attr, fn, arg);
	}
	*s = (struct start){ fn, arg, -1 };
	T.busy = 1;
	/* walked with a shard's lock held, as a sample is: see before_fork */
	shard_lock(&A.shards[0].lock);
	struct walk w;
	s->bucket = stack_capture(&w) ? bucket_for(&w, PPROF_AGENT_THREAD, 0) : -1;
	struct pprof_agent_counts *c = s->bucket >= 0 ? shard_counts(0) : NULL;
	if (c)
		__atomic_fetch_add(&c[s->bucket].alloc_objects, 1, __ATOMIC_RELAXED);
	else
		tables_count_drop();
	shard_unlock(&A.shards[0].lock);
	T.busy = 0;
	int rc = A.real.pthread_create(thread, attr, thread_start, s);
	if (rc != 0)
		A.real.free(s);
	return rc;
}
OWN(pthread_create);
