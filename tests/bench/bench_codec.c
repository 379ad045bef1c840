/*
 * bench_codec CODEC FILE: read one live file and parse it with one codec (src/codec/), the
 * first step of every command, and exit.  Run under /usr/bin/time -v by mem.sh, it gives
 * the peak memory of parsing alone, without the live model built on top.  Prints the
 * line counts; exits 1 when the file cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>

#include "codec/codec.h"
#include "codec/live.h"
#include "util/fs.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fputs("usage: bench_codec CODEC FILE\n", stderr);
		return 64;
	}
	const struct mr_codec *c = mr_codec_by_name(argv[1]);
	if (!c) {
		fprintf(stderr, "bench_codec: no codec '%s'\n", argv[1]);
		return 64;
	}
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	if (mr_read_file(argv[2], MR_LIVE_MAX_FILE, &data, &err) < 0) {
		fprintf(stderr, "bench_codec: %s\n", err.ptr);
		return 1;
	}
	struct mr_codec_file f;
	struct mr_diags findings = MR_DIAGS_INIT;
	mr_codec_file_init(&f, c, argv[2]);
	size_t len = data.len;
	mr_codec_parse_owned(&f, mr_buf_detach(&data), len, &findings);
	size_t records = 0;
	for (size_t i = 0; i < f.nlines; i++)
		records += f.lines[i].kind == MR_LINE_RECORD;
	printf("%zu bytes, %zu lines, %zu records, %zu bad, %zu findings\n", len, f.nlines, records, f.nbad, findings.n);
	mr_codec_file_release(&f);
	mr_diags_release(&findings);
	mr_buf_release(&err);
	return 0;
}
