/* sampler: stats arithmetic, and the comment policy of the ptrace
 * sampler's describe (lines only for what a user can act on); what a
 * scaled sampler's subscriber is given (deliver); the choice of sampler
 * and the perf_event sampler on a live target. */
#include "check_main.h"
#include "base/clock.h"
#include "base/err.h"
#include "collect/collector.h"
#include "collect/deliver.h"
#include "collect/perf_rec.h"
#include "collect/proc.h"
#include "collect/ptrace_pick.h"
#include "collect/sampler.h"
#include "collect/tidtab.h"
#include "collect/unwind.h"

#include <dirent.h>
#include <errno.h>
#include <linux/perf_event.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

/* The pick of the ptrace sampler's stops, from readings alone. */
START_TEST(test_ptrace_pick)
{
	/* on a CPU when asked: run-queue time unchanged */
	struct ptrace_pick on = { .cpu_read = true, .rq_asked = 500, .rq = 500, .pcount_asked = 7,
				  .pcount = 7, .came_on_ns = 9000, .left_ns = -1 };
	ck_assert_int_eq(ptrace_pick(&on), PTRACE_PICK_KEPT);
	struct ptrace_pick p = on;
	p.cpu_read = false;
	ck_assert_int_eq(ptrace_pick(&p), PTRACE_PICK_NOT_RUNNING);
	p = on;
	p.in_wait = true; /* asleep by the time the stop came */
	ck_assert_int_eq(ptrace_pick(&p), PTRACE_PICK_NOT_RUNNING);
	/* preempted by the collector's own wakeup: it left as the collector came */
	struct ptrace_pick own = on;
	own.rq = 800;
	own.pcount = 8;
	own.left_ns = 9000;
	ck_assert_int_eq(ptrace_pick(&own), PTRACE_PICK_KEPT);
	p = own;
	p.pcount = 9; /* a second turn: it ran, and waited again, before the stop */
	ck_assert_int_eq(ptrace_pick(&p), PTRACE_PICK_NOT_RUNNING);
	/* waiting already when the collector came on (left earlier), or on
	 * another CPU (not read), or the scheduler took its CPU after the
	 * wakeup, even within the tick (a wait's return): dropped */
	p = own;
	p.left_ns = 8999;
	ck_assert_int_eq(ptrace_pick(&p), PTRACE_PICK_NOT_RUNNING);
	p.left_ns = -1;
	p.seen_ns = 2000000, p.woke_ns = 1999000, p.half_tick_ns = 1000000;
	ck_assert_int_eq(ptrace_pick(&p), PTRACE_PICK_NOT_RUNNING);
	p.left_ns = 9001;
	ck_assert_int_eq(ptrace_pick(&p), PTRACE_PICK_NOT_RUNNING);
	/* a kernel that shows no exec_start: a wait that began after the
	 * wakeup, within half a tick, is taken as the wakeup's preemption */
	struct ptrace_pick old = own;
	old.came_on_ns = old.left_ns = -1;
	old.woke_ns = 1000000, old.half_tick_ns = 1000000;
	old.seen_ns = 1000000 + 300 + 50; /* its 300 ns wait began 50 ns after the wakeup */
	ck_assert_int_eq(ptrace_pick(&old), PTRACE_PICK_KEPT);
	old.seen_ns = 1000000 + 300 - 50; /* began before it */
	ck_assert_int_eq(ptrace_pick(&old), PTRACE_PICK_NOT_RUNNING);
	old.seen_ns = 1000000 + 300 + 1000001; /* began over half a tick after */
	ck_assert_int_eq(ptrace_pick(&old), PTRACE_PICK_LATE);
}
END_TEST

START_TEST(test_stats_add)
{
	struct sampler_stats a = { .ticks = 1, .stops = 2, .lost = 1, .held_ns_max = 50,
				   .latency_ns_max = 9, .waits_reused = 4, .waiting = 5 };
	struct sampler_stats b = { .ticks = 10, .stops = 20, .truncated = 3, .throttled = 2,
				   .held_ns_max = 40, .latency_ns_max = 90, .waits_unwound = 1 };
	a.held_hist[3] = 1;
	b.held_hist[3] = 2;
	b.waiting = 6;
	sampler_stats_add(&a, &b);
	ck_assert_uint_eq(a.waiting, 11);
	ck_assert_uint_eq(a.ticks, 11);
	ck_assert_uint_eq(a.stops, 22);
	ck_assert_uint_eq(a.lost, 1);
	ck_assert_uint_eq(a.truncated, 3);
	ck_assert_uint_eq(a.throttled, 2);
	ck_assert_uint_eq(a.held_ns_max, 50); /* maxima, not sums */
	ck_assert_uint_eq(a.latency_ns_max, 90);
	ck_assert_uint_eq(a.held_hist[3], 3);
	ck_assert_uint_eq(a.waits_reused, 4);
	ck_assert_uint_eq(a.waits_unwound, 1);
}
END_TEST

START_TEST(test_held_quantile)
{
	struct sampler_stats st = { 0 };
	ck_assert_double_eq(sampler_held_quantile(&st, 0.5), 0);
	st.held_hist[10] = 98; /* [10, 11) us */
	st.held_hist[500] = 2;
	ck_assert_double_eq(sampler_held_quantile(&st, 0.5), 11);
	ck_assert_double_eq(sampler_held_quantile(&st, 0.99), 501);
}
END_TEST

START_TEST(test_lines_bounded)
{
	struct sampler_lines out = { 0 };
	for (int i = 0; i < SAMPLER_LINES + 3; i++)
		sampler_line(&out, "line %d", i);
	ck_assert_uint_eq(out.n, SAMPLER_LINES);
	char last[32];
	snprintf(last, sizeof last, "line %d", SAMPLER_LINES - 1);
	ck_assert_str_eq(out.line[SAMPLER_LINES - 1], last);
	char long_text[2 * SAMPLER_LINE];
	memset(long_text, 'x', sizeof long_text - 1);
	long_text[sizeof long_text - 1] = '\0';
	struct sampler_lines one = { 0 };
	sampler_line(&one, "%s", long_text);
	ck_assert_uint_eq(strlen(one.line[0]), SAMPLER_LINE - 1);
}
END_TEST

/* All went well: no line at all (the counts are the log's). */
START_TEST(test_ptrace_describe_quiet)
{
	struct sampler_stats st = { .ticks = 1000, .stops = 2000, .held_ns_total = 1, .waits_without_stop = 9 };
	struct sampler_lines out = { 0 };
	sampler_ptrace.describe(SAMPLER_CPU, 100, &st, &out);
	ck_assert_uint_eq(out.n, 0);
	sampler_ptrace.describe(SAMPLER_WAITS, 20, &st, &out);
	ck_assert_uint_eq(out.n, 0);
}
END_TEST

/* Stops that did not happen, threads stopped to read a wait: said in
 * plain words, with the numbers. */
START_TEST(test_ptrace_describe_actionable)
{
	struct sampler_stats st = { .stops = 395, .lost = 5, .waits_unwound = 2 };
	struct sampler_lines out = { 0 };
	sampler_ptrace.describe(SAMPLER_CPU, 100, &st, &out);
	ck_assert_uint_eq(out.n, 1);
	ck_assert_msg(strstr(out.line[0], "5 of 400 threads asked to stop did not within 100 ms"),
		      "%s", out.line[0]);
	struct sampler_lines waits = { 0 };
	sampler_ptrace.describe(SAMPLER_WAITS, 20, &st, &waits);
	ck_assert_uint_eq(waits.n, 2);
	ck_assert_msg(strstr(waits.line[1], "2 threads were stopped briefly"), "%s", waits.line[1]);
}
END_TEST

/* Samples dropped as taken while a thread was not running, and threads
 * with no sample kept: said in plain words, with the numbers. */
START_TEST(test_ptrace_describe_dropped)
{
	struct sampler_stats st = { .stops = 400, .not_running = 250, .late = 10, .waiting = 40,
				    .threads_unsampled = 3 };
	struct sampler_lines out = { 0 };
	sampler_ptrace.describe(SAMPLER_CPU, 500, &st, &out);
	ck_assert_uint_eq(out.n, 2);
	ck_assert_msg(strstr(out.line[0], "300 of 440 samples were dropped as taken while the "
				     "thread was not running"), "%s", out.line[0]);
	ck_assert_msg(strstr(out.line[0], "40 of them seen waiting were not stopped at all"), "%s",
		      out.line[0]);
	ck_assert_msg(strstr(out.line[1], "3 threads used CPU but had no sample taken while they "
				     "ran: their CPU time is shown as [not sampled]"), "%s", out.line[1]);
}
END_TEST

struct given {
	int ticks, settles, others;
	uint64_t cpu_ns, tick_ns;
	uint64_t pc;
};

static void on_given(void *arg, const struct collector_sample *s)
{
	struct given *g = arg;
	if (s->tick) {
		g->ticks++;
		g->tick_ns += s->cpu_ns;
	} else if (s->settle) {
		g->settles++;
	} else {
		g->others++;
		g->pc = s->npcs ? s->pcs[0] : 0;
	}
	g->cpu_ns += s->tick ? 0 : s->cpu_ns;
}

/* A scaled sampler's subscriber gets ticks without time, then the
 * thread's CPU time since its last settling once; a thread that used CPU
 * with no tick gets one [not sampled] frame, never its last stack. */
START_TEST(test_deliver_settle)
{
	struct given g = { 0 };
	struct collector_sub s = { .hz = 500, .on_sample = on_given, .arg = &g, .slot = 3 };
	struct thr t = { .tid = 9, .cpu_ns = 1000, .npcs = 1, .pcs = { 0x401000 } };
	t.base[3] = 1000;
	t.cpu_ns = 5000;
	deliver_tick(&t, &s);
	deliver_tick(&t, &s);
	ck_assert_int_eq(g.ticks, 2);
	ck_assert_uint_eq(g.tick_ns, 0);
	deliver_settle(&t, &s, true);
	ck_assert_int_eq(g.settles, 1);
	ck_assert_uint_eq(g.cpu_ns, 4000);
	deliver_settle(&t, &s, true); /* nothing new: nothing given */
	ck_assert_int_eq(g.settles + g.others, 1);
	t.cpu_ns = 7000; /* ran, no tick kept */
	deliver_settle(&t, &s, true);
	ck_assert_int_eq(g.others, 1);
	ck_assert_uint_eq(g.pc, SAMPLER_PC_NOT_SAMPLED);
	ck_assert_uint_eq(g.cpu_ns, 6000);
	ck_assert_uint_eq(s.stats.threads_unsampled, 1);
	/* not scaled: onto the last stack, as before */
	t.cpu_ns = 8000;
	deliver_settle(&t, &s, false);
	ck_assert_int_eq(g.others, 2);
	ck_assert_uint_eq(g.pc, 0x401000);
	ck_assert_uint_eq(g.cpu_ns, 7000);
}
END_TEST

/* perf_event_open refused: auto falls back to ptrace with the reason in
 * words a user can act on; forced, it is an error; ptrace needs no probe;
 * here (root, a perf-capable kernel) auto takes perf_event. */
START_TEST(test_pick)
{
	char why[SAMPLER_LINE];
	struct err e = { 0 };
	struct collector_config cc = { .sampler = COLLECTOR_AUTO, .perf_refused = EACCES };
	ck_assert_ptr_eq(sampler_pick(&cc, getpid(), why, sizeof why, &e), &sampler_ptrace);
	ck_assert_msg(strstr(why, "perf_event_open: permission denied") &&
		      strstr(why, "kernel.perf_event_paranoid = "), "%s", why);
	cc.sampler = COLLECTOR_PERF_EVENT;
	ck_assert_ptr_null(sampler_pick(&cc, getpid(), why, sizeof why, &e));
	ck_assert_int_eq(e.kind, ERR_PERMISSION);
	cc.sampler = COLLECTOR_PTRACE;
	ck_assert_ptr_eq(sampler_pick(&cc, getpid(), why, sizeof why, &e), &sampler_ptrace);
	ck_assert_str_eq(why, "");
	cc = (struct collector_config){ .sampler = COLLECTOR_AUTO };
	ck_assert_ptr_eq(sampler_pick(&cc, getpid(), why, sizeof why, &e), &sampler_perf);
}
END_TEST

struct seen {
	struct unwinder *unw;
	uint64_t samples, with_regs, period_ns, cpu_ns, deep;
	pid_t unsampled_tid; /* the thread of the last [not sampled] frame */
};

static void seen_sample(void *arg, const struct sampler_sample *smp)
{
	struct seen *s = arg;
	s->samples++;
	s->cpu_ns += smp->period_ns;
	if (smp->pcs && smp->npcs == 1 && smp->pcs[0] == SAMPLER_PC_NOT_SAMPLED)
		s->unsampled_tid = smp->tid;
	if (smp->pcs || !smp->has_regs)
		return;
	s->with_regs++;
	s->period_ns = smp->period_ns;
	uint64_t pcs[UNWIND_DEFAULT_DEPTH];
	size_t n = 0;
	unwind_copy(s->unw, &smp->regs, smp->stack, smp->stack_size, pcs, UNWIND_DEFAULT_DEPTH, &n);
	s->deep += n >= 4; /* spin_hot/cold, worker, start_thread, clone */
}

static void seen_event(void *arg, const struct sampler_event *ev)
{
	(void)arg;
	(void)ev;
}

static size_t perf_fds(void)
{
	size_t n = 0;
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	while (d && (de = readdir(d))) {
		char path[300], link[64];
		snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
		ssize_t len = readlink(path, link, sizeof link - 1);
		link[len > 0 ? len : 0] = '\0';
		n += strstr(link, "perf_event") != NULL;
	}
	if (d)
		closedir(d);
	return n;
}

/* The perf_event sampler on two busy threads at 1000 Hz: samples with
 * registers and a stack copy that unwinds through the thread's start, a
 * period of 1 ms each; no thread traced; every descriptor closed at
 * detach. */
START_TEST(test_perf_samples)
{
	pid_t pid = check_spawn_ready("./targets/cpu-split");
	struct err e = { 0 };
	struct tidtab tt = { 0 };
	struct seen seen = { .unw = unwind_new(pid, &e) };
	ck_assert_msg(seen.unw != NULL, "%s", e.msg);
	struct sampler_host host = { .pid = pid, .threads = &tt, .unw = seen.unw,
				     .sink = { seen_sample, seen_event, NULL, &seen } };
	struct sampler *s = sampler_perf.attach(&host, &e);
	ck_assert_ptr_nonnull(s);
	sampler_perf.arm(s, 1000);
	ck_assert_msg(sampler_perf.follow(s, &e) == 0, "%s", e.msg);
	ck_assert_uint_ge(perf_fds(), 3); /* 3 threads x the CPUs */
	struct sampler_stats st = { 0 };
	/* until 100 samples came, however little CPU a loaded machine gives
	 * the target: 5 s at most */
	int64_t end = clock_ns(CLOCK_MONOTONIC) + 5000000000LL;
	for (int64_t left; seen.with_regs < 100 && (left = end - clock_ns(CLOCK_MONOTONIC)) > 0;)
		sampler_perf.drain(s, left < 10000000 ? left : 10000000, &st);
	char status[64];
	snprintf(status, sizeof status, "/proc/%d/status", (int)pid);
	FILE *f = fopen(status, "r");
	char line[256];
	bool traced = false;
	while (f && fgets(line, sizeof line, f))
		traced |= strncmp(line, "TracerPid:", 10) == 0 && strtol(line + 10, NULL, 10) != 0;
	if (f)
		fclose(f);
	sampler_perf.detach(s);
	ck_assert(!traced);
	ck_assert_uint_eq(perf_fds(), 0);
	ck_assert_uint_eq(st.lost, 0);
	ck_assert_uint_eq(seen.period_ns, 1000000);
	ck_assert_uint_ge(seen.with_regs, 100);
	ck_assert_uint_eq(seen.cpu_ns, seen.samples * 1000000);
	ck_assert_msg(seen.deep * 10 >= seen.with_regs * 9, "%llu of %llu stacks unwound 4 deep",
		      (unsigned long long)seen.deep, (unsigned long long)seen.with_regs);
	unwind_free(seen.unw);
	tidtab_forget(&tt);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
END_TEST

/* A record into a ring buffer made by hand (struct perf_event_mmap_page,
 * then the data), as the kernel writes it. */
static void put_rec(struct perf_event_mmap_page *mp, uint32_t type, const void *body, uint16_t len)
{
	unsigned char *data = (unsigned char *)mp + mp->data_offset + mp->data_head;
	struct perf_event_header h = { .type = type, .size = (uint16_t)(sizeof h + len) };
	memcpy(data, &h, sizeof h);
	memcpy(data + sizeof h, body, len);
	mp->data_head += h.size;
}

static void put_task(struct perf_event_mmap_page *mp, uint32_t type, pid_t pid, pid_t tid, pid_t by)
{
	uint32_t u[6] = { (uint32_t)pid, (uint32_t)pid, (uint32_t)tid, (uint32_t)by, 0, 0 };
	put_rec(mp, type, u, sizeof u);
}

/* pid, tid, time, period, no registers (abi 0), no stack */
static void put_sample(struct perf_event_mmap_page *mp, pid_t pid, pid_t tid, uint64_t period)
{
	uint64_t u[5] = { (uint64_t)(uint32_t)pid | (uint64_t)(uint32_t)tid << 32, 1, period, 0, 0 };
	put_rec(mp, PERF_RECORD_SAMPLE, u, sizeof u);
}

/* Threads created by a thread whose events were opened inherit them; a
 * sample is handed out once, by its period, and an exit hands out nothing.
 * What /proc counts of the process beyond all that was handed out (here:
 * all the CPU time this process used, events "opened" at its start) goes
 * out as [not sampled] on the creating thread, less the margin kept for
 * /proc's ticks and the periods under way (2 ticks + a period per CPU). */
START_TEST(test_perf_rest)
{
	struct err e = { 0 };
	struct tidtab tt = { 0 };
	struct seen seen = { 0 };
	pid_t pid = getpid(), head = pid + 1, a = pid + 2, b = pid + 3;
	struct sampler_host host = { .pid = pid, .threads = &tt,
				     .sink = { seen_sample, seen_event, NULL, &seen } };
	struct sampler *s = sampler_perf.attach(&host, &e);
	ck_assert_ptr_nonnull(s);
	size_t len = 4096 + 65536;
	struct perf_event_mmap_page *mp = mmap(NULL, len, PROT_READ | PROT_WRITE,
					       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(mp, MAP_FAILED);
	mp->data_offset = 4096;
	mp->data_size = 65536;
	s->buf[0] = (struct cpubuf){ .fd = -1, .map = (unsigned char *)mp, .len = len };
	/* the head's own event: no descriptor here */
	s->fds = malloc(sizeof *s->fds);
	s->fds[0] = -1;
	s->nfds = s->fds_cap = 1;
	s->hz = 100;
	perf_rec_task_add(s, head, 0);
	perf_rec_task_find(s, head)->nfd = 1;
	put_task(mp, PERF_RECORD_FORK, pid, a, head);
	put_task(mp, PERF_RECORD_FORK, pid, b, head);
	put_sample(mp, pid, a, 5000000);
	put_task(mp, PERF_RECORD_EXIT, pid, a, head);
	put_task(mp, PERF_RECORD_EXIT, pid, b, head);
	for (int i = 0; i < 3; i++)
		perf_rec_drain(s);
	ck_assert_ptr_null(perf_rec_task_find(s, a));
	ck_assert_ptr_null(perf_rec_task_find(s, b));
	ck_assert_uint_eq(seen.cpu_ns, 5000000);
	/* 300 ms of CPU time for /proc to count (bounded by the wall clock) */
	int64_t give_up = clock_ns(CLOCK_MONOTONIC) + 30000000000LL;
	while (proc_cpu_ns(pid) < 300000000 && clock_ns(CLOCK_MONOTONIC) < give_up)
		for (volatile int i = 0; i < 100000; i++)
			;
	long tck = sysconf(_SC_CLK_TCK);
	uint64_t margin = 2 * 1000000000ULL / (uint64_t)tck + (uint64_t)s->ncpu * 10000000;
	uint64_t before = proc_cpu_ns(pid);
	perf_rec_proc_rest(s);
	uint64_t after = proc_cpu_ns(pid);
	ck_assert_int_eq(seen.unsampled_tid, head);
	ck_assert_msg(seen.cpu_ns + margin >= before && seen.cpu_ns + margin <= after,
		      "%llu ms handed out, /proc %llu-%llu ms, margin %llu ms",
		      (unsigned long long)seen.cpu_ns / 1000000, (unsigned long long)before / 1000000,
		      (unsigned long long)after / 1000000, (unsigned long long)margin / 1000000);
	/* nothing more while /proc counts nothing more than the margin */
	uint64_t handed = seen.cpu_ns;
	s->proc_cpu_ns += 1000000000ULL;
	perf_rec_proc_rest(s);
	ck_assert_uint_eq(seen.cpu_ns, handed);
	sampler_perf.detach(s);
	tidtab_forget(&tt);
}
END_TEST

/* The perf_event sampler's comment: nothing when all went well; lost,
 * throttled and cut stacks said with their numbers. */
START_TEST(test_perf_describe)
{
	struct sampler_stats st = { .samples = 1000, .truncated = 5 };
	struct sampler_lines out = { 0 };
	sampler_perf.describe(SAMPLER_CPU, 100, &st, &out);
	ck_assert_uint_eq(out.n, 0); /* 0.5% of stacks maybe cut: not worth a line */
	st = (struct sampler_stats){ .samples = 1000, .lost = 7, .throttled = 2, .truncated = 50 };
	sampler_perf.describe(SAMPLER_CPU, 100, &st, &out);
	ck_assert_uint_eq(out.n, 3);
	ck_assert_msg(strstr(out.line[0], "7 samples were lost"), "%s", out.line[0]);
	ck_assert_msg(strstr(out.line[1], "throttled sampling 2 times"), "%s", out.line[1]);
	ck_assert_msg(strstr(out.line[2], "50 of 1000 stacks were deeper than the 32 KiB"), "%s",
		      out.line[2]);
	/* /proc's rest: said with its share when over 1% of the profile */
	st = (struct sampler_stats){ .samples = 100, .unsampled_ns = 10000000 };
	struct sampler_lines few = { 0 };
	sampler_perf.describe(SAMPLER_CPU, 100, &st, &few);
	ck_assert_uint_eq(few.n, 0); /* 10 ms of 1,010 */
	st.unsampled_ns = 4000000000ULL;
	sampler_perf.describe(SAMPLER_CPU, 100, &st, &few);
	ck_assert_uint_eq(few.n, 1);
	ck_assert_msg(strstr(few.line[0], "4000 ms (80%) of this profile is [not sampled]") &&
		      strstr(few.line[0], "less than the 10 ms sampling period"), "%s", few.line[0]);
}
END_TEST

static Suite *sampler_suite(void)
{
	Suite *s = suite_create("sampler");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_stats_add);
	tcase_add_test(tc, test_ptrace_pick);
	tcase_add_test(tc, test_held_quantile);
	tcase_add_test(tc, test_lines_bounded);
	tcase_add_test(tc, test_ptrace_describe_quiet);
	tcase_add_test(tc, test_ptrace_describe_actionable);
	tcase_add_test(tc, test_ptrace_describe_dropped);
	tcase_add_test(tc, test_deliver_settle);
	tcase_add_test(tc, test_pick);
	tcase_add_test(tc, test_perf_describe);
	tcase_add_test(tc, test_perf_rest);
	tcase_add_test(tc, test_perf_samples);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(sampler_suite)
