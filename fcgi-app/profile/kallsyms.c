/* kallsyms: kernel frames named from /proc/kallsyms (see kallsyms.h). */
#include "profile/kallsyms.h"

#include "base/vec.h"
#include "collect/proc.h"
#include "profile/profile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ksym {
	uint64_t addr;
	size_t name; /* offset into names */
};

struct kallsyms {
	struct ksym *sym; /* text symbols by address */
	size_t n, cap;
	char *names;
	size_t len, names_cap;
	int err;          /* why /proc/kallsyms could not be read, or 0 */
	uint64_t key;     /* of the kernel and modules read: reread when it changes */
	bool read;
};

static int by_addr(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* What the symbols depend on: this boot, and the modules loaded (FNV-1a
 * of boot_id and /proc/modules). */
static uint64_t kernel_key(void)
{
	uint64_t h = 14695981039346656037ULL;
	const char *files[] = { "/proc/sys/kernel/random/boot_id", "/proc/modules" };
	for (size_t f = 0; f < 2; f++) {
		FILE *in = fopen(files[f], "re");
		int c;
		while (in && (c = getc(in)) != EOF)
			h = (h ^ (unsigned char)c) * 1099511628211ULL;
		if (in)
			fclose(in);
	}
	return h;
}

/* The text symbols of /proc/kallsyms (k->err: why it cannot be read). */
static void kallsyms_read(struct kallsyms *k)
{
	k->n = k->len = 0;
	k->err = 0;
	FILE *f = fopen("/proc/kallsyms", "re");
	if (!f) {
		k->err = errno;
		return;
	}
	char line[512];
	while (fgets(line, sizeof line, f)) {
		char *end;
		uint64_t addr = strtoull(line, &end, 16);
		/* "ADDR TYPE NAME [MODULE]": text symbols only (t, T) */
		if (end[0] != ' ' || (end[1] != 't' && end[1] != 'T') || end[2] != ' ')
			continue;
		if (!addr)
			continue; /* hidden (kptr_restrict): all are, or none */
		char *name = end + 3;
		size_t len = strcspn(name, " \t\n");
		VEC_RESERVE(k->names, k->names_cap, k->len + len + 1, 1 << 20);
		memcpy(k->names + k->len, name, len);
		k->names[k->len + len] = '\0';
		struct ksym *s = VEC_PUSH(k->sym, k->n, k->cap, 1 << 14);
		s->addr = addr;
		s->name = k->len;
		k->len += len + 1;
	}
	fclose(f);
	if (k->n)
		qsort(k->sym, k->n, sizeof *k->sym, by_addr);
}

struct kallsyms *kallsyms_new(void)
{
	struct kallsyms *k = calloc(1, sizeof *k);
	if (!k)
		abort();
	return k;
}

void kallsyms_free(struct kallsyms *k)
{
	if (!k)
		return;
	free(k->sym);
	free(k->names);
	free(k);
}

/* The symbol pc lies in (the last at or below it), or NULL. */
static const struct ksym *ksyms_find(const struct kallsyms *k, uint64_t pc)
{
	size_t lo = 0, hi = k->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (k->sym[mid].addr <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? &k->sym[lo - 1] : NULL;
}

void kallsyms_name(struct kallsyms *k, struct profile *p)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	for (size_t i = 0; i < p->nlocations; i++) {
		const struct profile_location *l = &p->locations[i];
		if (l->address >= KALLSYMS_LOW && !l->nlines) {
			lo = l->address < lo ? l->address : lo;
			hi = l->address > hi ? l->address : hi;
		}
	}
	if (lo > hi)
		return; /* no kernel frame */
	uint64_t key = kernel_key();
	if (!k->read || k->err || key != k->key) {
		kallsyms_read(k);
		k->key = key;
		k->read = true;
	}
	int err = k->err;
	bool named = k->n > 0;
	struct profile_mapping m = {
		.start = named && k->sym[0].addr < lo ? k->sym[0].addr : lo, .limit = hi + 1,
		.file = "[kernel.kallsyms]", .has_functions = named,
	};
	size_t id = profile_add_mapping(p, &m);
	for (size_t i = 0; i < p->nlocations; i++) {
		struct profile_location *l = &p->locations[i];
		if (l->address < KALLSYMS_LOW || l->nlines)
			continue;
		l->mapping = id;
		const struct ksym *s = named ? ksyms_find(k, l->address) : NULL;
		if (s) {
			l->sym_offset = l->address - s->addr;
			profile_location_add_line(l, k->names + s->name, k->names + s->name, NULL, 0);
		} else {
			profile_location_add_line(l, "[kernel]", NULL, NULL, 0);
		}
	}
	if (err)
		profile_add_comment(p, "kernel frames are unnamed ([kernel]): cannot read "
				    "/proc/kallsyms: %s (systemd's ProtectKernelTunables hides it)",
				    strerror(err));
	else if (!named)
		profile_add_comment(p, "kernel frames are unnamed ([kernel]): /proc/kallsyms shows "
				    "pprof-fcgi no addresses (kernel.kptr_restrict = %ld, "
				    "kernel.perf_event_paranoid = %ld, %s CAP_SYSLOG): CAP_SYSLOG names "
				    "them where kernel.kptr_restrict <= 1",
				    proc_sysctl("kernel/kptr_restrict", -1),
				    proc_sysctl("kernel/perf_event_paranoid", -1),
				    proc_has_cap(PROC_CAP_SYSLOG) ? "with" : "no");
}
