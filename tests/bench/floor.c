/*
 * floor FILE|DIR...: the YAML parse floor of the benchmarks.
 *
 * Reads every named file (and every *.yaml / *.yml file directly in a named directory, the
 * way `mailrecon -f DIR` does) with libyaml's event parser and does nothing else: no tree,
 * no copies, no model. The time of a whole `floor` process is what any YAML-reading tool
 * pays at the least for the same input, so the reports divide mailrecon's times by it
 * ("x floor"). Prints the number of events to stdout (so that the work cannot be skipped)
 * and exits 1 on a parse error, 64 on a usage error.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <yaml.h>

static unsigned long long events;

static int parse_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return -1;
	}
	yaml_parser_t p;
	yaml_parser_initialize(&p);
	yaml_parser_set_input_file(&p, f);
	int rc = 0;
	for (;;) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&p, &ev)) {
			fprintf(stderr, "%s:%zu:%zu: %s\n", path, p.problem_mark.line + 1,
				p.problem_mark.column + 1, p.problem ? p.problem : "parse error");
			rc = -1;
			break;
		}
		events++;
		int done = ev.type == YAML_STREAM_END_EVENT;
		yaml_event_delete(&ev);
		if (done)
			break;
	}
	yaml_parser_delete(&p);
	fclose(f);
	return rc;
}

static int yaml_name(const char *n)
{
	size_t l = strlen(n);
	return n[0] != '.' && ((l > 5 && strcmp(n + l - 5, ".yaml") == 0) ||
			       (l > 4 && strcmp(n + l - 4, ".yml") == 0));
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fputs("usage: floor FILE|DIR...\n", stderr);
		return 64;
	}
	int rc = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) != 0) {
			perror(argv[i]);
			return 1;
		}
		if (!S_ISDIR(st.st_mode)) {
			rc |= parse_file(argv[i]) != 0;
			continue;
		}
		DIR *d = opendir(argv[i]);
		if (!d) {
			perror(argv[i]);
			return 1;
		}
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!yaml_name(e->d_name))
				continue;
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", argv[i], e->d_name);
			rc |= parse_file(path) != 0;
		}
		closedir(d);
	}
	printf("%llu events\n", events);
	return rc;
}
