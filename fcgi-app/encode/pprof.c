#include "encode/pprof.h"

#include "base/buf.h"
#include "base/err.h"
#include "base/vec.h"
#include "profile/profile.h"

#include "proto/profile.pb-c.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

/* The string table: strings deduplicated through an open-addressing index. */
struct strtab {
	const char **s;
	size_t n, cap;
	size_t *index, index_cap; /* entries are positions + 1 */
};

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void strtab_rehash(struct strtab *t)
{
	size_t cap = t->index_cap ? t->index_cap * 2 : 256;
	free(t->index);
	t->index = xcalloc(cap, sizeof *t->index);
	t->index_cap = cap;
	for (size_t i = 0; i < t->n; i++) {
		size_t slot = str_hash(t->s[i]) & (cap - 1);
		while (t->index[slot])
			slot = (slot + 1) & (cap - 1);
		t->index[slot] = i + 1;
	}
}

static int64_t str_id(struct strtab *t, const char *s)
{
	if (!s)
		s = "";
	if (t->n * 2 + 2 > t->index_cap)
		strtab_rehash(t);
	size_t mask = t->index_cap - 1, slot = str_hash(s) & mask;
	for (; t->index[slot]; slot = (slot + 1) & mask)
		if (strcmp(t->s[t->index[slot] - 1], s) == 0)
			return (int64_t)(t->index[slot] - 1);
	const char **e = VEC_PUSH(t->s, t->n, t->cap, 256);
	*e = s;
	t->index[slot] = t->n;
	return (int64_t)(t->n - 1);
}

/* Functions deduplicated by (name, system name, file): a line's function id. */
struct functab {
	Perftools__Profiles__Function *f;
	size_t n, cap;
	size_t *index, index_cap; /* entries are positions + 1 */
};

static uint64_t func_hash(int64_t name, int64_t sys, int64_t file)
{
	uint64_t h = (uint64_t)name * 0x9e3779b97f4a7c15ULL;
	h = (h ^ (uint64_t)sys) * 0xff51afd7ed558ccdULL;
	return (h ^ (uint64_t)file) * 0xc4ceb9fe1a85ec53ULL;
}

static void functab_rehash(struct functab *ft)
{
	size_t cap = ft->index_cap ? ft->index_cap * 2 : 256;
	free(ft->index);
	ft->index = xcalloc(cap, sizeof *ft->index);
	ft->index_cap = cap;
	for (size_t i = 0; i < ft->n; i++) {
		const Perftools__Profiles__Function *f = &ft->f[i];
		size_t slot = func_hash(f->name, f->system_name, f->filename) & (cap - 1);
		while (ft->index[slot])
			slot = (slot + 1) & (cap - 1);
		ft->index[slot] = i + 1;
	}
}

static uint64_t func_id(struct functab *ft, int64_t name, int64_t sys, int64_t file)
{
	if (ft->n * 2 + 2 > ft->index_cap)
		functab_rehash(ft);
	size_t mask = ft->index_cap - 1, slot = func_hash(name, sys, file) & mask;
	for (; ft->index[slot]; slot = (slot + 1) & mask) {
		const Perftools__Profiles__Function *f = &ft->f[ft->index[slot] - 1];
		if (f->name == name && f->system_name == sys && f->filename == file)
			return f->id;
	}
	Perftools__Profiles__Function *f = VEC_PUSH(ft->f, ft->n, ft->cap, 64);
	perftools__profiles__function__init(f);
	f->id = ft->n;
	f->name = name;
	f->system_name = sys;
	f->filename = file;
	ft->index[slot] = ft->n;
	return f->id;
}

/* One encoding: the message as its tables are built, and the arrays
 * they point into, which it owns. */
struct enc {
	const struct profile *p;
	Perftools__Profiles__Profile pb;
	struct strtab st;
	struct functab ft;
	Perftools__Profiles__ValueType types[PROFILE_MAX_VALUES], *type_ptrs[PROFILE_MAX_VALUES];
	Perftools__Profiles__ValueType period_type;
	Perftools__Profiles__Mapping *maps, **map_ptrs;
	Perftools__Profiles__Location *locs, **loc_ptrs;
	Perftools__Profiles__Line *lines, **line_ptrs;
	Perftools__Profiles__Sample *samples, **sample_ptrs;
	uint64_t *ids;
	int64_t *values;
	Perftools__Profiles__Label *labels, **label_ptrs;
	int64_t k_tid, k_name, k_wait, k_bytes; /* label keys, added only when used */
	int64_t *comments;
	Perftools__Profiles__Function **func_ptrs;
};

static void enc_header(struct enc *x)
{
	const struct profile *p = x->p;
	for (size_t i = 0; i < p->ntypes; i++) {
		perftools__profiles__value_type__init(&x->types[i]);
		x->types[i].type = str_id(&x->st, p->types[i].type);
		x->types[i].unit = str_id(&x->st, p->types[i].unit);
		x->type_ptrs[i] = &x->types[i];
	}
	x->pb.n_sample_type = p->ntypes;
	x->pb.sample_type = x->type_ptrs;
	if (p->default_type >= 0 && (size_t)p->default_type < p->ntypes)
		x->pb.default_sample_type = x->types[p->default_type].type;
	perftools__profiles__value_type__init(&x->period_type);
	if (p->period_type.type) {
		x->period_type.type = str_id(&x->st, p->period_type.type);
		x->period_type.unit = str_id(&x->st, p->period_type.unit);
		x->pb.period_type = &x->period_type;
	}
	x->pb.period = p->period;
	x->pb.time_nanos = p->time_nanos;
	x->pb.duration_nanos = p->duration_nanos;
}

static void enc_mappings(struct enc *x)
{
	const struct profile *p = x->p;
	x->maps = xcalloc(p->nmappings, sizeof *x->maps);
	x->map_ptrs = xcalloc(p->nmappings, sizeof *x->map_ptrs);
	for (size_t i = 0; i < p->nmappings; i++) {
		const struct profile_mapping *m = &p->mappings[i];
		Perftools__Profiles__Mapping *o = &x->maps[i];
		perftools__profiles__mapping__init(o);
		o->id = i + 1;
		o->memory_start = m->start;
		o->memory_limit = m->limit;
		o->file_offset = m->offset;
		o->filename = str_id(&x->st, m->file);
		o->build_id = str_id(&x->st, m->build_id);
		o->has_functions = m->has_functions;
		o->has_filenames = m->has_filenames;
		o->has_line_numbers = m->has_line_numbers;
		o->has_inline_frames = m->has_inline_frames;
		x->map_ptrs[i] = o;
	}
	x->pb.n_mapping = p->nmappings;
	x->pb.mapping = x->map_ptrs;
}

/* Locations and their lines; the lines' functions go to x->ft. */
static void enc_locations(struct enc *x)
{
	const struct profile *p = x->p;
	size_t nlines = 0;
	for (size_t i = 0; i < p->nlocations; i++)
		nlines += p->locations[i].nlines;
	x->locs = xcalloc(p->nlocations, sizeof *x->locs);
	x->loc_ptrs = xcalloc(p->nlocations, sizeof *x->loc_ptrs);
	x->lines = xcalloc(nlines, sizeof *x->lines);
	x->line_ptrs = xcalloc(nlines, sizeof *x->line_ptrs);
	size_t li = 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		const struct profile_location *l = &p->locations[i];
		Perftools__Profiles__Location *o = &x->locs[i];
		perftools__profiles__location__init(o);
		o->id = i + 1;
		o->mapping_id = l->mapping;
		o->address = l->address;
		o->n_line = l->nlines;
		o->line = &x->line_ptrs[li];
		for (size_t j = 0; j < l->nlines; j++, li++) {
			const struct profile_line *ln = &l->lines[j];
			perftools__profiles__line__init(&x->lines[li]);
			x->lines[li].function_id = func_id(&x->ft, str_id(&x->st, ln->function),
							   str_id(&x->st, ln->system_name),
							   str_id(&x->st, ln->file));
			x->lines[li].line = ln->line;
			x->line_ptrs[li] = &x->lines[li];
		}
		x->loc_ptrs[i] = o;
	}
	x->pb.n_location = p->nlocations;
	x->pb.location = x->loc_ptrs;
}

/* a sample's most labels: thread_id, thread_name, wait, bytes */
enum { SAMPLE_LABELS = 4 };

/* Appends label name (its key made on first use, kept in *key) to lb[0..*n):
 * str when given, else num. */
static void add_label(struct enc *x, Perftools__Profiles__Label *lb,
		      Perftools__Profiles__Label **ptrs, size_t *n, int64_t *key,
		      const char *name, int64_t num, const char *str)
{
	if (*key < 0)
		*key = str_id(&x->st, name);
	Perftools__Profiles__Label *l = &lb[*n];
	perftools__profiles__label__init(l);
	l->key = *key;
	if (str)
		l->str = str_id(&x->st, str);
	else
		l->num = num;
	ptrs[(*n)++] = l;
}

static bool all_zero(const struct profile *p, const struct profile_sample *s)
{
	for (size_t v = 0; v < p->ntypes; v++)
		if (s->values[v] != 0)
			return false;
	return true;
}

/* Samples, each with its location ids and thread labels. */
static void enc_samples(struct enc *x)
{
	const struct profile *p = x->p;
	size_t nids = 0;
	for (size_t i = 0; i < p->nsamples; i++)
		nids += p->samples[i].nlocs;
	x->samples = xcalloc(p->nsamples, sizeof *x->samples);
	x->sample_ptrs = xcalloc(p->nsamples, sizeof *x->sample_ptrs);
	x->ids = xcalloc(nids, sizeof *x->ids);
	x->values = xcalloc(p->nsamples * (p->ntypes ? p->ntypes : 1), sizeof *x->values);
	x->labels = xcalloc(p->nsamples * SAMPLE_LABELS, sizeof *x->labels);
	x->label_ptrs = xcalloc(p->nsamples * SAMPLE_LABELS, sizeof *x->label_ptrs);
	size_t ii = 0, ns = 0;
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct profile_sample *s = &p->samples[i];
		if (p->drop_zero && all_zero(p, s))
			continue;
		Perftools__Profiles__Sample *o = &x->samples[ns];
		perftools__profiles__sample__init(o);
		o->n_location_id = s->nlocs;
		o->location_id = &x->ids[ii];
		for (size_t j = 0; j < s->nlocs; j++)
			x->ids[ii++] = s->locs[j] + 1;
		o->n_value = p->ntypes;
		o->value = &x->values[ns * p->ntypes];
		memcpy(o->value, s->values, p->ntypes * sizeof *x->values);
		Perftools__Profiles__Label *lb = &x->labels[ns * SAMPLE_LABELS];
		Perftools__Profiles__Label **ptrs = &x->label_ptrs[ns * SAMPLE_LABELS];
		size_t nl = 0;
		if (s->tid)
			add_label(x, lb, ptrs, &nl, &x->k_tid, "thread_id", s->tid, NULL);
		if (s->thread_name[0])
			add_label(x, lb, ptrs, &nl, &x->k_name, "thread_name", 0, s->thread_name);
		if (s->wait[0])
			add_label(x, lb, ptrs, &nl, &x->k_wait, "wait", 0, s->wait);
		if (s->bytes)
			add_label(x, lb, ptrs, &nl, &x->k_bytes, "bytes", s->bytes, NULL);
		o->n_label = nl;
		o->label = nl ? ptrs : NULL;
		x->sample_ptrs[ns++] = o;
	}
	x->pb.n_sample = ns;
	x->pb.sample = x->sample_ptrs;
}

static void enc_comments(struct enc *x)
{
	const struct profile *p = x->p;
	x->comments = xcalloc(p->ncomments, sizeof *x->comments);
	for (size_t i = 0; i < p->ncomments; i++)
		x->comments[i] = str_id(&x->st, p->comments[i]);
	x->pb.n_comment = p->ncomments;
	x->pb.comment = x->comments;
}

/* The function and string tables, last: every table before adds to them. */
static void enc_functions_strings(struct enc *x)
{
	x->func_ptrs = xcalloc(x->ft.n, sizeof *x->func_ptrs);
	for (size_t i = 0; i < x->ft.n; i++)
		x->func_ptrs[i] = &x->ft.f[i];
	x->pb.n_function = x->ft.n;
	x->pb.function = x->func_ptrs;
	x->pb.n_string_table = x->st.n;
	x->pb.string_table = (char **)x->st.s;
}

static void enc_release(struct enc *x)
{
	free(x->func_ptrs);
	free(x->ft.f);
	free(x->ft.index);
	free(x->comments);
	free(x->label_ptrs);
	free(x->labels);
	free(x->values);
	free(x->ids);
	free(x->sample_ptrs);
	free(x->samples);
	free(x->line_ptrs);
	free(x->lines);
	free(x->loc_ptrs);
	free(x->locs);
	free(x->map_ptrs);
	free(x->maps);
	free(x->st.s);
	free(x->st.index);
}

int pprof_encode(const struct profile *p, struct buf *out, struct err *e)
{
	struct enc x = { .p = p, .k_tid = -1, .k_name = -1, .k_wait = -1, .k_bytes = -1 };
	perftools__profiles__profile__init(&x.pb);
	str_id(&x.st, ""); /* index 0 is always "" */
	enc_header(&x);
	enc_mappings(&x);
	enc_locations(&x);
	enc_samples(&x);
	enc_comments(&x);
	enc_functions_strings(&x);

	size_t len = perftools__profiles__profile__get_packed_size(&x.pb);
	uint8_t *packed = malloc(len ? len : 1);
	if (!packed)
		abort();
	perftools__profiles__profile__pack(&x.pb, packed);
	int rc = pprof_gzip(packed, len, out, e);
	free(packed);
	enc_release(&x);
	return rc;
}

int pprof_gzip(const void *data, size_t len, struct buf *out, struct err *e)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	/* windowBits 15 + 16: a gzip header and trailer, as pprof expects */
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return err_set(e, ERR_INTERNAL, "deflateInit2: %s", z.msg ? z.msg : "failed");
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)len;
	unsigned char chunk[65536];
	int zr;
	do {
		z.next_out = chunk;
		z.avail_out = sizeof chunk;
		zr = deflate(&z, Z_FINISH);
		if (zr == Z_STREAM_ERROR) {
			deflateEnd(&z);
			return err_set(e, ERR_INTERNAL, "deflate: stream error");
		}
		buf_add(out, chunk, sizeof chunk - z.avail_out);
	} while (zr != Z_STREAM_END);
	deflateEnd(&z);
	return buf_check(out, e);
}
