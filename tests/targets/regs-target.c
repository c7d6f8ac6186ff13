/* The thread lent to a load checks itself: its "lender" thread puts known
 * values in its general registers, ymm0-15, MXCSR, the x87 control word
 * and its signal mask, blocks in a raw nanosleep or futex wait (inline
 * asm, so nothing of the compiler's sits between), and after it returns
 * checks every value unchanged and that the wait lasted its full time and
 * returned what it must (the restart emulated as the kernel would; EINTR
 * when a signal was handled meanwhile, as the kernel does). Each
 * round prints "round N MODE: OK" or "...: FAIL what". The main thread
 * waits in pause(), which a load never picks, and blocks SIGUSR1, so a
 * kill -USR1 of the process reaches the lender: it counts them. With
 * --seccomp it runs under a seccomp filter (one that allows everything);
 * with --unfit its only waiting thread waits inside a function named as
 * the dynamic loader's; --idle N adds N threads waiting in pause();
 * --epoll N has no lender, only N threads in epoll_wait beside main: no
 * thread may lend itself; --exec-on-hup execs itself again on SIGHUP
 * (same pid, a new program: its libraries elsewhere); --vfork FIFO adds a
 * thread ("vforker TID") that, for each byte read from FIFO, vforks a
 * child that sleeps VFORK_NS before it exits: the thread meanwhile waits
 * in the kernel where no ptrace stop reaches it, and says "vfork N done"
 * after. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <linux/filter.h>
#include <linux/futex.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define WAIT_NS 300000000L
#define VFORK_NS 4000000000L

/* in: nr, a0..a3; out: ret, rbx rbp r12 r13 r14 r15 r8 r9 rdx(nanosleep only) r10(nanosleep
 * only) rsi rdi; ymm in and out */
struct lend {
	uint64_t nr, a0, a1, a2, a3;
	uint64_t ret;
	uint64_t out[11];
	unsigned char ymm_in[16][32], ymm_out[16][32];
};

#define PAT(n) "mov $0x" n n n n n n n n n n n n n n n n ", "
__asm__(
	".text\n.globl lend\n.type lend,@function\nlend:\n"
	"push %rbx\n push %rbp\n push %r12\n push %r13\n push %r14\n push %r15\n"
	"push %rdi\n"
	"lea 136(%rdi), %rax\n"
	"vmovdqu 0(%rax), %ymm0\n vmovdqu 32(%rax), %ymm1\n vmovdqu 64(%rax), %ymm2\n vmovdqu 96(%rax), %ymm3\n"
	"vmovdqu 128(%rax), %ymm4\n vmovdqu 160(%rax), %ymm5\n vmovdqu 192(%rax), %ymm6\n vmovdqu 224(%rax), %ymm7\n"
	"vmovdqu 256(%rax), %ymm8\n vmovdqu 288(%rax), %ymm9\n vmovdqu 320(%rax), %ymm10\n vmovdqu 352(%rax), %ymm11\n"
	"vmovdqu 384(%rax), %ymm12\n vmovdqu 416(%rax), %ymm13\n vmovdqu 448(%rax), %ymm14\n vmovdqu 480(%rax), %ymm15\n"
	PAT("1") "%rbx\n" PAT("2") "%rbp\n" PAT("3") "%r12\n" PAT("4") "%r13\n"
	PAT("5") "%r14\n" PAT("6") "%r15\n" PAT("7") "%r8\n"
	"mov 24(%rdi), %rdx\n mov 32(%rdi), %r10\n"
	"mov 16(%rdi), %rsi\n mov (%rdi), %rax\n mov 8(%rdi), %rdi\n"
	"mov $0x9999999999999999, %r9\n"
	"syscall\n"
	"xchg %rdi, (%rsp)\n"
	"mov %rax, 40(%rdi)\n mov %rbx, 48(%rdi)\n mov %rbp, 56(%rdi)\n mov %r12, 64(%rdi)\n"
	"mov %r13, 72(%rdi)\n mov %r14, 80(%rdi)\n mov %r15, 88(%rdi)\n mov %r8, 96(%rdi)\n"
	"mov %r9, 104(%rdi)\n mov %rdx, 112(%rdi)\n mov %r10, 120(%rdi)\n mov %rsi, 128(%rdi)\n"
	"lea 648(%rdi), %rax\n"
	"vmovdqu %ymm0, 0(%rax)\n vmovdqu %ymm1, 32(%rax)\n vmovdqu %ymm2, 64(%rax)\n vmovdqu %ymm3, 96(%rax)\n"
	"vmovdqu %ymm4, 128(%rax)\n vmovdqu %ymm5, 160(%rax)\n vmovdqu %ymm6, 192(%rax)\n vmovdqu %ymm7, 224(%rax)\n"
	"vmovdqu %ymm8, 256(%rax)\n vmovdqu %ymm9, 288(%rax)\n vmovdqu %ymm10, 320(%rax)\n vmovdqu %ymm11, 352(%rax)\n"
	"vmovdqu %ymm12, 384(%rax)\n vmovdqu %ymm13, 416(%rax)\n vmovdqu %ymm14, 448(%rax)\n vmovdqu %ymm15, 480(%rax)\n"
	"vzeroupper\n"
	"pop %rax\n"                       /* the syscall's rdi after it */
	"pop %r15\n pop %r14\n pop %r13\n pop %r12\n pop %rbp\n pop %rbx\n"
	"ret\n"
	".size lend, .-lend\n");
void lend(struct lend *l);

static volatile sig_atomic_t usr1;
static void on_usr1(int sig) { (void)sig; usr1++; }

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void *lender(void *arg)
{
	(void)arg;
	printf("lender %d\n", gettid());
	fflush(stdout);
	sigset_t mine, got;
	sigemptyset(&mine);
	sigaddset(&mine, SIGUSR2);
	sigaddset(&mine, SIGWINCH);
	sigaddset(&mine, SIGHUP); /* --exec-on-hup's, for main */
	pthread_sigmask(SIG_SETMASK, &mine, NULL);
	static int word; /* never changes: the futex wait times out */
	struct timespec ts = { 0, WAIT_NS };
	for (int round = 1;; round++) {
		bool futex = round % 2 == 0;
		struct lend l = { 0 };
		if (futex) {
			l.nr = SYS_futex;
			l.a0 = (uint64_t)&word;
			l.a1 = FUTEX_WAIT_PRIVATE;
			l.a2 = 0;
			l.a3 = (uint64_t)&ts;
		} else {
			l.nr = SYS_nanosleep;
			l.a0 = (uint64_t)&ts;
			l.a1 = 0;
			l.a2 = 0x5555555555555555;
			l.a3 = 0x6666666666666666;
		}
		for (int i = 0; i < 16; i++)
			for (int j = 0; j < 32; j++)
				l.ymm_in[i][j] = (unsigned char)(round * 7 + i * 32 + j);
		uint32_t mx = 0x7f80, mx_after; /* round toward zero, all masked */
		uint16_t cw = 0x027f, cw_after;  /* double precision */
		__asm__ volatile("ldmxcsr %0\n fldcw %1" : : "m"(mx), "m"(cw));
		int signals = usr1;
		int64_t t0 = now_ns();
		lend(&l);
		int64_t took = now_ns() - t0;
		__asm__ volatile("stmxcsr %0\n fnstcw %1" : "=m"(mx_after), "=m"(cw_after));
		uint32_t mx_default = 0x1f80;
		uint16_t cw_default = 0x037f;
		__asm__ volatile("ldmxcsr %0\n fldcw %1" : : "m"(mx_default), "m"(cw_default));
		pthread_sigmask(SIG_SETMASK, NULL, &got);
		const uint64_t want[11] = { 0x1111111111111111, 0x2222222222222222, 0x3333333333333333,
					    0x4444444444444444, 0x5555555555555555, 0x6666666666666666,
					    0x7777777777777777, 0x9999999999999999,
					    futex ? 0 : 0x5555555555555555,
					    futex ? (uint64_t)&ts : 0x6666666666666666,
					    futex ? FUTEX_WAIT_PRIVATE : 0 };
		char why[128] = "";
		long ret = (long)l.ret;
		for (int i = 0; i < 11 && !why[0]; i++)
			if (l.out[i] != want[i])
				snprintf(why, sizeof why, "register %d is %#llx, was %#llx", i,
					 (unsigned long long)l.out[i], (unsigned long long)want[i]);
		if (!why[0] && memcmp(l.ymm_in, l.ymm_out, sizeof l.ymm_in) != 0)
			snprintf(why, sizeof why, "a ymm register changed");
		if (!why[0] && mx_after != mx)
			snprintf(why, sizeof why, "MXCSR %#x, was %#x", mx_after, mx);
		if (!why[0] && cw_after != cw)
			snprintf(why, sizeof why, "x87 control word %#x, was %#x", cw_after, cw);
		if (!why[0] && memcmp(&got, &mine, 8) != 0)
			snprintf(why, sizeof why, "the signal mask changed");
		/* a handled signal ends a timed wait with EINTR, as the kernel does */
		bool interrupted = usr1 != signals && ret == -EINTR;
		if (!why[0] && !interrupted && ret != (futex ? -ETIMEDOUT : 0))
			snprintf(why, sizeof why, "the wait returned %ld", ret);
		if (!why[0] && !interrupted && took < WAIT_NS)
			snprintf(why, sizeof why, "the wait lasted %lld ns of %ld", (long long)took, WAIT_NS);
		printf("round %d %s: %s%s signals=%d\n", round, futex ? "futex" : "nanosleep",
		       why[0] ? "FAIL " : "OK", why, (int)usr1);
		fflush(stdout);
	}
	return NULL;
}

/* --unfit: the only thread that waits in nanosleep does it from a
 * function named as the dynamic loader's are, which a load must refuse */
__attribute__((noinline)) static void *_dl_stand_in(void *arg)
{
	for (;;) {
		struct timespec ts = { 1, 0 };
		nanosleep(&ts, NULL);
		__asm__ volatile("" ::: "memory"); /* no tail call: the frame stays */
	}
	return arg;
}

static void *idler(void *arg)
{
	for (;;)
		pause();
	return arg;
}

static void *vforker(void *arg)
{
	const char *fifo = arg;
	printf("vforker %d\n", gettid());
	fflush(stdout);
	for (int n = 1;; n++) {
		char c;
		int fd = open(fifo, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || read(fd, &c, 1) != 1)
			exit(1);
		close(fd);
		/* the child borrows this stack: raw syscalls only */
		if (vfork() == 0) {
			struct timespec ts = { VFORK_NS / 1000000000L, VFORK_NS % 1000000000L };
			syscall(SYS_nanosleep, &ts, NULL);
			syscall(SYS_exit, 0);
		}
		printf("vfork %d done\n", n);
		fflush(stdout);
	}
	return NULL;
}

static char **self_argv;
static void on_hup(int sig)
{
	(void)sig;
	execv("/proc/self/exe", self_argv);
}

static void *epoller(void *arg)
{
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev;
	for (;;)
		epoll_wait(ep, &ev, 1, -1);
	return arg;
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "--seccomp") == 0) {
		struct sock_filter allow = BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
		struct sock_fprog prog = { 1, &allow };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
		    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0)
			return 1;
	}
	sigset_t usr1set;
	sigemptyset(&usr1set);
	sigaddset(&usr1set, SIGUSR1);
	signal(SIGUSR1, on_usr1);
	pthread_t t;
	bool unfit = argc > 1 && strcmp(argv[1], "--unfit") == 0;
	int epollers = argc > 2 && strcmp(argv[1], "--epoll") == 0 ? atoi(argv[2]) : 0;
	for (int i = 0; i < epollers; i++)
		if (pthread_create(&t, NULL, epoller, NULL) != 0)
			return 1;
	if (!epollers && pthread_create(&t, NULL, unfit ? _dl_stand_in : lender, NULL) != 0)
		return 1;
	if (argc > 2 && strcmp(argv[1], "--vfork") == 0 && pthread_create(&t, NULL, vforker, argv[2]) != 0)
		return 1;
	if (argc > 1 && strcmp(argv[1], "--exec-on-hup") == 0) {
		self_argv = argv;
		/* SA_NODEFER: the new program starts with SIGHUP unblocked */
		struct sigaction sa = { .sa_handler = on_hup, .sa_flags = SA_NODEFER };
		sigaction(SIGHUP, &sa, NULL);
	}
	/* --idle N (benches): N more threads, in pause(), never lent */
	int idle = argc > 2 && strcmp(argv[1], "--idle") == 0 ? atoi(argv[2]) : 0;
	for (int i = 0; i < idle; i++)
		if (pthread_create(&t, NULL, idler, NULL) != 0)
			return 1;
	pthread_sigmask(SIG_BLOCK, &usr1set, NULL);
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
