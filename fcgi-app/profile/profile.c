#include "profile/profile.h"

#include "base/vec.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *xstrdup(const char *s)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		abort();
	return d;
}

void profile_init(struct profile *p)
{
	memset(p, 0, sizeof *p);
	p->default_type = -1;
}

void profile_init_cpu(struct profile *p, long hz)
{
	profile_init(p);
	profile_add_type(p, "samples", "count");
	profile_add_type(p, "cpu", "nanoseconds");
	p->default_type = 1;
	p->period_type = p->types[1];
	p->period = hz > 0 ? 1000000000LL / hz : 0;
}

void profile_init_contention(struct profile *p)
{
	profile_init(p);
	profile_add_type(p, "contentions", "count");
	profile_add_type(p, "delay", "nanoseconds");
	p->period_type = p->types[0];
	p->period = 1;
}

void profile_init_heap(struct profile *p, bool inuse, int64_t rate)
{
	profile_init(p);
	profile_add_type(p, "alloc_objects", "count");
	profile_add_type(p, "alloc_space", "bytes");
	profile_add_type(p, "inuse_objects", "count");
	profile_add_type(p, "inuse_space", "bytes");
	p->default_type = inuse ? 3 : 1;
	p->period_type = (struct profile_value_type){ "space", "bytes" };
	p->period = rate;
}

void profile_init_count(struct profile *p, const char *name)
{
	profile_init(p);
	profile_add_type(p, name, "count");
	p->period_type = p->types[0];
	p->period = 1;
}

void profile_release(struct profile *p)
{
	for (size_t i = 0; i < p->nsamples; i++)
		free(p->samples[i].locs);
	for (size_t i = 0; i < p->nlocations; i++) {
		struct profile_location *l = &p->locations[i];
		for (size_t j = 0; j < l->nlines; j++) {
			free(l->lines[j].function);
			free(l->lines[j].system_name);
			free(l->lines[j].file);
		}
		free(l->lines);
	}
	for (size_t i = 0; i < p->nmappings; i++) {
		free(p->mappings[i].file);
		free(p->mappings[i].build_id);
	}
	for (size_t i = 0; i < p->ncomments; i++)
		free(p->comments[i]);
	free(p->samples);
	free(p->locations);
	free(p->mappings);
	free(p->comments);
	free(p->loc_index);
	free(p->sample_index);
	free(p->unsettled);
	profile_init(p);
}

void profile_add_type(struct profile *p, const char *type, const char *unit)
{
	if (p->ntypes < PROFILE_MAX_VALUES)
		p->types[p->ntypes++] = (struct profile_value_type){ type, unit };
}

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdULL;
}

/* Open addressing over indices + 1 (0 = empty); the table is kept at most
 * half full, so lookups end. */
static void index_rebuild(size_t **table, size_t *cap, size_t count,
			  uint64_t (*hash)(const struct profile *, size_t),
			  const struct profile *p)
{
	size_t ncap = *cap ? *cap * 2 : 64;
	while (ncap < count * 2 + 2)
		ncap *= 2;
	free(*table);
	*table = calloc(ncap, sizeof **table);
	if (!*table)
		abort();
	*cap = ncap;
	for (size_t i = 0; i < count; i++) {
		size_t slot = hash(p, i) & (ncap - 1);
		while ((*table)[slot])
			slot = (slot + 1) & (ncap - 1);
		(*table)[slot] = i + 1;
	}
}

static uint64_t loc_hash(const struct profile *p, size_t i)
{
	return mix(0, p->locations[i].address);
}

size_t profile_location(struct profile *p, uint64_t address)
{
	if (p->nlocations * 2 + 2 > p->loc_index_cap)
		index_rebuild(&p->loc_index, &p->loc_index_cap, p->nlocations, loc_hash, p);
	size_t mask = p->loc_index_cap - 1, slot = mix(0, address) & mask;
	for (; p->loc_index[slot]; slot = (slot + 1) & mask)
		if (p->locations[p->loc_index[slot] - 1].address == address)
			return p->loc_index[slot] - 1;
	size_t i = p->nlocations;
	struct profile_location *l = VEC_PUSH(p->locations, p->nlocations, p->locations_cap, 16);
	l->address = address;
	p->loc_index[slot] = i + 1;
	return i;
}

static uint64_t stack_hash(const size_t *locs, size_t n, pid_t tid, const char *name,
			   const char *wait, int64_t bytes)
{
	uint64_t h = mix(mix(n, (uint64_t)tid), (uint64_t)bytes);
	for (size_t i = 0; i < n; i++)
		h = mix(h, locs[i]);
	for (; *name; name++)
		h = mix(h, (unsigned char)*name);
	for (; *wait; wait++)
		h = mix(h, (unsigned char)*wait);
	return h;
}

static uint64_t sample_hash(const struct profile *p, size_t i)
{
	const struct profile_sample *s = &p->samples[i];
	return stack_hash(s->locs, s->nlocs, s->tid, s->thread_name, s->wait, s->bytes);
}

static size_t add_sample(struct profile *p, const uint64_t *pcs, size_t n,
			 const int64_t *values, pid_t tid, const char *thread_name,
			 const char *wait, int64_t bytes);

void profile_add_sample(struct profile *p, const uint64_t *pcs, size_t n,
			const int64_t *values, pid_t tid, const char *thread_name)
{
	add_sample(p, pcs, n, values, tid, thread_name, NULL, 0);
}

void profile_add_wait_sample(struct profile *p, const uint64_t *pcs, size_t n,
			     const int64_t *values, pid_t tid, const char *thread_name,
			     const char *wait)
{
	add_sample(p, pcs, n, values, tid, thread_name, wait, 0);
}

void profile_add_sized_sample(struct profile *p, const uint64_t *pcs, size_t n,
			      const int64_t *values, int64_t bytes)
{
	add_sample(p, pcs, n, values, 0, NULL, NULL, bytes);
}

/* The index of the sample the values went to. */
static size_t add_sample(struct profile *p, const uint64_t *pcs, size_t n,
			 const int64_t *values, pid_t tid, const char *thread_name,
			 const char *wait, int64_t bytes)
{
	if (n > PROFILE_MAX_DEPTH)
		n = PROFILE_MAX_DEPTH;
	size_t locs[PROFILE_MAX_DEPTH];
	for (size_t i = 0; i < n; i++)
		locs[i] = profile_location(p, pcs[i]);
	char name[16], w[64];
	snprintf(name, sizeof name, "%s", thread_name ? thread_name : "");
	snprintf(w, sizeof w, "%s", wait ? wait : "");
	if (p->nsamples * 2 + 2 > p->sample_index_cap)
		index_rebuild(&p->sample_index, &p->sample_index_cap, p->nsamples, sample_hash, p);
	size_t mask = p->sample_index_cap - 1;
	size_t slot = stack_hash(locs, n, tid, name, w, bytes) & mask;
	for (; p->sample_index[slot]; slot = (slot + 1) & mask) {
		struct profile_sample *s = &p->samples[p->sample_index[slot] - 1];
		if (s->nlocs == n && s->tid == tid && s->bytes == bytes &&
		    strcmp(s->thread_name, name) == 0 &&
		    strcmp(s->wait, w) == 0 && memcmp(s->locs, locs, n * sizeof *locs) == 0) {
			for (size_t v = 0; v < p->ntypes; v++)
				s->values[v] += values[v];
			return p->sample_index[slot] - 1;
		}
	}
	struct profile_sample *s = VEC_PUSH(p->samples, p->nsamples, p->samples_cap, 16);
	s->locs = vec_realloc(NULL, n * sizeof *locs);
	memcpy(s->locs, locs, n * sizeof *locs);
	s->nlocs = n;
	for (size_t v = 0; v < p->ntypes; v++)
		s->values[v] = values[v];
	s->tid = tid;
	memcpy(s->thread_name, name, sizeof name);
	memcpy(s->wait, w, sizeof w);
	s->bytes = bytes;
	s->ticks = 0;
	p->sample_index[slot] = p->nsamples;
	return p->nsamples - 1;
}

void profile_add_tick(struct profile *p, const uint64_t *pcs, size_t n, pid_t tid,
		      const char *thread_name)
{
	int64_t one[PROFILE_MAX_VALUES] = { 1 };
	size_t i = add_sample(p, pcs, n, one, tid, thread_name, NULL, 0);
	if (p->samples[i].ticks++ == 0)
		*(size_t *)VEC_PUSH(p->unsettled, p->nunsettled, p->unsettled_cap, 64) = i;
}

void profile_settle_thread(struct profile *p, pid_t tid, int64_t cpu_ns)
{
	int64_t total = 0;
	for (size_t k = 0; k < p->nunsettled; k++)
		if (p->samples[p->unsettled[k]].tid == tid)
			total += p->samples[p->unsettled[k]].ticks;
	if (total == 0)
		return;
	/* each gets its share of the running sum, rounded: no ns lost */
	int64_t seen = 0, given = 0;
	size_t kept = 0;
	for (size_t k = 0; k < p->nunsettled; k++) {
		struct profile_sample *s = &p->samples[p->unsettled[k]];
		if (s->tid != tid) {
			p->unsettled[kept++] = p->unsettled[k];
			continue;
		}
		seen += s->ticks;
		int64_t upto = (int64_t)((__int128)cpu_ns * seen / total);
		if (p->ntypes > 1)
			s->values[1] += upto - given;
		given = upto;
		s->ticks = 0;
	}
	p->nunsettled = kept;
}

void profile_location_add_line(struct profile_location *loc, const char *function,
			       const char *system_name, const char *file, int64_t line)
{
	loc->lines = vec_realloc(loc->lines, (loc->nlines + 1) * sizeof *loc->lines);
	loc->lines[loc->nlines++] = (struct profile_line){
		.function = xstrdup(function),
		.system_name = xstrdup(system_name ? system_name : function),
		.file = xstrdup(file),
		.line = line,
	};
}

size_t profile_add_mapping(struct profile *p, const struct profile_mapping *m)
{
	struct profile_mapping *d = VEC_PUSH(p->mappings, p->nmappings, p->mappings_cap, 16);
	*d = *m;
	d->file = xstrdup(m->file);
	d->build_id = xstrdup(m->build_id);
	return p->nmappings;
}

void profile_add_comment(struct profile *p, const char *fmt, ...)
{
	char text[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof text, fmt, ap);
	va_end(ap);
	p->comments = vec_realloc(p->comments, (p->ncomments + 1) * sizeof *p->comments);
	p->comments[p->ncomments++] = xstrdup(text);
}

int profile_set_default_type(struct profile *p, const char *type)
{
	for (size_t i = 0; i < p->ntypes; i++)
		if (strcmp(p->types[i].type, type) == 0) {
			p->default_type = (int)i;
			return 0;
		}
	return -1;
}

void profile_type_names(const struct profile *p, char *out, size_t size)
{
	size_t len = 0;
	out[0] = '\0';
	for (size_t i = 0; i < p->ntypes && len < size; i++) {
		int n = snprintf(out + len, size - len, "%s%s", i ? ", " : "", p->types[i].type);
		len += n > 0 ? (size_t)n : 0;
	}
}

void profile_split_inlines(struct profile *p)
{
	/* first[i]: where location i's innermost part lands; parts[i]: how many */
	size_t *first = vec_realloc(NULL, (p->nlocations + 1) * sizeof *first);
	size_t n = 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		first[i] = n;
		n += p->locations[i].nlines > 1 ? p->locations[i].nlines : 1;
	}
	first[p->nlocations] = n;
	if (n == p->nlocations) { /* nothing inlined */
		free(first);
		return;
	}
	struct profile_location *locs = vec_realloc(NULL, n * sizeof *locs);
	for (size_t i = 0; i < p->nlocations; i++) {
		struct profile_location *l = &p->locations[i];
		if (l->nlines <= 1) {
			locs[first[i]] = *l;
			continue;
		}
		for (size_t j = 0; j < l->nlines; j++) {
			struct profile_location *part = &locs[first[i] + j];
			*part = *l;
			part->lines = vec_realloc(NULL, sizeof *part->lines);
			part->lines[0] = l->lines[j]; /* its strings move */
			part->nlines = 1;
		}
		free(l->lines);
	}
	for (size_t i = 0; i < p->nsamples; i++) {
		struct profile_sample *s = &p->samples[i];
		size_t m = 0;
		for (size_t k = 0; k < s->nlocs; k++)
			m += first[s->locs[k] + 1] - first[s->locs[k]];
		size_t *stack = vec_realloc(NULL, m * sizeof *stack), at = 0;
		/* leaf first, and each location's lines innermost first: in order */
		for (size_t k = 0; k < s->nlocs; k++)
			for (size_t j = first[s->locs[k]]; j < first[s->locs[k] + 1]; j++)
				stack[at++] = j;
		free(s->locs);
		s->locs = stack;
		s->nlocs = m;
	}
	free(p->locations);
	p->locations = locs;
	p->nlocations = p->locations_cap = n;
	/* the indexes are by address and stack, which no longer name one */
	free(p->loc_index);
	free(p->sample_index);
	p->loc_index = p->sample_index = NULL;
	p->loc_index_cap = p->sample_index_cap = 0;
	free(first);
}
