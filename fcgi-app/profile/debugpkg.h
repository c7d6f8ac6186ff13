/* debugpkg: which Debian package would name a file's frames. The package
 * that owns the file, read from dpkg's lists (/var/lib/dpkg/info/ *.list,
 * as dpkg-query -S does), and the name of its debug symbols: libc6-dbg
 * for glibc's files, PACKAGE-dbgsym (Debian's debug archive) for the
 * others. Plain file reading: the symbolizer calls it once per module and
 * keeps the answer. */
#ifndef PF_DEBUGPKG_H
#define PF_DEBUGPKG_H

#include <stdbool.h>
#include <stddef.h>

/* The package owning path (as "redis-tools" or "libc6:amd64") into pkg,
 * looked up in infodir's *.list files, also under the other name of a
 * merged /usr (/usr/lib/x and /lib/x). 1: found; 0: no package owns it;
 * -1: infodir cannot be read (not a dpkg system). */
int debugpkg_owner(const char *infodir, const char *path, char *pkg, size_t size);

/* Whether file is one of glibc's libraries (their symbols are libc6-dbg's). */
bool debugpkg_is_glibc(const char *file);

/* The debug package for file, owned by owner (dpkg's name, ":ARCH"
 * allowed; NULL: no package owns it) into out: libc6-dbg for glibc,
 * OWNER-dbgsym otherwise. false (out empty) when there is none to name. */
bool debugpkg_name(const char *owner, const char *file, char *out, size_t size);

#endif
