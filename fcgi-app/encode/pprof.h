/* pprof: encodes a profile model as the gzipped pprof protobuf that go tool
 * pprof, Parca and Pyroscope read. The only includer of profile.pb-c.h. */
#ifndef PF_PPROF_H
#define PF_PPROF_H

#include <stddef.h>

struct buf;
struct err;
struct profile;

/* Appends the gzipped encoding of p to out. */
int pprof_encode(const struct profile *p, struct buf *out, struct err *e);

/* Gzips len bytes of data onto out (zlib). */
int pprof_gzip(const void *data, size_t len, struct buf *out, struct err *e);

#endif
