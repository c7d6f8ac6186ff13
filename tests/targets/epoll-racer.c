/* Two threads that go in and out of an EINTR-prone wait all the time:
 * ~30 us of CPU, then epoll_pwait2 for 30 us on an epoll set with nothing
 * in it, over and over. A ptrace stop asked for while such a thread runs
 * can land just after it entered the wait, which the stop would end with
 * EINTR (epoll waits are never restarted by the kernel). The threads
 * count the EINTRs they see; SIGTERM prints "eintr N of CALLS" and exits.
 * Prints "ready PID" once the threads run. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

static atomic_ulong eintr, calls;
static atomic_int stop;

static long thread_cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static __attribute__((noinline)) void spin(long ns)
{
	long end = thread_cpu_ns() + ns;
	while (thread_cpu_ns() < end)
		;
}

static void *racer(void *arg)
{
	(void)arg;
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev;
	const struct timespec wait = { 0, 30000 };
	while (!atomic_load(&stop)) {
		spin(30000);
		atomic_fetch_add(&calls, 1);
		if (epoll_pwait2(ep, &ev, 1, &wait, NULL) < 0 && errno == EINTR)
			atomic_fetch_add(&eintr, 1);
	}
	close(ep);
	return NULL;
}

static void on_term(int sig)
{
	(void)sig;
	atomic_store(&stop, 1);
}

int main(void)
{
	/* SIGTERM is the main thread's alone: it would end a racer's wait
	 * with an EINTR of its own */
	sigset_t term;
	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &term, NULL);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, racer, NULL);
	signal(SIGTERM, on_term);
	pthread_sigmask(SIG_UNBLOCK, &term, NULL);
	printf("ready %d\n", (int)getpid());
	fflush(stdout);
	while (!atomic_load(&stop))
		pause();
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("eintr %lu of %lu\n", atomic_load(&eintr), atomic_load(&calls));
	fflush(stdout);
	return 0;
}
