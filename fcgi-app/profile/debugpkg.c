#include "profile/debugpkg.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool debugpkg_is_glibc(const char *file)
{
	static const char *const names[] = { "libc.so", "libc-2.", "ld-linux", "libm.so",
					     "libpthread.so", "libdl.so", "librt.so",
					     "libresolv.so" };
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		if (strncmp(base, names[i], strlen(names[i])) == 0)
			return true;
	return false;
}

bool debugpkg_name(const char *owner, const char *file, char *out, size_t size)
{
	out[0] = '\0';
	size_t n = owner ? strcspn(owner, ":") : 0;
	if (debugpkg_is_glibc(file) || (n == 5 && strncmp(owner, "libc6", 5) == 0))
		snprintf(out, size, "libc6-dbg");
	else if (n)
		snprintf(out, size, "%.*s-dbgsym", (int)n, owner);
	return out[0] != '\0';
}

/* Whether list (one path a line) has a line equal to one of names. */
static bool list_has(FILE *list, const char *const names[2])
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	bool found = false;
	while (!found && (len = getline(&line, &cap, list)) > 0) {
		if (line[len - 1] == '\n')
			line[len - 1] = '\0';
		found = strcmp(line, names[0]) == 0 || (names[1] && strcmp(line, names[1]) == 0);
	}
	free(line);
	return found;
}

int debugpkg_owner(const char *infodir, const char *path, char *pkg, size_t size)
{
	DIR *d = opendir(infodir);
	if (!d)
		return -1;
	/* a merged /usr: dpkg lists /lib/x, the process maps /usr/lib/x */
	char other[4096] = "";
	if (strncmp(path, "/usr/", 5) == 0)
		snprintf(other, sizeof other, "%s", path + 4);
	else
		snprintf(other, sizeof other, "/usr%s", path);
	const char *const names[2] = { path, other };
	int found = 0;
	struct dirent *de;
	while (!found && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (n <= 5 || strcmp(de->d_name + n - 5, ".list") != 0)
			continue;
		char file[4096];
		snprintf(file, sizeof file, "%s/%s", infodir, de->d_name);
		FILE *list = fopen(file, "re");
		if (!list)
			continue;
		if (list_has(list, names)) {
			snprintf(pkg, size, "%.*s", (int)(n - 5), de->d_name);
			found = 1;
		}
		fclose(list);
	}
	closedir(d);
	return found;
}
