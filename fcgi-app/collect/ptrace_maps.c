/* ptrace_maps: the mapping history for the ptrace sampler (see the .h). */
#include "collect/ptrace_maps.h"

#include "base/buf.h"
#include "base/clock.h"
#include "base/err.h"
#include "base/vec.h"
#include "collect/maphist.h"
#include "collect/proc.h"

#include <stdlib.h>

void ptrace_maps_release(struct ptrace_maps *m)
{
	free(m->x);
	m->x = NULL;
	m->nx = m->xcap = 0;
	m->hash = 0;
	m->nmissed = 0;
}

static bool in_range(const struct ptrace_maps *m, uint64_t pc)
{
	size_t lo = 0, hi = m->nx;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (pc < m->x[mid].start)
			hi = mid;
		else if (pc >= m->x[mid].end)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

static bool missed_before(const struct ptrace_maps *m, uint64_t pc)
{
	size_t n = m->nmissed < PTRACE_MAPS_MISSED ? m->nmissed : PTRACE_MAPS_MISSED;
	for (size_t i = 0; i < n; i++)
		if (m->missed[i] == pc)
			return true;
	return false;
}

bool ptrace_maps_miss(const struct ptrace_maps *m, const uint64_t *pcs, size_t n)
{
	if (!m->hash)
		return true;
	for (size_t i = 0; i < n; i++)
		if (!in_range(m, pcs[i]) && !missed_before(m, pcs[i]))
			return true;
	return false;
}

bool ptrace_maps_read(struct ptrace_maps *m, struct maphist *h, pid_t pid, int64_t from)
{
	struct buf text;
	uint64_t hash;
	struct err e = { 0 };
	bool changed = false;
	if (from < m->exec_ns)
		from = m->exec_ns;
	if (proc_maps_read(pid, &text, &hash, &e) == 0 && hash != m->hash) {
		changed = m->hash != 0;
		m->hash = hash;
		m->nx = m->nmissed = 0;
		/* every executable range, the vDSO and anonymous code too: a
		 * frame there is no news (the kernel lists them in order) */
		struct proc_map pm;
		for (const char *l = buf_cstr(&text); proc_maps_next(&l, &pm);)
			if (pm.perms[2] == 'x') {
				struct ptrace_range *r = VEC_PUSH(m->x, m->nx, m->xcap, 64);
				*r = (struct ptrace_range){ pm.start, pm.end };
			}
		maphist_sync(h, pid, buf_cstr(&text), from, clock_ns(CLOCK_BOOTTIME));
	}
	buf_release(&text);
	return changed;
}

void ptrace_maps_note(struct ptrace_maps *m, const uint64_t *pcs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!in_range(m, pcs[i]) && !missed_before(m, pcs[i]))
			m->missed[m->nmissed++ % PTRACE_MAPS_MISSED] = pcs[i];
}

void ptrace_maps_exec(struct ptrace_maps *m, struct maphist *h, pid_t pid, int64_t t)
{
	if (!m->hash)
		return;
	maphist_exec(h, pid, t);
	m->hash = 0;
	m->exec_ns = t;
}
