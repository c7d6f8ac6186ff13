#include "collect/tidtab.h"

#include "base/vec.h"
#include "collect/proc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void index_rebuild(struct tidtab *tt)
{
	size_t cap = 64;
	while (cap < tt->n * 2 + 2)
		cap *= 2;
	free(tt->index);
	tt->index = calloc(cap, sizeof *tt->index);
	if (!tt->index)
		abort();
	tt->index_cap = cap;
	for (size_t i = 0; i < tt->n; i++) {
		size_t slot = ((size_t)tt->thr[i].tid * 2654435761u) & (cap - 1);
		while (tt->index[slot])
			slot = (slot + 1) & (cap - 1);
		tt->index[slot] = i + 1;
	}
}

struct thr *tidtab_find(struct tidtab *tt, pid_t tid)
{
	if (!tt->index_cap)
		return NULL;
	size_t mask = tt->index_cap - 1, slot = ((size_t)tid * 2654435761u) & mask;
	for (; tt->index[slot]; slot = (slot + 1) & mask)
		if (tt->thr[tt->index[slot] - 1].tid == tid)
			return &tt->thr[tt->index[slot] - 1];
	return NULL;
}

/* a thread still in the same wait is neither unwound nor stopped again by
 * the next request */
void tidtab_renew(struct thr *t)
{
	struct thr old = *t;
	memset(t, 0, sizeof *t);
	t->tid = old.tid;
	t->cpu_fd = -1;
	memcpy(t->comm, old.comm, sizeof t->comm);
	memcpy(t->pcs, old.pcs, old.npcs * sizeof *t->pcs);
	t->npcs = old.npcs;
	t->pcs_cpu = old.pcs_cpu;
	t->pcs_ts = old.pcs_ts;
	memcpy(t->wait_line, old.wait_line, sizeof t->wait_line);
	memcpy(t->w_line, old.w_line, sizeof t->w_line);
	memcpy(t->w_label, old.w_label, sizeof t->w_label);
	memcpy(t->wpcs, old.wpcs, old.wnpcs * sizeof *t->wpcs);
	t->wnpcs = old.wnpcs;
}

void tidtab_forget(struct tidtab *tt)
{
	for (size_t i = 0; i < tt->n; i++)
		if (tt->thr[i].cpu_fd >= 0)
			close(tt->thr[i].cpu_fd);
	free(tt->thr);
	free(tt->index);
	void (*on_drop)(void *, struct thr *) = tt->on_drop;
	void *drop_arg = tt->drop_arg;
	memset(tt, 0, sizeof *tt);
	tt->on_drop = on_drop;
	tt->drop_arg = drop_arg;
}

struct thr *tidtab_add(struct tidtab *tt, pid_t tid)
{
	struct thr *t = VEC_PUSH(tt->thr, tt->n, tt->cap, 64);
	t->tid = tid;
	t->cpu_fd = -1;
	if (tt->n * 2 + 2 > tt->index_cap)
		index_rebuild(tt);
	else {
		size_t mask = tt->index_cap - 1, slot = ((size_t)tid * 2654435761u) & mask;
		while (tt->index[slot])
			slot = (slot + 1) & mask;
		tt->index[slot] = tt->n;
	}
	return t;
}

void tidtab_compact(struct tidtab *tt)
{
	/* a thread's entry is a few KiB (its stacks): move nothing until the
	 * first dead one, and usually there is none */
	size_t j = 0;
	while (j < tt->n && !tt->thr[j].dead)
		j++;
	for (size_t i = j; i < tt->n; i++) {
		if (tt->thr[i].dead) {
			if (tt->on_drop)
				tt->on_drop(tt->drop_arg, &tt->thr[i]);
			if (tt->thr[i].cpu_fd >= 0)
				close(tt->thr[i].cpu_fd);
			continue;
		}
		tt->thr[j++] = tt->thr[i];
	}
	if (j != tt->n) {
		tt->n = j;
		index_rebuild(tt);
	}
}

/* ---- /proc reads of a thread, without stopping anything ---- */

int tidtab_read_cpu(pid_t pid, pid_t tid, uint64_t *ns)
{
	char path[64], text[128];
	snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", (int)pid, (int)tid);
	if (proc_read_small(path, text, sizeof text) < 0)
		return -1;
	*ns = strtoull(text, NULL, 10);
	return 0;
}

/* The thread's CPU time through its schedstat file kept open (a pread
 * regenerates it; no path lookup). Falls back to opening it each time when
 * descriptors run out. */
int tidtab_cpu(pid_t pid, struct thr *t)
{
	char text[128];
	if (t->cpu_fd < 0) {
		char path[64];
		snprintf(path, sizeof path, "/proc/%d/task/%d/schedstat", (int)pid, (int)t->tid);
		t->cpu_fd = open(path, O_RDONLY | O_CLOEXEC);
		if (t->cpu_fd < 0 && proc_read_small(path, text, sizeof text) < 0)
			return -1;
	}
	if (t->cpu_fd >= 0) {
		ssize_t n = pread(t->cpu_fd, text, sizeof text - 1, 0);
		if (n <= 0)
			return -1;
		text[n] = '\0';
	}
	/* "CPU run-queue timeslices", nanoseconds, nanoseconds, a count */
	char *end;
	t->cpu_ns = strtoull(text, &end, 10);
	t->rq_ns = strtoull(end, &end, 10);
	t->pcount = strtoull(end, NULL, 10);
	return 0;
}

/* Whether an idle thread is skipped this time; a thread seen idle k times
 * in a row is next looked at after 2^k - 1 skips, at most 15. */
bool tidtab_backoff_skip(int *skip)
{
	if (*skip > 0) {
		(*skip)--;
		return true;
	}
	return false;
}

void tidtab_backoff_update(int *idle, int *skip, bool ran)
{
	if (ran) {
		*idle = *skip = 0;
		return;
	}
	if (*idle < 4)
		(*idle)++;
	*skip = (1 << *idle) - 1;
}

/* State letter and name of a thread from its stat line. */
int tidtab_state(pid_t pid, struct thr *t)
{
	char path[64], text[1024];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)t->tid);
	if (proc_read_small(path, text, sizeof text) < 0)
		return -1;
	char *open_paren = strchr(text, '('), *close_paren = strrchr(text, ')');
	if (!open_paren || !close_paren || close_paren[1] != ' ')
		return -1;
	size_t len = (size_t)(close_paren - open_paren - 1);
	if (len >= sizeof t->comm)
		len = sizeof t->comm - 1;
	memcpy(t->comm, open_paren + 1, len);
	t->comm[len] = '\0';
	t->state = close_paren[2];
	/* the 39th field, "processor": 36 fields after the state */
	const char *f = close_paren + 2;
	for (int i = 0; i < 36 && f; i++)
		if ((f = strchr(f, ' ')))
			f++;
	t->cpu = f ? atoi(f) : -1;
	return 0;
}

int tidtab_sched_stamp(pid_t pid, pid_t tid, int64_t *ns)
{
	char path[64], text[4096];
	if (tid == 0)
		snprintf(path, sizeof path, "/proc/thread-self/sched");
	else
		snprintf(path, sizeof path, "/proc/%d/task/%d/sched", (int)pid, (int)tid);
	if (proc_read_small(path, text, sizeof text) < 0)
		return -1;
	return proc_sched_exec_start(text, ns);
}

/* Whether a thread still runs (not gone, not a zombie, not exiting). */
bool tidtab_alive(pid_t pid, pid_t tid)
{
	char path[80], text[1024];
	snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
	if (proc_read_small(path, text, sizeof text) < 0)
		return false;
	const char *p = strrchr(text, ')');
	return p && p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
}
