/* modfile: the file a module of the target came from, found as the
 * target sees it: through /proc/PID/map_files and /proc/PID/exe, in the
 * target's root, checked against the build-id in the target's memory. */
#ifndef PF_MODFILE_H
#define PF_MODFILE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct err;

/* The target's executable as /proc/PID/maps names it (" (deleted)" and
 * all) into exe; false when it cannot be read. */
bool modfile_exe_path(pid_t pid, char exe[PATH_MAX]);

/* The path pid's program was executed through (a symlink's own name: how
 * the user knows it) into name, when that path is its executable; false
 * otherwise (a script run by its interpreter, a path moved since). */
bool modfile_exec_name(pid_t pid, char name[PATH_MAX]);

/* The file a module was mapped from, as mapped: never a new file put at
 * its path since (an upgrade replaces binaries under running processes).
 * /proc/PID/map_files has every mapping (opening one needs CAP_SYS_ADMIN
 * or CAP_CHECKPOINT_RESTORE); /proc/PID/exe has the executable with
 * ptrace access alone. -1 when neither applies: the caller falls back to
 * the path, checked against the build-id read from memory. */
int modfile_open_mapped(pid_t pid, const char *name, uint64_t base);

/* The GNU build-id of the ELF image mapped at base in pid, from the
 * target's memory: its PT_NOTE segments. 0 and *len set when found. */
int modfile_memory_build_id(pid_t pid, uint64_t base, unsigned char *id, size_t *len,
			    uint64_t *vaddr);

/* The file a library was loaded from, opened as the target named it: in
 * its root (a container's own files), when pid is set. The name comes
 * from the target's memory, so it is not trusted: only a regular file
 * (never a FIFO or a device that could block or stream), and only one the
 * target's user may read. */
int modfile_open_as_target(pid_t pid, const char *file, struct err *e);

#endif
