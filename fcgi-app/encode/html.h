/* html: the index page. Every string put into the page is escaped here. */
#ifndef PF_HTML_H
#define PF_HTML_H

#include <stdbool.h>
#include <stddef.h>

struct buf;
struct proc_info;
struct target_spec;

/* A link that opens the browser viewer (MOUNT/ui/) on one profile. */
struct html_flame {
	const char *label; /* the link's text: "10 s", "in-use bytes" */
	const char *query; /* the profile's query string: "seconds=10" */
	const char *title; /* the viewer's title after the target: "CPU 10 s" */
};

#define HTML_FLAMES_MAX 4

struct html_row {
	const char *name;  /* profile name, also the link */
	long count;        /* shown in the Count column; -1: not known */
	const char *desc;
	struct html_flame flames[HTML_FLAMES_MAX]; /* up to the first without a label */
};

struct html_index {
	const char *path;               /* the page's own path, for the title */
	const struct proc_info *target;
	const char *cmdline;            /* arguments joined by spaces */
	const char *found_by;           /* which name of it matched target-exe, or NULL */
	int matches;                    /* processes that matched it */
	const char *notice;             /* a warning shown on top, or NULL */
	const char *agent;              /* the heap agent's state ("loaded since ..."), or NULL */
	bool agent_form;                /* a button that POSTs MOUNT/agent to load it */
	const char *const *unnamed;     /* per module without symbols: which and what
					 * would name its frames */
	size_t nunnamed;
	bool viewer;                    /* the rows' flame-graph links are shown */
	const char *viewer_note;        /* instead of them, why not, or NULL */
	const struct html_row *rows;
	size_t nrows;
};

void html_escape(struct buf *out, const char *s);
void html_index(struct buf *out, const struct html_index *page);
/* The page for a person whose browser asks while the target does not run:
 * which target, why not (reason: the error text), and what pprof-fcgi
 * waits for; it reloads itself while a restart can bring the target back. */
void html_missing(struct buf *out, const char *path, const struct target_spec *target,
		  const char *reason);

#endif
