/* shard.c: the sampled blocks that live, in shards of their own, and
 * free's filter over them. */
#define _GNU_SOURCE
#include "shard.h"
#include "tables.h"

#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Not a pthread mutex: its unlock is a locked exchange (to learn whether
 * to wake a waiter), and the two locked instructions per lock and unlock
 * cost 1.5% of an allocation-heavy bench, on a lock that is almost never
 * contended (a shard is one thread's arena). Here the unlock is a plain
 * store and a waiter polls: briefly spinning, then yielding, then
 * sleeping, so that a holder that lost its CPU (to the waiter itself, if
 * that one runs at a real-time priority) gets it back. */
void shard_lock(int *l)
{
	for (unsigned k = 0; __atomic_exchange_n(l, 1, __ATOMIC_ACQUIRE);) {
		while (__atomic_load_n(l, __ATOMIC_RELAXED)) {
			if (k < 100) {
#if defined(__x86_64__) || defined(__i386__)
				__builtin_ia32_pause();
#elif defined(__aarch64__)
				__asm__ __volatile__("yield");
#endif
			} else if (k < 200) {
				sched_yield();
			} else {
				/* the system call, not nanosleep(): that one is a
				 * cancellation point, and before_fork waits here
				 * holding the shards before this one */
				syscall(SYS_nanosleep, &(struct timespec){ .tv_nsec = 50000 }, NULL);
			}
			k++;
		}
	}
}

/* Sets or clears slot's filter bit, with the lock of its shard held. The
 * 64 slots of a word all fall in one shard, so that lock's holders are the
 * word's only writers: a plain store (no locked instruction), which free
 * reads whole. */
static void set_bit(uint32_t slot, bool on)
{
	uint64_t *w = &Z.bits[slot / 64], m = 1ULL << (slot % 64);
	uint64_t v = __atomic_load_n(w, __ATOMIC_RELAXED);
	__atomic_store_n(w, on ? v | m : v & ~m, __ATOMIC_RELAXED);
}

/* A saturated count is never lowered, even by a tracked block whose slot
 * aliases one of the bootstrap area's. */
void shard_mark_boot(void)
{
	for (uintptr_t r = (uintptr_t)Z.boot >> REGION_SHIFT;
	     r <= ((uintptr_t)Z.boot + BOOT_SIZE - 1) >> REGION_SHIFT; r++) {
		uint32_t slot = shard_region_slot(r);
		Z.counts[slot] = 255;
		__atomic_fetch_or(&Z.bits[slot / 64], 1ULL << (slot % 64), __ATOMIC_RELAXED);
	}
}

struct pprof_agent_counts *shard_counts(uint32_t i)
{
	uint64_t *at = &pprof_agent.counts[i];
	uint64_t c = __atomic_load_n(at, __ATOMIC_ACQUIRE);
	if (c)
		return (struct pprof_agent_counts *)(uintptr_t)c;
	size_t bytes = MAX_BUCKETS * sizeof(struct pprof_agent_counts);
	void *p = tables_map(bytes);
	if (!p)
		return NULL;
	if (!__atomic_compare_exchange_n(at, &c, (uint64_t)(uintptr_t)p, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE)) {
		tables_unmap(p, bytes); /* another thread was first */
		return (struct pprof_agent_counts *)(uintptr_t)c;
	}
	return p;
}

/* Adds v to a counter that only holders of one lock write: no locked
 * instruction, but a whole store for the reader. */
static inline void add_locked(uint64_t *word, uint64_t v)
{
	__atomic_store_n(word, __atomic_load_n(word, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
}

static void live_put(struct live *t, uint32_t bits, struct live e)
{
	for (uint32_t i = agent_ptr_hash(e.ptr, bits);; i = (i + 1) & ((1u << bits) - 1))
		if (t[i].ptr == 0) {
			t[i] = e;
			return;
		}
}

/* Doubles shard s's live table (or makes its first); false when the
 * budget of all shards or mmap says no. With s's lock held. */
static bool grow(struct shard *s)
{
	uint32_t bits = s->live ? s->bits + 1 : LIVE_MIN_BITS;
	size_t bytes = ((size_t)1 << bits) * sizeof(struct live);
	size_t had = __atomic_fetch_add(&A.live_bytes, bytes, __ATOMIC_RELAXED);
	struct live *t = had + bytes <= LIVE_BUDGET ? tables_map(bytes) : NULL;
	if (!t) {
		__atomic_fetch_sub(&A.live_bytes, bytes, __ATOMIC_RELAXED);
		return false;
	}
	if (s->live) {
		size_t old = ((size_t)1 << s->bits) * sizeof(struct live);
		for (uint32_t i = 0; i < (1u << s->bits); i++)
			if (s->live[i].ptr)
				live_put(t, bits, s->live[i]);
		tables_unmap(s->live, old);
		__atomic_fetch_sub(&A.live_bytes, old, __ATOMIC_RELAXED);
	}
	s->live = t;
	s->bits = bits;
	return true;
}

/* Puts e in shard s's live table, which has room, and in free's filter;
 * with the shard's lock held. */
static void remember(struct shard *s, struct live e)
{
	live_put(s->live, s->bits, e);
	uint32_t slot = shard_filter_slot(e.ptr);
	if (Z.counts[slot] < 255 && Z.counts[slot]++ == 0)
		set_bit(slot, true);
	s->used++;
}

void shard_track(struct shard *s, uint32_t shard, uintptr_t p, size_t asked, size_t size,
		 uint32_t bucket)
{
	if (!s->counts)
		s->counts = shard_counts(shard);
	struct pprof_agent_counts *c = s->counts;
	if (!c || (s->used >= (3u << s->bits) / 4 && !grow(s))) {
		tables_count_drop();
		return;
	}
	add_locked(&c[bucket].alloc_objects, 1);
	add_locked(&c[bucket].alloc_bytes, size);
	add_locked(&c[bucket].alloc_asked, asked);
	uint64_t sz = size < MAX_SIZE ? size : MAX_SIZE;
	remember(s, (struct live){ .ptr = p, .meta = sz << BUCKET_BITS | bucket });
}

/* Empties slot i of a live table by moving later entries of its probe run
 * back (linear probing without tombstones): deleted slots never pile up,
 * so a lookup of a pointer not in the table always reaches an empty slot
 * soon, however many blocks came and went. With the shard's lock held. */
static void forget(struct shard *s, uint32_t i)
{
	const uint32_t mask = (1u << s->bits) - 1;
	for (uint32_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		if (s->live[j].ptr == 0)
			break;
		/* the entry at j may fill i unless its home lies in (i, j] */
		uint32_t home = agent_ptr_hash(s->live[j].ptr, s->bits);
		if (((j - home) & mask) < ((j - i) & mask))
			continue;
		s->live[i] = s->live[j];
		i = j;
	}
	s->live[i].ptr = 0;
}

struct live shard_untrack(uintptr_t p)
{
	uint32_t shard = shard_of(p);
	struct shard *s = &A.shards[shard];
	struct live had = { 0 };
	shard_lock(&s->lock);
	const uint32_t mask = (1u << s->bits) - 1;
	for (uint32_t i = agent_ptr_hash(p, s->bits); s->live; i = (i + 1) & mask) {
		struct live *l = &s->live[i];
		if (l->ptr == 0)
			break;
		if (l->ptr != p)
			continue;
		/* a live entry was counted: s->counts is set */
		struct pprof_agent_counts *c = &s->counts[l->meta & ((1u << BUCKET_BITS) - 1)];
		add_locked(&c->free_objects, 1);
		add_locked(&c->free_bytes, l->meta >> BUCKET_BITS);
		had = *l;
		forget(s, i);
		s->used--;
		uint32_t slot = shard_filter_slot(p);
		/* a saturated count stays: only false hits */
		if (Z.counts[slot] < 255 && --Z.counts[slot] == 0)
			set_bit(slot, false);
		break;
	}
	shard_unlock(&s->lock);
	return had;
}

void shard_untrack_undo(struct live had)
{
	uint32_t shard = shard_of(had.ptr);
	struct shard *s = &A.shards[shard];
	shard_lock(&s->lock);
	struct pprof_agent_counts *c = &s->counts[had.meta & ((1u << BUCKET_BITS) - 1)];
	/* its slot was freed, but another block may have taken it since */
	if (s->used >= (3u << s->bits) / 4 && !grow(s)) {
		tables_count_drop();
	} else {
		add_locked(&c->free_objects, (uint64_t)-1);
		add_locked(&c->free_bytes, -(had.meta >> BUCKET_BITS));
		remember(s, had);
	}
	shard_unlock(&s->lock);
}
