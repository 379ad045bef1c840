/*
 * oracle: what a plan needs from outside (struct mr_plan_oracle), for the plan and apply
 * commands: clear passwords read and verified through the cache, certificate files
 * compared, and (apply only) new hashes made with server.password_scheme.
 */
#ifndef MR_APPLY_ORACLE_H
#define MR_APPLY_ORACLE_H

#include "codec/live.h"
#include "crypto/password.h"
#include "plan/plan.h"
#include "util/arena.h"

struct mr_oracle_ctx {
	struct mr_root *root;
	const struct mr_live *lv;
	const struct mr_model *desired;
	struct mr_pwcache *cache;
	struct mr_arena hashes; /* new hashes made at apply, until the plan is released */
	size_t made;
};

/* hashing: make new hashes (apply); otherwise they are made at apply (plan). */
struct mr_plan_oracle mr_oracle(struct mr_oracle_ctx *c, bool hashing);
void mr_oracle_release(struct mr_oracle_ctx *c);

#endif
