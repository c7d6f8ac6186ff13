#include "encode/pprof.h"

#include "base/buf.h"
#include "base/err.h"
#include "profile/profile.h"

#include "proto/profile.pb-c.h"

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
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 256;
		t->s = realloc(t->s, t->cap * sizeof *t->s);
		if (!t->s)
			abort();
	}
	t->s[t->n] = s;
	t->index[slot] = ++t->n;
	return (int64_t)(t->n - 1);
}

/* Appends label *nl of a sample: key (its string id in *key, added at first
 * use), a string value, or a number when str is NULL. */
static void put_label(struct strtab *t, Perftools__Profiles__Label *lb,
		      Perftools__Profiles__Label **ptrs, size_t *nl, int64_t *key,
		      const char *name, const char *str, int64_t num)
{
	if (*key < 0)
		*key = str_id(t, name);
	Perftools__Profiles__Label *l = &lb[*nl];
	perftools__profiles__label__init(l);
	l->key = *key;
	if (str)
		l->str = str_id(t, str);
	else
		l->num = num;
	ptrs[(*nl)++] = l;
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
	if (ft->n == ft->cap) {
		ft->cap = ft->cap ? ft->cap * 2 : 64;
		ft->f = realloc(ft->f, ft->cap * sizeof *ft->f);
		if (!ft->f)
			abort();
	}
	Perftools__Profiles__Function *f = &ft->f[ft->n++];
	perftools__profiles__function__init(f);
	f->id = ft->n;
	f->name = name;
	f->system_name = sys;
	f->filename = file;
	ft->index[slot] = ft->n;
	return f->id;
}

int pprof_encode(const struct profile *p, struct buf *out, struct err *e)
{
	struct strtab st = { 0 };
	struct functab ft = { 0 };
	str_id(&st, ""); /* index 0 is always "" */
	Perftools__Profiles__Profile pb;
	perftools__profiles__profile__init(&pb);

	Perftools__Profiles__ValueType types[PROFILE_MAX_VALUES], *type_ptrs[PROFILE_MAX_VALUES];
	for (size_t i = 0; i < p->ntypes; i++) {
		perftools__profiles__value_type__init(&types[i]);
		types[i].type = str_id(&st, p->types[i].type);
		types[i].unit = str_id(&st, p->types[i].unit);
		type_ptrs[i] = &types[i];
	}
	pb.n_sample_type = p->ntypes;
	pb.sample_type = type_ptrs;
	if (p->default_type >= 0 && (size_t)p->default_type < p->ntypes)
		pb.default_sample_type = types[p->default_type].type;
	Perftools__Profiles__ValueType period_type;
	perftools__profiles__value_type__init(&period_type);
	if (p->period_type.type) {
		period_type.type = str_id(&st, p->period_type.type);
		period_type.unit = str_id(&st, p->period_type.unit);
		pb.period_type = &period_type;
	}
	pb.period = p->period;
	pb.time_nanos = p->time_nanos;
	pb.duration_nanos = p->duration_nanos;

	/* mappings */
	Perftools__Profiles__Mapping *maps = xcalloc(p->nmappings, sizeof *maps);
	Perftools__Profiles__Mapping **map_ptrs = xcalloc(p->nmappings, sizeof *map_ptrs);
	for (size_t i = 0; i < p->nmappings; i++) {
		const struct profile_mapping *m = &p->mappings[i];
		perftools__profiles__mapping__init(&maps[i]);
		maps[i].id = i + 1;
		maps[i].memory_start = m->start;
		maps[i].memory_limit = m->limit;
		maps[i].file_offset = m->offset;
		maps[i].filename = str_id(&st, m->file);
		maps[i].build_id = str_id(&st, m->build_id);
		maps[i].has_functions = m->has_functions;
		maps[i].has_filenames = m->has_filenames;
		maps[i].has_line_numbers = m->has_line_numbers;
		maps[i].has_inline_frames = m->has_inline_frames;
		map_ptrs[i] = &maps[i];
	}
	pb.n_mapping = p->nmappings;
	pb.mapping = map_ptrs;

	/* locations and their lines */
	size_t nlines = 0;
	for (size_t i = 0; i < p->nlocations; i++)
		nlines += p->locations[i].nlines;
	Perftools__Profiles__Location *locs = xcalloc(p->nlocations, sizeof *locs);
	Perftools__Profiles__Location **loc_ptrs = xcalloc(p->nlocations, sizeof *loc_ptrs);
	Perftools__Profiles__Line *lines = xcalloc(nlines, sizeof *lines);
	Perftools__Profiles__Line **line_ptrs = xcalloc(nlines, sizeof *line_ptrs);
	size_t li = 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		const struct profile_location *l = &p->locations[i];
		perftools__profiles__location__init(&locs[i]);
		locs[i].id = i + 1;
		locs[i].mapping_id = l->mapping;
		locs[i].address = l->address;
		locs[i].n_line = l->nlines;
		locs[i].line = &line_ptrs[li];
		for (size_t j = 0; j < l->nlines; j++, li++) {
			const struct profile_line *ln = &l->lines[j];
			perftools__profiles__line__init(&lines[li]);
			lines[li].function_id = func_id(&ft, str_id(&st, ln->function),
							str_id(&st, ln->system_name),
							str_id(&st, ln->file));
			lines[li].line = ln->line;
			line_ptrs[li] = &lines[li];
		}
		loc_ptrs[i] = &locs[i];
	}
	pb.n_location = p->nlocations;
	pb.location = loc_ptrs;

	/* samples, each with its location ids and thread labels */
	size_t nids = 0;
	for (size_t i = 0; i < p->nsamples; i++)
		nids += p->samples[i].nlocs;
	Perftools__Profiles__Sample *samples = xcalloc(p->nsamples, sizeof *samples);
	Perftools__Profiles__Sample **sample_ptrs = xcalloc(p->nsamples, sizeof *sample_ptrs);
	uint64_t *ids = xcalloc(nids, sizeof *ids);
	int64_t *values = xcalloc(p->nsamples * (p->ntypes ? p->ntypes : 1), sizeof *values);
	enum { LABELS = 4 }; /* a sample's most: thread_id, thread_name, wait, bytes */
	Perftools__Profiles__Label *labels = xcalloc(p->nsamples * LABELS, sizeof *labels);
	Perftools__Profiles__Label **label_ptrs = xcalloc(p->nsamples * LABELS, sizeof *label_ptrs);
	int64_t k_tid = -1, k_name = -1, k_wait = -1, k_bytes = -1; /* added only when used */
	size_t ii = 0, ns = 0;
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct profile_sample *s = &p->samples[i];
		if (p->drop_zero) {
			bool zero = true;
			for (size_t v = 0; v < p->ntypes; v++)
				zero = zero && s->values[v] == 0;
			if (zero)
				continue;
		}
		Perftools__Profiles__Sample *o = &samples[ns];
		perftools__profiles__sample__init(o);
		o->n_location_id = s->nlocs;
		o->location_id = &ids[ii];
		for (size_t j = 0; j < s->nlocs; j++)
			ids[ii++] = s->locs[j] + 1;
		o->n_value = p->ntypes;
		o->value = &values[ns * p->ntypes];
		memcpy(o->value, s->values, p->ntypes * sizeof *values);
		Perftools__Profiles__Label *lb = &labels[ns * LABELS];
		Perftools__Profiles__Label **lp = &label_ptrs[ns * LABELS];
		size_t nl = 0;
		if (s->tid)
			put_label(&st, lb, lp, &nl, &k_tid, "thread_id", NULL, s->tid);
		if (s->thread_name[0])
			put_label(&st, lb, lp, &nl, &k_name, "thread_name", s->thread_name, 0);
		if (s->wait[0])
			put_label(&st, lb, lp, &nl, &k_wait, "wait", s->wait, 0);
		if (s->bytes)
			put_label(&st, lb, lp, &nl, &k_bytes, "bytes", NULL, s->bytes);
		o->n_label = nl;
		o->label = nl ? lp : NULL;
		sample_ptrs[ns++] = o;
	}
	pb.n_sample = ns;
	pb.sample = sample_ptrs;

	int64_t *comments = xcalloc(p->ncomments, sizeof *comments);
	for (size_t i = 0; i < p->ncomments; i++)
		comments[i] = str_id(&st, p->comments[i]);
	pb.n_comment = p->ncomments;
	pb.comment = comments;

	Perftools__Profiles__Function **func_ptrs = xcalloc(ft.n, sizeof *func_ptrs);
	for (size_t i = 0; i < ft.n; i++)
		func_ptrs[i] = &ft.f[i];
	pb.n_function = ft.n;
	pb.function = func_ptrs;
	pb.n_string_table = st.n;
	pb.string_table = (char **)st.s;

	size_t len = perftools__profiles__profile__get_packed_size(&pb);
	uint8_t *packed = malloc(len ? len : 1);
	if (!packed)
		abort();
	perftools__profiles__profile__pack(&pb, packed);
	int rc = pprof_gzip(packed, len, out, e);

	free(packed);
	free(func_ptrs);
	free(ft.f);
	free(ft.index);
	free(comments);
	free(label_ptrs);
	free(labels);
	free(values);
	free(ids);
	free(sample_ptrs);
	free(samples);
	free(line_ptrs);
	free(lines);
	free(loc_ptrs);
	free(locs);
	free(map_ptrs);
	free(maps);
	free(st.s);
	free(st.index);
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
