#include "profile/modfile.h"

#include "base/err.h"
#include "collect/proc.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool modfile_exe_path(pid_t pid, char exe[PATH_MAX])
{
	char path[64];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	ssize_t len = readlink(path, exe, PATH_MAX - 1);
	if (len <= 0)
		return false;
	exe[len] = '\0';
	return true;
}

bool modfile_exec_name(pid_t pid, char name[PATH_MAX])
{
	proc_execfn(pid, name, PATH_MAX);
	if (!name[0])
		return false;
	/* as the target sees it: in its root, or its working directory */
	char path[PATH_MAX + 32], exe[64];
	snprintf(path, sizeof path, "/proc/%d/%s%s", (int)pid, name[0] == '/' ? "root" : "cwd/",
		 name);
	snprintf(exe, sizeof exe, "/proc/%d/exe", (int)pid);
	struct stat a, b;
	return stat(path, &a) == 0 && stat(exe, &b) == 0 && a.st_dev == b.st_dev &&
	       a.st_ino == b.st_ino;
}

int modfile_open_mapped(pid_t pid, const char *name, uint64_t base)
{
	int fd = proc_open_mapped(pid, base, 0);
	if (fd >= 0)
		return fd;
	char path[64], exe[PATH_MAX];
	snprintf(path, sizeof path, "/proc/%d/exe", (int)pid);
	if (modfile_exe_path(pid, exe) && strcmp(exe, name) == 0)
		return open(path, O_RDONLY | O_CLOEXEC);
	return -1;
}

int modfile_memory_build_id(pid_t pid, uint64_t base, unsigned char *id, size_t *len,
			    uint64_t *vaddr)
{
	struct err ignored = { 0 };
	Elf64_Ehdr eh;
	if (proc_read_mem(pid, base, &eh, sizeof eh, &ignored) < 0 ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > 64)
		return -1;
	Elf64_Phdr ph[64];
	if (proc_read_mem(pid, base + eh.e_phoff, ph, eh.e_phnum * sizeof *ph, &ignored) < 0)
		return -1;
	/* the first PT_LOAD maps the file's start, where base is */
	uint64_t bias = base;
	for (int i = 0; i < eh.e_phnum; i++)
		if (ph[i].p_type == PT_LOAD) {
			bias = base - (ph[i].p_vaddr & ~(uint64_t)0xfff);
			break;
		}
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_type != PT_NOTE)
			continue;
		unsigned char notes[1024];
		size_t size = ph[i].p_filesz < sizeof notes ? ph[i].p_filesz : sizeof notes;
		if (proc_read_mem(pid, bias + ph[i].p_vaddr, notes, size, &ignored) < 0)
			continue;
		for (size_t at = 0; at + sizeof(Elf64_Nhdr) <= size;) {
			Elf64_Nhdr nh;
			memcpy(&nh, notes + at, sizeof nh);
			size_t name_at = at + sizeof nh;
			size_t desc_at = name_at + ((nh.n_namesz + 3) & ~3u);
			size_t next = desc_at + ((nh.n_descsz + 3) & ~3u);
			if (next > size || next <= at)
				break;
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 &&
			    memcmp(notes + name_at, "GNU", 4) == 0 && nh.n_descsz > 0 &&
			    nh.n_descsz <= *len) {
				memcpy(id, notes + desc_at, nh.n_descsz);
				*len = nh.n_descsz;
				*vaddr = bias + ph[i].p_vaddr + desc_at;
				return 0;
			}
			at = next;
		}
	}
	return -1;
}

int modfile_open_as_target(pid_t pid, const char *file, struct err *e)
{
	char path[PATH_MAX + 32];
	if (pid > 0)
		snprintf(path, sizeof path, "/proc/%d/root%s", (int)pid, file);
	else
		snprintf(path, sizeof path, "%s", file);
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return err_errno(e, ERR_TARGET, errno, "open %s", file);
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(e, ERR_TARGET, "%s is not a regular file", file);
	}
	if (pid > 0 && !proc_may_read(pid, st.st_uid, st.st_gid, st.st_mode)) {
		close(fd);
		return err_set(e, ERR_TARGET, "%s is not readable by the target's user (file %u:%u "
			       "mode %03o)", file, (unsigned)st.st_uid, (unsigned)st.st_gid,
			       (unsigned)(st.st_mode & 0777));
	}
	return fd;
}
