/* symbolize_dwarf: one location's names, files and lines from its module's
 * DWARF (libdw), inlined frames outermost last, and C++/Rust demangling
 * (libiberty). Apart from symbolize.c, which keeps the symbolizer's state
 * (modules, maps, caches), because this part is the reading of one
 * address's debug information and needs none of it. Internal to
 * profile/symbolize*.c. */
#ifndef PF_SYMBOLIZE_DWARF_H
#define PF_SYMBOLIZE_DWARF_H

#include <stdint.h>

struct Dwfl_Module; /* libdwfl's, whose header only symbolize*.c include */
struct profile_location;

/* Fills loc with the function, file and line of addr in mod, an inlined
 * frame per line (innermost first); the symbol table's name when there is
 * no DWARF; nothing when neither names it. */
void symbolize_location(struct Dwfl_Module *mod, struct profile_location *loc, uint64_t addr);

#endif
