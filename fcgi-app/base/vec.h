/* vec: the one way an array grows. An array is three fields, a pointer,
 * a count and a capacity (size_t); VEC_RESERVE makes room for `need`
 * elements, doubling from `first`, and VEC_PUSH returns a pointer to a
 * new, zeroed element at the end. Out of memory aborts (house rule 6):
 * bounds on what a request may make are the caller's, checked before. */
#ifndef PF_VEC_H
#define PF_VEC_H

#include <stddef.h>

/* Returns p resized so that *cap >= need elements of size bytes; *cap
 * doubles from first (at least need). Never returns NULL. */
void *vec_grow(void *p, size_t *cap, size_t need, size_t size, size_t first);

/* Room for need elements in arr (capacity cap, a size_t lvalue). */
#define VEC_RESERVE(arr, cap, need, first)                                     \
	((void)((need) <= (cap) ||                                              \
		((arr) = vec_grow((arr), &(cap), (need), sizeof *(arr), (first)), 1)))

/* Appends one zeroed element to arr[0..n) and returns its address. */
#define VEC_PUSH(arr, n, cap, first)                                           \
	(VEC_RESERVE(arr, cap, (n) + 1, first),                                 \
	 vec_zero_(&(arr)[(n)++], sizeof *(arr)))

void *vec_zero_(void *elem, size_t size);

/* realloc that aborts on failure, for the arrays that grow by other rules;
 * never returns NULL, even for n 0. Its symbol is vec_xrealloc: libiberty
 * (linked for cplus_demangle) defines an xrealloc of its own, and a
 * program that pulls in both fails to link. */
#define xrealloc vec_xrealloc
void *xrealloc(void *p, size_t n);

#endif
