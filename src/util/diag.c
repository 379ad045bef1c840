#include "util/diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/xalloc.h"

void mr_diag_add(struct mr_diags *d, enum mr_severity sev, struct mr_loc loc, const char *fmt, ...)
{
	struct mr_buf b = MR_BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	mr_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	d->v = xgrow(d->v, sizeof(*d->v), d->n + 1, &d->cap);
	d->v[d->n] = (struct mr_diag){ loc, sev, mr_buf_detach(&b), d->n };
	d->n++;
	if (sev == MR_SEV_ERROR)
		d->errors++;
}

static int cmp(const void *a, const void *b)
{
	const struct mr_diag *x = a, *y = b;
	const char *fx = x->loc.file ? x->loc.file : "";
	const char *fy = y->loc.file ? y->loc.file : "";
	int c = strcmp(fx, fy);
	if (c)
		return c;
	if (x->loc.line != y->loc.line)
		return x->loc.line < y->loc.line ? -1 : 1;
	if (x->loc.col != y->loc.col)
		return x->loc.col < y->loc.col ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

void mr_diags_sort(struct mr_diags *d)
{
	if (d->n > 1)
		qsort(d->v, d->n, sizeof(*d->v), cmp);
}

void mr_loc_format(struct mr_loc loc, struct mr_buf *out)
{
	if (!loc.file) {
		mr_buf_adds(out, "mailrecon");
		return;
	}
	mr_buf_adds(out, loc.file);
	if (loc.line) {
		mr_buf_addf(out, ":%u", loc.line);
		if (loc.col)
			mr_buf_addf(out, ":%u", loc.col);
	}
}

static const char *sevname[] = { "error", "warning", "note" };

void mr_diags_render(const struct mr_diags *d, struct mr_buf *out)
{
	struct mr_buf at = MR_BUF_INIT;
	for (size_t i = 0; i < d->n; i++) {
		/* names and values in messages come from files: never raw bytes to a terminal */
		mr_buf_reset(&at);
		mr_loc_format(d->v[i].loc, &at);
		mr_buf_add_printable(out, at.ptr, at.len, 0);
		mr_buf_addf(out, ": %s: ", sevname[d->v[i].sev]);
		mr_buf_adds_printable(out, d->v[i].msg);
		mr_buf_addc(out, '\n');
	}
	mr_buf_release(&at);
}

void mr_diags_print(struct mr_diags *d, FILE *f)
{
	struct mr_buf b = MR_BUF_INIT;
	mr_diags_sort(d);
	mr_diags_render(d, &b);
	if (b.len)
		fwrite(b.ptr, 1, b.len, f);
	mr_buf_release(&b);
}

void mr_diags_release(struct mr_diags *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].msg);
	free(d->v);
	d->v = NULL;
	d->n = d->cap = d->errors = 0;
}
