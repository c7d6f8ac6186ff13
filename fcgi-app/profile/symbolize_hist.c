/* symbolize_hist: frames sampled in mappings the target unmapped or
 * replaced since (a library dlopened and dlclosed within the window, an
 * image exec'd over), named from the mapping history (collect/maphist.h)
 * rather than from the maps there are when the profile is symbolized. */
#include "profile/symbolize.h"

#include "base/err.h"
#include "collect/maphist.h"
#include "profile/modfile.h"
#include "profile/profile.h"
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include "profile/symbolize_int.h" /* after libdwfl.h: it uses its types */
#include <elf.h>
#include <string.h>
#include <unistd.h>

#define TAG_MASK ((1ULL << MAPHIST_SHIFT) - 1)

static uint64_t tag_base(size_t i)
{
	return MAPHIST_BIT | (uint64_t)i << MAPHIST_SHIFT;
}

/* Whether m is mapped now as it was recorded: the same file at the same
 * offset (" (deleted)": the same file, replaced or removed since). */
static bool still_mapped(const struct symbolizer *s, const struct maphist_entry *m)
{
	for (size_t i = 0; i < s->nmaps; i++) {
		const struct exec_map *x = &s->maps[i];
		if (m->start < x->start || m->start + m->len > x->end ||
		    x->offset + (m->start - x->start) != m->pgoff)
			continue;
		size_t n = strlen(m->file);
		return strncmp(x->file, m->file, n) == 0 &&
		       (x->file[n] == '\0' || strcmp(x->file + n, " (deleted)") == 0);
	}
	return false;
}

static bool mapped_now(const struct symbolizer *s, uint64_t a)
{
	for (size_t i = 0; i < s->nmaps; i++)
		if (a >= s->maps[i].start && a < s->maps[i].end)
			return true;
	return false;
}

/* The build-id of the ELF file in fd into id (up to MAPHIST_ID_MAX). */
static size_t file_build_id(int fd, unsigned char *id)
{
	Elf *elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	const void *bits;
	ssize_t n = elf ? dwelf_elf_gnu_build_id(elf, &bits) : -1;
	if (n > 0 && n <= MAPHIST_ID_MAX)
		memcpy(id, bits, (size_t)n);
	elf_end(elf);
	return n > 0 && n <= MAPHIST_ID_MAX ? (size_t)n : 0;
}

/* The load bias of m's file: the PT_LOAD its file offset maps; with the
 * file's build-id into id where m has none (a mapping there before the
 * window: the file now is taken for the file then). */
static int load_bias(pid_t pid, const struct maphist_entry *m, uint64_t *bias,
		     unsigned char *id, size_t *id_size, struct err *e)
{
	int fd = modfile_open_as_target(pid, m->file, e);
	if (fd < 0)
		return -1;
	Elf64_Ehdr eh;
	Elf64_Phdr ph[64];
	int rc = err_set(e, ERR_TARGET, "%s: no loadable segment at offset 0x%llx (replaced since?)",
			 m->file, (unsigned long long)m->pgoff);
	if (pread(fd, &eh, sizeof eh, 0) == (ssize_t)sizeof eh &&
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    eh.e_phentsize == sizeof *ph && eh.e_phnum > 0 && eh.e_phnum <= 64 &&
	    pread(fd, ph, eh.e_phnum * sizeof *ph, (off_t)eh.e_phoff) == (ssize_t)(eh.e_phnum * sizeof *ph))
		for (int i = 0; i < eh.e_phnum; i++) {
			uint64_t page = ph[i].p_align > 0x1000 ? 0x1000 : ph[i].p_align ? ph[i].p_align : 1;
			if (ph[i].p_type != PT_LOAD || (ph[i].p_offset & ~(page - 1)) != m->pgoff)
				continue;
			*bias = m->start - (ph[i].p_vaddr & ~(page - 1));
			err_clear(e);
			rc = 0;
			break;
		}
	if (rc == 0 && !*id_size)
		*id_size = file_build_id(fd, id);
	close(fd);
	return rc;
}

/* Names p's frames in gone mapping h[i] from its file, and says so. */
static void name_gone(struct symbolizer *s, struct profile *p, const struct maphist_entry *h,
		      size_t i)
{
	const struct maphist_entry *m = &h[i];
	struct symbolize_module mod = {
		.start = tag_base(i), .limit = tag_base(i) + m->len, .lo = m->start,
		.offset = m->pgoff, .file = m->file, .pid = s->pid,
		.build_id = m->build_id, .build_id_size = m->build_id_size,
	};
	struct err e = { 0 };
	unsigned char id[MAPHIST_ID_MAX];
	size_t id_size = m->build_id_size;
	memcpy(id, m->build_id, sizeof id);
	int named = -1;
	if (load_bias(s->pid, m, &mod.bias, id, &id_size, &e) == 0) {
		mod.build_id = id;
		mod.build_id_size = id_size;
		named = symbolize_unloaded(s, p, &mod, &e);
	}
	if (named < 0) {
		/* a mapping for the frames all the same: pprof shows the file */
		struct err ignored = { 0 };
		mod.build_id_size = 0;
		symbolize_unloaded(s, p, &mod, &ignored);
		profile_add_comment(p, "frames in %s, unmapped since they were sampled, have no names: "
				    "%s (keep a library's file in place while it is profiled)",
				    m->file[0] ? m->file : "an anonymous mapping", e.msg);
	} else {
		profile_add_comment(p, "frames in %s, unmapped since they were sampled, are named "
				    "from the file at its path (%s)", m->file,
				    m->build_id_size ? "the same build-id" : "mapped before the window: "
				    "taken to be the same file");
	}
}

int symbolize_profile_history(struct symbolizer *s, struct profile *p,
			      const struct maphist_entry *h, size_t nh, struct err *e)
{
	for (size_t i = 0; i < p->nlocations; i++) {
		struct profile_location *l = &p->locations[i];
		if (maphist_tagged(l->address)) {
			size_t k = (size_t)((l->address & ~MAPHIST_BIT) >> MAPHIST_SHIFT);
			if (k < nh && still_mapped(s, &h[k]))
				l->address = h[k].start + (l->address & TAG_MASK);
		} else if (!mapped_now(s, l->address)) {
			/* sampled before its mapping's record was read (another
			 * CPU's buffer): the newest mapping recorded there */
			for (size_t k = nh; k-- > 0;)
				if (l->address - h[k].start < h[k].len) {
					l->address = tag_base(k) | (l->address - h[k].start);
					break;
				}
		}
	}
	if (symbolize_profile(s, p, e) < 0)
		return -1;
	for (size_t k = 0; k < nh; k++)
		for (size_t i = 0; i < p->nlocations; i++) {
			const struct profile_location *l = &p->locations[i];
			if (l->address - tag_base(k) < h[k].len && !l->mapping) {
				name_gone(s, p, h, k);
				break;
			}
		}
	return 0;
}
