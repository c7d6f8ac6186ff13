/* stack.c: libunwind, loaded privately, and the rare walks. */
#define _GNU_SOURCE
#include "stack.h"

#include <dlfcn.h>
#include <stdio.h>

uint64_t stack_stamp(const struct walk *w, uint64_t n)
{
	for (uint64_t k = n; k-- > 0;)
		for (uint32_t i = 0; i < w->n; i++)
			if (w->pcs[i] >= A.unloads[k].lo && w->pcs[i] < A.unloads[k].hi)
				return k + 1;
	return 0;
}

int stack_walk_uncached(void **ips, int max)
{
	unw_context_t uc;
	unw_cursor_t c;
	int n = 0;
	if (A.unw.getcontext(&uc) < 0 || A.unw.init_local(&c, &uc) < 0)
		return 0;
	do {
		unw_word_t ip;
		if (A.unw.get_reg(&c, UNW_REG_IP, &ip) < 0 || !ip)
			break;
		ips[n++] = (void *)(uintptr_t)ip;
	} while (n < max && A.unw.step(&c) > 0);
	return n;
}

#define NAME_OF(f) NAME_OF_(f)
#define NAME_OF_(f) #f
#define UNW_SYM(h, field, name) \
	(A.unw.field = (__typeof__(A.unw.field))dlsym(h, name)) != NULL

void stack_load(void)
{
	T.busy = 1; /* dlopen allocates: no samples without an unwinder */
	void *h = dlopen(UNWIND_SONAME, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		char why[sizeof pprof_agent.message];
		const char *e = dlerror();
		snprintf(why, sizeof why, "cannot load %s: %s", UNWIND_SONAME, e ? e : "?");
		agent_fail(why);
	} else if (!(UNW_SYM(h, backtrace, "unw_backtrace") &&
		     UNW_SYM(h, getcontext, NAME_OF(unw_tdep_getcontext)) &&
		     UNW_SYM(h, init_local, NAME_OF(unw_init_local)) &&
		     UNW_SYM(h, step, NAME_OF(unw_step)) &&
		     UNW_SYM(h, get_reg, NAME_OF(unw_get_reg)))) {
		agent_fail(UNWIND_SONAME " lacks a function of its local unwinding API");
	} else {
		__atomic_store_n(&A.unw.ok, 1, __ATOMIC_RELEASE);
	}
	T.busy = 0;
}
