/*
 * fleet_plan: `plan --all-hosts --json` (docs/fleet.md): what a change of a fleet's desired
 * state touches on each host of server.hosts, from desired states alone (src, and base: the
 * state before the change, none: no comparison).  Prints one JSON object (schema/
 * fleet-plan.schema.json) and returns the exit code: 0, 2 with detailed when a host is
 * touched, 1 on an error (said on stderr).
 */
#ifndef MR_CLI_FLEET_PLAN_H
#define MR_CLI_FLEET_PLAN_H

#include <stdbool.h>

#include "cli/cli.h"

int mr_cli_fleet_plan(const struct mr_globals *g, const struct mr_cli_sources *src, const struct mr_cli_sources *base,
		      bool detailed);

#endif
