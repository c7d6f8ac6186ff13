/* unwind: a thread's call stack from its registers, by libunwind's remote
 * DWARF CFI unwinding (frame pointers are not trusted: GCC leaves leaf
 * functions without one). The only includer of libunwind.h.
 *
 * Unwind tables are found per executable mapping from its ELF file's
 * .eh_frame_hdr (the vDSO's from the target's memory) and searched by
 * libunwind. Fast path: one address space per target with its global cache;
 * the top of the stack copied once per sample with process_vm_readv and
 * served from that copy; read-only file pages (unwind tables) cached across
 * samples until the target's maps change. Used by the collector thread only. */
#ifndef PF_UNWIND_H
#define PF_UNWIND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;
struct regs;
struct unwinder;

#define UNWIND_DEFAULT_DEPTH 128

struct unwinder *unwind_new(pid_t pid, struct err *e);
void unwind_free(struct unwinder *u);

/* Re-reads the target's maps; flushes the caches when they changed and
 * reads the unwind tables of new modules (call it outside any stop). */
int unwind_refresh(struct unwinder *u, struct err *e);

/* Unwinds thread tid (stopped, or not running, with regs as read now) into
 * pcs, leaf first; a caller's return address is stored minus one so that
 * it symbolizes to the call's line. *n is the depth found (>= 1 when the
 * IP is valid). A bad frame ends the stack; it never fails the sample. */
int unwind_stack(struct unwinder *u, pid_t tid, const struct regs *regs,
		 uint64_t *pcs, size_t max, size_t *n);

/* The same in two steps, so that a thread is held stopped only for the
 * first: unwind_capture copies the registers and the top 32 KiB of the
 * stack (while tid is stopped); unwind_captured unwinds from that copy
 * (after it was resumed). Unwind tables come from the files; what the
 * copy lacks (a frame deeper than 32 KiB, a register saved elsewhere) is
 * read live and may have changed: at worst the stack ends early. One
 * capture at a time per unwinder. */
void unwind_capture(struct unwinder *u, pid_t tid, const struct regs *regs);
int unwind_captured(struct unwinder *u, uint64_t *pcs, size_t max, size_t *n);

/* Unwinds from registers and a copy of the top of the stack that the
 * caller took (a perf_event sample's REGS_USER and STACK_USER): stack
 * holds size bytes from regs' SP, read where they are (not copied), so
 * they must stay put until this returns. Nothing of the
 * thread is read live, since it ran on after the copy: where the copy ends,
 * the stack ends. Unwind tables come from the files as for unwind_stack. */
int unwind_copy(struct unwinder *u, const struct regs *regs, const void *stack, size_t size,
		uint64_t *pcs, size_t max, size_t *n);

/* How many of pcs[0..n) in a row lie in the target's executable mappings:
 * a stack unwound from incomplete registers is cut where it leaves code. */
size_t unwind_code_prefix(struct unwinder *u, const uint64_t *pcs, size_t n);

#endif
