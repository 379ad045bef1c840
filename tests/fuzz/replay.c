/*
 * Replays fuzz inputs without libFuzzer: every file given, or every file below each
 * directory given, goes through LLVMFuzzerTestOneInput once.  A crash or a sanitizer
 * report fails the ctest test that runs this.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "util/buf.h"
#include "util/fs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
	static const char *const any[] = { "", NULL };
	struct mr_pathlist files = MR_PATHLIST_INIT;
	struct mr_buf data = MR_BUF_INIT, err = MR_BUF_INIT;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			if (mr_find_files(argv[i], any, &files, &err) < 0) {
				fprintf(stderr, "replay: %s\n", err.ptr);
				return 1;
			}
		} else {
			mr_pathlist_add(&files, argv[i]);
		}
	}
	size_t n = 0;
	for (size_t i = 0; i < files.n; i++) {
		mr_buf_reset(&err);
		if (mr_read_file(files.v[i], 64u << 20, &data, &err) < 0) {
			fprintf(stderr, "replay: %s\n", err.ptr);
			return 1;
		}
		LLVMFuzzerTestOneInput((const uint8_t *)data.ptr, data.len);
		n++;
	}
	printf("replayed %zu inputs\n", n);
	mr_buf_release(&data);
	mr_buf_release(&err);
	mr_pathlist_release(&files);
	return n ? 0 : 1;
}
