/* deliver: a thread's stacks and CPU time to one CPU subscriber, as the
 * collector hands them out (collector.c decides when), which subscribers
 * a tick is due to, and context switches to those that take them. */
#include "collect/deliver.h"

#include "base/clock.h"
#include "collect/sampler.h"
#include "collect/tidtab.h"

void deliver_cpu(struct thr *t, struct collector_sub *s, bool sampled)
{
	uint64_t base = t->base[s->slot];
	if (t->cpu_ns <= base)
		return;
	struct collector_sample smp = {
		.tid = t->tid, .thread_name = t->comm, .pcs = t->pcs, .npcs = t->npcs,
		.cpu_ns = t->cpu_ns - base, .sampled = sampled,
		.ts_ns = sampled ? t->pcs_ts : clock_ns(CLOCK_BOOTTIME),
	};
	t->base[s->slot] = t->cpu_ns;
	s->stats.samples++;
	s->on_sample(s->arg, &smp);
}

bool deliver_due(const struct thr *t, const struct collector_sub *s, uint64_t period_ns)
{
	uint64_t base = t->base[s->slot];
	uint64_t since = t->cpu_ns > base ? t->cpu_ns - base : 0;
	return since + period_ns / 2 >= (uint64_t)(1000000000LL / s->hz);
}

static const uint64_t not_sampled_pc[1] = { SAMPLER_PC_NOT_SAMPLED };

void deliver_tick(struct thr *t, struct collector_sub *s)
{
	struct collector_sample smp = {
		.tid = t->tid, .thread_name = t->comm, .pcs = t->pcs, .npcs = t->npcs,
		.sampled = true, .tick = true,
		.ts_ns = t->pcs_ts,
	};
	t->ticks[s->slot]++;
	s->stats.samples++;
	s->on_sample(s->arg, &smp);
}

void deliver_settle(struct thr *t, struct collector_sub *s, bool scaled)
{
	if (!scaled) {
		deliver_cpu(t, s, false);
		return;
	}
	uint64_t base = t->base[s->slot];
	uint64_t cpu = t->cpu_ns > base ? t->cpu_ns - base : 0;
	bool ticked = t->ticks[s->slot] > 0;
	t->base[s->slot] = t->cpu_ns;
	t->ticks[s->slot] = 0;
	if (!ticked && !cpu)
		return;
	struct collector_sample smp = {
		.tid = t->tid, .thread_name = t->comm, .cpu_ns = cpu, .settle = ticked,
		.ts_ns = clock_ns(CLOCK_BOOTTIME),
	};
	if (!ticked) {
		smp.pcs = not_sampled_pc;
		smp.npcs = 1;
		s->stats.threads_unsampled++;
	}
	s->on_sample(s->arg, &smp);
}

/* A CPU profile's subscriber there now (collector.c's sub_cpu). */
static bool cpu_sub(const struct collector_sub *s)
{
	return s && s->joined && !s->removed && !s->offcpu;
}

void deliver_decimate(struct collector_sub **subs, size_t n, long loop_hz, int64_t now)
{
	for (size_t i = 0; i < n; i++) {
		struct collector_sub *s = subs[i];
		if (!cpu_sub(s))
			continue;
		s->due = s->hz >= loop_hz || now >= s->next_ns;
		if (!s->due || s->hz >= loop_hz)
			continue;
		int64_t period = 1000000000LL / s->hz;
		s->next_ns = (s->next_ns ? s->next_ns : now) + period;
		if (s->next_ns <= now)
			s->next_ns = now + period; /* fell behind: no burst */
	}
}

void deliver_switch(struct collector_sub **subs, size_t n, const struct sampler_event *ev)
{
	for (size_t i = 0; i < n; i++) {
		struct collector_sub *s = subs[i];
		if (s && s->joined && !s->removed && s->switched && s->on_switch)
			s->on_switch(s->arg, ev);
	}
}
