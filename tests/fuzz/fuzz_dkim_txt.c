/*
 * Fuzz target: the DKIM record file opendkim-genkey writes (SELECTOR.txt, DOMAIN.txt in
 * Exim's ssl/ directory) through mr_dkim_txt_parse.  A record that parses is rendered
 * again and read back: the reader must take what the writer gives.  Built as a libFuzzer
 * binary with clang, and as a replay program over tests/fuzz/corpus/dkim-txt.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/dkim_txt.h"
#include "crypto/keys.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *sel = NULL, *p = NULL;
	const char *why = NULL;
	if (mr_dkim_txt_parse((const char *)data, size, &sel, &p, &why) < 0) {
		if (!why || sel || p)
			abort();
		return 0;
	}
	if (why || !sel || !p)
		abort();
	(void)mr_pubkey_bits_b64(p);
	struct mr_buf out = MR_BUF_INIT;
	mr_dkim_txt_render(sel, "example.org", p, &out);
	char *sel2 = NULL, *p2 = NULL;
	if (mr_dkim_txt_parse(out.ptr, out.len, &sel2, &p2, &why) < 0 || strcmp(sel, sel2) != 0 ||
	    strcmp(p, p2) != 0)
		abort();
	free(sel2);
	free(p2);
	mr_buf_release(&out);
	free(sel);
	free(p);
	return 0;
}
