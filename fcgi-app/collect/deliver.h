/* deliver: a thread's stacks and CPU time to one CPU subscriber, from
 * the collector thread. What s was given of t is t->base[s->slot] (CPU
 * time) and t->ticks[s->slot] (ticks not yet settled). */
#ifndef PF_DELIVER_H
#define PF_DELIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct collector_sub;
struct sampler_event;
struct thr;

/* t's stack now (sampled) or its last one, with the CPU time t used since
 * s was last given it. */
void deliver_cpu(struct thr *t, struct collector_sub *s, bool sampled);
/* Whether a sample of t from a sampler without ticks (perf_event, one
 * sample per period_ns of t's CPU) is s's: its own period of t's CPU time
 * has passed since the last it took (half a sample's period early, so a
 * 100 Hz subscriber of 1,000 Hz samples takes every tenth). */
bool deliver_due(const struct thr *t, const struct collector_sub *s, uint64_t period_ns);
/* A scaled sampler's sample: t's stack now, weighing one tick; its CPU
 * time comes when t is settled. */
void deliver_tick(struct thr *t, struct collector_sub *s);
/* Gives s the CPU time of t it was not given yet: onto t's last stack,
 * or (scaled) shared out over the ticks of t since the last settling, or
 * as one [not sampled] frame when there were none. */
void deliver_settle(struct thr *t, struct collector_sub *s, bool scaled);

/* Which CPU subscribers of subs[0..n) this tick's stacks go to (their
 * due), for a sampler with ticks (without, deliver_due). The loop ticks
 * at the fastest subscriber's rate; a slower one
 * takes the stacks of a tick only once its own period has passed, so its
 * samples are its rate's (period 1e9/hz means what it says) and the CPU
 * time of the ticks it skips goes onto its next stack of each thread. */
void deliver_decimate(struct collector_sub **subs, size_t n, long loop_hz, int64_t now);
/* A context switch to the subscribers of subs[0..n) that take them. */
void deliver_switch(struct collector_sub **subs, size_t n, const struct sampler_event *ev);

#endif
