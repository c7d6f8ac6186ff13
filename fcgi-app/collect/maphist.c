/* maphist: the target's executable mappings by time (see maphist.h). */
#include "collect/maphist.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/vec.h"
#include "collect/proc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void maphist_init(struct maphist *h)
{
	memset(h, 0, sizeof *h);
	pthread_mutex_init(&h->lock, NULL);
}

static void forget(struct maphist *h, pid_t pid)
{
	for (size_t i = 0; i < h->n; i++)
		free(h->e[i].file);
	h->n = 0;
	h->pid = pid;
}

void maphist_release(struct maphist *h)
{
	forget(h, 0);
	free(h->e);
	pthread_mutex_destroy(&h->lock);
}

static bool same_mapping(const struct maphist_entry *a, const struct maphist_entry *b)
{
	return a->start == b->start && a->len == b->len && a->pgoff == b->pgoff &&
	       strcmp(a->file, b->file) == 0;
}

void maphist_add(struct maphist *h, pid_t pid, const struct maphist_entry *m, int64_t t)
{
	/* files only: the vDSO and anonymous code ("//anon") have none to
	 * name them from later; a tag holds offsets below 1 TiB */
	if (!h || !m->len || m->len >= 1ULL << MAPHIST_SHIFT || !m->file || m->file[0] != '/' ||
	    m->file[1] == '/')
		return;
	pthread_mutex_lock(&h->lock);
	if (h->pid != pid)
		forget(h, pid);
	for (size_t i = 0; i < h->n; i++) {
		struct maphist_entry *o = &h->e[i];
		if (o->to_ns == INT64_MAX && same_mapping(o, m)) {
			/* known (seeded, or recorded by an earlier window) */
			if (!o->build_id_size && m->build_id_size) {
				memcpy(o->build_id, m->build_id, m->build_id_size);
				o->build_id_size = m->build_id_size;
			}
			pthread_mutex_unlock(&h->lock);
			return;
		}
		/* no munmap record: what this mapping covers was unmapped before */
		if (o->to_ns > t && o->start < m->start + m->len && m->start < o->start + o->len)
			o->to_ns = t;
	}
	if (h->n < MAPHIST_MAX) {
		struct maphist_entry *e = VEC_PUSH(h->e, h->n, h->cap, 64);
		*e = *m;
		e->from_ns = t;
		e->to_ns = INT64_MAX;
		e->file = strdup(m->file ? m->file : "");
		if (!e->file)
			abort();
	}
	pthread_mutex_unlock(&h->lock);
}

/* Calls fn on each mapping of executable code from a file in the text of
 * /proc/PID/maps (what maphist_add keeps). */
static void each_exec_file(const char *text, void (*fn)(void *arg, const struct maphist_entry *m),
			   void *arg)
{
	struct proc_map m;
	for (const char *l = text; proc_maps_next(&l, &m);) {
		if (m.perms[2] != 'x' || !m.path_len || m.path_len >= 4096 || m.path[0] != '/')
			continue;
		char file[4096];
		snprintf(file, sizeof file, "%.*s", (int)m.path_len, m.path);
		proc_strip_deleted(file); /* the file as it was mapped */
		struct maphist_entry x = { .start = m.start, .len = m.end - m.start,
					   .pgoff = m.offset, .file = file };
		fn(arg, &x);
	}
}

struct adding {
	struct maphist *h;
	pid_t pid;
	int64_t t;
};

static void add_one(void *arg, const struct maphist_entry *m)
{
	struct adding *a = arg;
	maphist_add(a->h, a->pid, m, a->t);
}

void maphist_seed(struct maphist *h, pid_t pid, int64_t t)
{
	if (!h)
		return;
	struct buf text;
	uint64_t hash;
	struct err e = { 0 };
	if (proc_maps_read(pid, &text, &hash, &e) == 0)
		maphist_sync(h, pid, buf_cstr(&text), t, -1);
	buf_release(&text);
}

struct marking {
	struct maphist *h;
	bool *there; /* by entry: still mapped */
};

static void mark_one(void *arg, const struct maphist_entry *m)
{
	struct marking *k = arg;
	for (size_t i = 0; i < k->h->n; i++)
		if (k->h->e[i].to_ns == INT64_MAX && same_mapping(&k->h->e[i], m))
			k->there[i] = true;
}

void maphist_sync(struct maphist *h, pid_t pid, const char *maps, int64_t from, int64_t gone)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	if (gone >= 0 && h->pid == pid && h->n) {
		struct marking k = { h, calloc(h->n, sizeof *k.there) };
		if (!k.there)
			abort();
		each_exec_file(maps, mark_one, &k);
		for (size_t i = 0; i < h->n; i++)
			if (h->e[i].to_ns == INT64_MAX && !k.there[i])
				h->e[i].to_ns = gone > h->e[i].from_ns ? gone : h->e[i].from_ns;
		free(k.there);
	}
	pthread_mutex_unlock(&h->lock);
	struct adding a = { h, pid, from };
	each_exec_file(maps, add_one, &a);
}

void maphist_exec(struct maphist *h, pid_t pid, int64_t t)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	for (size_t i = 0; h->pid == pid && i < h->n; i++)
		if (h->e[i].to_ns > t)
			h->e[i].to_ns = t;
	pthread_mutex_unlock(&h->lock);
}

void maphist_tag(struct maphist *h, pid_t pid, int64_t t, uint64_t *pcs, size_t n)
{
	if (!h)
		return;
	pthread_mutex_lock(&h->lock);
	for (size_t k = 0; h->pid == pid && h->n && k < n; k++) {
		/* newest first: the mapping there at t */
		for (size_t i = h->n; i-- > 0;) {
			const struct maphist_entry *e = &h->e[i];
			if (pcs[k] - e->start < e->len && e->from_ns <= t && t < e->to_ns) {
				pcs[k] = MAPHIST_BIT | (uint64_t)i << MAPHIST_SHIFT | (pcs[k] - e->start);
				break;
			}
		}
	}
	pthread_mutex_unlock(&h->lock);
}

struct maphist_entry *maphist_copy(struct maphist *h, pid_t pid, size_t *n)
{
	*n = 0;
	if (!h)
		return NULL;
	pthread_mutex_lock(&h->lock);
	struct maphist_entry *out = NULL;
	if (h->pid == pid && h->n) {
		out = calloc(h->n, sizeof *out);
		if (!out)
			abort();
		for (size_t i = 0; i < h->n; i++) {
			out[i] = h->e[i];
			out[i].file = strdup(h->e[i].file);
			if (!out[i].file)
				abort();
		}
		*n = h->n;
	}
	pthread_mutex_unlock(&h->lock);
	return out;
}

void maphist_free_copy(struct maphist_entry *e, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(e[i].file);
	free(e);
}
