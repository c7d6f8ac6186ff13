/* attach.c: the agent, loaded into a running process. */
#define _GNU_SOURCE
#include "attach.h"
#include "alloc.h"
#include "stack.h"
#include "tables.h"
#include "threads.h"
#include "unload.h"

#include <dlfcn.h>
#include <errno.h>

/* The routed dlopen: modules it loads are routed before it returns (their
 * constructors' allocations, made inside it, are not counted). glibc names
 * the caller by dlopen's return address, to search its DT_RUNPATH and
 * expand $ORIGIN: a caller whose module has paths of its own, or a name
 * with a $, gets the real dlopen by a tail call, its frame unchanged, and
 * its module is routed at the next sample (got_tick). */
static void *agent_dlopen(const char *file, int mode)
{
	void *(*real)(const char *, int) = (void *(*)(const char *, int))A.got.real[GOT_DLOPEN];
	if ((file && strchr(file, '$')) ||
	    got_caller_has_paths((uintptr_t)__builtin_return_address(0)))
		return real(file, mode);
	void *h = real(file, mode);
	int saved = errno;
	got_route(&A.got);
	errno = saved;
	return h;
}

OWN_DECL(pprof_agent_attach);

bool attach_preloaded(void)
{
	void *main = dlopen(NULL, RTLD_LAZY);
	return main && dlsym(main, "pprof_agent_attach") == (void *)agent_pprof_agent_attach;
}

/* Routes the process's allocator through the agent (got.c) and counts from
 * now on; pprof-agent.h says what it answers. Called once the loader's
 * dlopen has returned, on a thread that was waiting (not in the allocator
 * or the loader), with its signals blocked. */
EXPORT int pprof_agent_attach(int64_t rate)
{
	if (!A.late)
		return 0; /* preloaded: counting since the start */
	int done = 0;
	if (!__atomic_compare_exchange_n(&A.attached, &done, 2, false, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return done == 1 ? 0 : -1; /* once only; -1 too while another call runs */
	int rc = -1;
	void *main = dlopen(NULL, RTLD_LAZY);
	void *present = main ? dlsym(main, PPROF_AGENT_SYMBOL) : NULL;
	if (present && present != &pprof_agent) {
		rc = 0; /* a preloaded agent counts already */
		goto out;
	}
	A.got.self = (uintptr_t)&agent_dlopen;
	void *const wrap[GOT_N] = {
		[GOT_MALLOC] = agent_malloc, [GOT_FREE] = agent_free,
		[GOT_CALLOC] = agent_calloc, [GOT_REALLOC] = agent_realloc,
		[GOT_REALLOCARRAY] = agent_reallocarray,
		[GOT_POSIX_MEMALIGN] = agent_posix_memalign,
		[GOT_ALIGNED_ALLOC] = agent_aligned_alloc, [GOT_MEMALIGN] = agent_memalign,
		[GOT_VALLOC] = agent_valloc, [GOT_PVALLOC] = agent_pvalloc,
		[GOT_MALLOC_USABLE_SIZE] = agent_malloc_usable_size,
		[GOT_PTHREAD_CREATE] = agent_pthread_create, [GOT_DLOPEN] = agent_dlopen,
		[GOT_DLCLOSE] = agent_dlclose,
	};
	memcpy(A.got.wrap, wrap, sizeof wrap);
	char why[sizeof pprof_agent.message];
	int collected = got_collect(&A.got, why, sizeof why);
	if (collected > 0) {
		rc = 0; /* another copy of the agent routes the slots: no header here */
		goto out;
	}
	/* the header, for the reader to see a refusal too */
	tables_make();
	pprof_agent.origin = PPROF_AGENT_LOADED;
	if (pprof_agent.state == PPROF_AGENT_FAILED)
		goto out;
	if (rate < 0) {
		agent_fail("the rate is negative: want mean bytes between samples, 1 for all, 0 for none");
		goto out;
	}
	if (dlsym(RTLD_DEFAULT, "__asan_init")) {
		agent_fail("the target runs AddressSanitizer, whose allocator the agent cannot wrap");
		goto out;
	}
	if (collected < 0) {
		agent_fail(why);
		goto out;
	}
	stack_load();
	if (pprof_agent.state == PPROF_AGENT_FAILED)
		goto out;
	/* the functions every wrapper forwards to, before any slot points at
	 * a wrapper */
	__atomic_store_n(&A.real.malloc, A.got.real[GOT_MALLOC], __ATOMIC_RELEASE);
	__atomic_store_n(&A.real.free, A.got.real[GOT_FREE], __ATOMIC_RELEASE);
	A.real.calloc = A.got.real[GOT_CALLOC];
	A.real.realloc = A.got.real[GOT_REALLOC];
	A.real.reallocarray = A.got.real[GOT_REALLOCARRAY];
	A.real.posix_memalign = A.got.real[GOT_POSIX_MEMALIGN];
	A.real.aligned_alloc = A.got.real[GOT_ALIGNED_ALLOC];
	A.real.memalign = A.got.real[GOT_MEMALIGN];
	A.real.valloc = A.got.real[GOT_VALLOC];
	A.real.pvalloc = A.got.real[GOT_PVALLOC];
	A.real.malloc_usable_size = A.got.real[GOT_MALLOC_USABLE_SIZE];
	A.real.dlclose = A.got.real[GOT_DLCLOSE];
	A.real.pthread_create = A.got.real[GOT_PTHREAD_CREATE];
	if (!A.real.calloc || !A.real.realloc || !A.real.posix_memalign || !A.real.memalign ||
	    !A.real.pthread_create || !A.got.real[GOT_DLOPEN]) {
		agent_fail("the process lacks an allocation function the agent forwards to: not routed");
		goto out;
	}
	pprof_agent.since_ns = agent_now_ns();
	__atomic_store_n(&pprof_agent.rate, rate, __ATOMIC_RELAXED);
	if (rate == 0)
		pprof_agent.state = PPROF_AGENT_OFF;
	__atomic_store_n(&A.rate, rate, __ATOMIC_RELAXED);
	agent_atfork();
	__atomic_store_n(&A.ready, 1, __ATOMIC_RELEASE);
	got_route(&A.got);
	/* once more: another thread's first call through an unbound slot may
	 * have bound it over the agent's */
	got_route(&A.got);
	rc = 0;
out:
	__atomic_store_n(&A.attached, rc == 0 ? 1 : -1, __ATOMIC_RELEASE);
	return rc;
}
OWN(pprof_agent_attach);
