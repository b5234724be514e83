/* SPDX-License-Identifier: MIT */
/*
 * buf.h - struct mr_buf, the one growable byte buffer.
 *
 * Invariants: `p` is never NULL after MR_BUF_INIT (it points at a shared empty
 * string until the first append); the bytes are always NUL-terminated; `len`
 * never exceeds `max`. An append that would pass `max` changes nothing and
 * returns MR_ETOOBIG, which is how "bounded everything" is enforced for bodies,
 * headers and log lines. buf.c calls nothing else in msgrelay but mem.h.
 */
#ifndef MR_COMMON_BUF_H
#define MR_COMMON_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct mr_buf {
    char *p;    /* the bytes, NUL-terminated; never NULL */
    size_t len; /* bytes used, without the NUL */
    size_t cap; /* bytes allocated (0 while p is the shared empty string) */
    size_t max; /* hard limit on len */
};

extern char mr_buf_empty[];

/* A buffer that may grow to @max bytes. */
#define MR_BUF_INIT(max)                                                                           \
    {                                                                                              \
        mr_buf_empty, 0, 0, (max)                                                                  \
    }

/* A practically unbounded buffer, for text we build ourselves. */
#define MR_BUF_UNBOUNDED ((size_t)1 << 40)

/* mr_buf_init - same as MR_BUF_INIT, for buffers inside allocated structs. */
void mr_buf_init(struct mr_buf *b, size_t max);

/* mr_buf_add - append @n bytes. 0 or MR_ETOOBIG (nothing appended). */
int mr_buf_add(struct mr_buf *b, const void *data, size_t n);

/* mr_buf_adds - append a NUL-terminated string. */
int mr_buf_adds(struct mr_buf *b, const char *s);

/* mr_buf_addc - append one byte. */
int mr_buf_addc(struct mr_buf *b, char c);

/* mr_buf_addf - append printf-style. 0 or MR_ETOOBIG (nothing appended). */
int mr_buf_addf(struct mr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* mr_buf_vaddf - va_list form of mr_buf_addf. */
int mr_buf_vaddf(struct mr_buf *b, const char *fmt, va_list ap);

/* mr_buf_reset - empty the buffer but keep its memory for the next use. */
void mr_buf_reset(struct mr_buf *b);

/*
 * mr_buf_detach - hand the bytes to the caller (owned result: free()) and leave
 * the buffer empty. Never returns NULL. @len may be NULL.
 */
char *mr_buf_detach(struct mr_buf *b, size_t *len);

/* mr_buf_release - free the memory; the buffer is empty and usable again. */
void mr_buf_release(struct mr_buf *b);

/* A read-only slice of bytes owned elsewhere. */
struct mr_slice {
    const char *p;
    size_t len;
};

/*
 * mr_buf_add_jstr - append @s (@n bytes) as a quoted JSON string, escaping quotes,
 * backslashes and control characters. Bytes >= 0x80 are copied as they are.
 */
int mr_buf_add_jstr(struct mr_buf *b, const char *s, size_t n);

/*
 * mr_utf8_len - the length (1 to 4) of the valid UTF-8 sequence that starts
 * at @s, which has @n > 0 bytes left; 0 when none starts there (a stray
 * continuation byte, an overlong form, a surrogate, past U+10FFFF, or cut
 * short by @n).
 */
size_t mr_utf8_len(const unsigned char *s, size_t n);

#endif
