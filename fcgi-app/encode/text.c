#include "encode/text.h"

#include "base/buf.h"
#include "profile/profile.h"
#include "profile/threads.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static int by_value_desc(const struct profile *p, size_t v, size_t a, size_t b);

static int by_count_desc(const void *a, const void *b, void *arg)
{
	return by_value_desc(arg, 0, *(const size_t *)a, *(const size_t *)b);
}

/* " 0xADDR ..." (return addresses), then a "#" line per frame, then a
 * blank line. */
static void frames_from(struct buf *out, const struct profile *p, const struct profile_sample *s,
			bool leaf_is_pc)
{
	for (size_t j = 0; j < s->nlocs; j++) {
		uint64_t a = p->locations[s->locs[j]].address;
		/* callers: return address */
		buf_printf(out, " 0x%" PRIx64, j == 0 && leaf_is_pc ? a : a + 1);
	}
	buf_putc(out, '\n');
	for (size_t j = 0; j < s->nlocs; j++) {
		const struct profile_location *l = &p->locations[s->locs[j]];
		if (l->nlines == 0) {
			buf_printf(out, "#\t0x%" PRIx64 "\n", l->address);
			continue;
		}
		for (size_t f = 0; f < l->nlines; f++) {
			const struct profile_line *ln = &l->lines[f];
			buf_printf(out, "#\t0x%" PRIx64 "\t%s+0x%" PRIx64 "\t%s:%" PRId64 "\n",
				   l->address, ln->function, l->sym_offset,
				   ln->file ? ln->file : "??", ln->line);
		}
	}
	buf_putc(out, '\n');
}

static void frames(struct buf *out, const struct profile *p, const struct profile_sample *s)
{
	frames_from(out, p, s, true);
}

static int by_value_desc(const struct profile *p, size_t v, size_t a, size_t b)
{
	int64_t x = p->samples[a].values[v], y = p->samples[b].values[v];
	if (x != y)
		return x > y ? -1 : 1;
	return (a > b) - (a < b);
}

static int by_delay_desc(const void *a, const void *b, void *arg)
{
	return by_value_desc(arg, 1, *(const size_t *)a, *(const size_t *)b);
}

void text_contention(struct buf *out, const char *header, const struct profile *p)
{
	size_t *order = malloc((p->nsamples + 1) * sizeof *order);
	if (!order)
		abort();
	for (size_t i = 0; i < p->nsamples; i++)
		order[i] = i;
	qsort_r(order, p->nsamples, sizeof *order, by_delay_desc, (void *)p);
	buf_printf(out, "--- %s:\ncycles/second=1000000000\n", header);
	if (strcmp(header, "mutex") == 0)
		buf_puts(out, "sampling period=1\n");
	for (size_t k = 0; k < p->nsamples; k++) {
		const struct profile_sample *s = &p->samples[order[k]];
		if (s->values[1] == 0)
			continue;
		buf_printf(out, "%" PRId64 " %" PRId64 " @", s->values[1], s->values[0]);
		frames(out, p, s);
	}
	free(order);
}

void text_counts(struct buf *out, const char *name, const struct profile *p)
{
	int64_t total = 0;
	size_t *order = malloc((p->nsamples + 1) * sizeof *order);
	if (!order)
		abort();
	for (size_t i = 0; i < p->nsamples; i++) {
		total += p->samples[i].values[0];
		order[i] = i;
	}
	qsort_r(order, p->nsamples, sizeof *order, by_count_desc, (void *)p);
	buf_printf(out, "%s profile: total %" PRId64 "\n", name, total);
	for (size_t k = 0; k < p->nsamples; k++) {
		const struct profile_sample *s = &p->samples[order[k]];
		if (s->values[0] == 0)
			continue;
		buf_printf(out, "%" PRId64 " @", s->values[0]);
		frames(out, p, s);
	}
	free(order);
}

static int by_inuse_desc(const void *a, const void *b, void *arg)
{
	return by_value_desc(arg, 3, *(const size_t *)a, *(const size_t *)b);
}

void text_memory_map(struct buf *out, const struct profile *p)
{
	if (!p->nmappings)
		return;
	buf_printf(out, "\n--- Memory map: ---\n");
	for (size_t i = 0; i < p->nmappings; i++) {
		const struct profile_mapping *m = &p->mappings[i];
		buf_printf(out, "%" PRIx64 "-%" PRIx64 " r-xp %s (@%" PRIx64 ")%s%s\n", m->start,
			   m->limit, m->file && *m->file ? m->file : "?", m->offset,
			   m->build_id ? " " : "", m->build_id ? m->build_id : "");
	}
}

void text_heap(struct buf *out, const struct profile *p, int64_t rate)
{
	int64_t t[4] = { 0 };
	size_t *order = malloc((p->nsamples + 1) * sizeof *order);
	if (!order)
		abort();
	for (size_t i = 0; i < p->nsamples; i++) {
		for (int k = 0; k < 4; k++)
			t[k] += p->samples[i].values[k];
		order[i] = i;
	}
	qsort_r(order, p->nsamples, sizeof *order, by_inuse_desc, (void *)p);
	buf_printf(out, "heap profile: %" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "] @ heap/%" PRId64 "\n",
		   t[2], t[3], t[0], t[1], 2 * rate);
	for (size_t k = 0; k < p->nsamples; k++) {
		const struct profile_sample *s = &p->samples[order[k]];
		buf_printf(out, "%" PRId64 ": %" PRId64 " [%" PRId64 ": %" PRId64 "] @",
			   s->values[2], s->values[3], s->values[0], s->values[1]);
		frames_from(out, p, s, false);
	}
	free(order);
}

static const char *state_word(char s)
{
	switch (s) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "disk sleep";
	case 'T': return "stopped";
	case 't': return "tracing stop";
	case 'Z': return "zombie";
	case 'X': return "dead";
	case 'I': return "idle";
	case 'E': return "exiting"; /* COLLECTOR_STATE_EXITING */
	}
	return "unknown";
}

void text_threads(struct buf *out, const struct thread_dump *d, const struct profile *p)
{
	for (size_t i = 0; i < d->n && i < p->nsamples; i++) {
		const struct thread_stack *t = &d->t[i];
		const struct profile_sample *s = &p->samples[i];
		if (i > 0)
			buf_putc(out, '\n');
		buf_printf(out, "thread %d \"%s\" [%s", (int)t->tid, t->name, state_word(t->state));
		if (t->wait)
			buf_printf(out, " in %s", t->wait);
		buf_printf(out, ", %.2f s on CPU", (double)t->cpu_total_ns / 1e9);
		if (t->without_stop)
			buf_puts(out, ", read without stopping it");
		buf_puts(out, "]:\n");
		for (size_t j = 0; j < s->nlocs; j++) {
			const struct profile_location *l = &p->locations[s->locs[j]];
			if (l->nlines == 0) {
				const struct profile_mapping *m = l->mapping ? &p->mappings[l->mapping - 1] : NULL;
				if (m)
					buf_printf(out, "?\?(...)\n\t%s +0x%" PRIx64 "\n", m->file,
						   l->address - m->start + m->offset);
				else
					buf_printf(out, "?\?(...)\n\t?? 0x%" PRIx64 "\n", l->address);
				continue;
			}
			for (size_t f = 0; f < l->nlines; f++) {
				const struct profile_line *ln = &l->lines[f];
				buf_printf(out, "%s(...)\n\t%s:%" PRId64 " +0x%" PRIx64 "\n", ln->function,
					   ln->file ? ln->file : "??", ln->line, l->sym_offset);
			}
		}
	}
}
