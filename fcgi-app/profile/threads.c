#include "profile/threads.h"

#include <stdlib.h>
#include <string.h>

void thread_dump_release(struct thread_dump *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->t[i].pcs);
	free(d->t);
	memset(d, 0, sizeof *d);
}
