/* A stand-in for the heap agent in the load tests: its
 * pprof_agent_attach records each call, with what it sees of the thread
 * lent to it (every signal blocked, the stack aligned as the ABI wants),
 * as a line appended to $LOAD_PROBE_OUT; with $LOAD_PROBE_BLOCK (a fifo)
 * it says "blocking" and waits for a byte from it, so that a test can act
 * while the call runs. */
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int pprof_agent_attach(int64_t rate);

static int calls;

static void say(const char *line)
{
	const char *out = getenv("LOAD_PROBE_OUT");
	int fd = out ? open(out, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644) : 2;
	if (fd < 0)
		return;
	(void)!write(fd, line, strlen(line));
	if (fd != 2)
		close(fd);
}

__attribute__((visibility("default"), noinline)) int pprof_agent_attach(int64_t rate)
{
	sigset_t cur;
	sigprocmask(SIG_BLOCK, NULL, &cur);
	int blocked = sigismember(&cur, SIGUSR1) && sigismember(&cur, SIGTERM) &&
		      sigismember(&cur, SIGINT) && sigismember(&cur, SIGRTMIN);
	/* with frame pointers, the frame address is 16-aligned when the
	 * caller's stack was at the call */
	int aligned = ((uintptr_t)__builtin_frame_address(0) & 15) == 0;
	char line[256];
	snprintf(line, sizeof line, "attach rate=%lld calls=%d sigblocked=%d aligned=%d tid=%d\n",
		 (long long)rate, ++calls, blocked, aligned, gettid());
	say(line);
	const char *fifo = getenv("LOAD_PROBE_BLOCK");
	if (fifo) {
		say("blocking\n");
		int fd = open(fifo, O_RDONLY | O_CLOEXEC);
		char c;
		if (fd >= 0) {
			(void)!read(fd, &c, 1);
			close(fd);
		}
		say("unblocked\n");
	}
	return 0;
}
