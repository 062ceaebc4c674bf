# pg_rollout — PGXS build
EXTENSION   = pg_rollout
EXTVERSION  = $(shell sed -n "s/^default_version *= *'\(.*\)'/\1/p" pg_rollout.control)

MODULE_big  = pg_rollout
OBJS        = src/pg_rollout.o src/audit.o src/semver.o src/tree.o src/bucket.o src/resolve.o src/plan.o src/isolation.o src/citus.o src/governance.o src/select.o src/events.o src/metrics.o

# The install script of the current version is assembled from the pieces in
# src/sql/ (one folder per area, files in name order).  Released install
# scripts stay frozen in released/; upgrade scripts live in updates/.
SQL_PIECES  = $(sort $(wildcard src/sql/*.sql src/sql/*/*.sql))
UPDATES     = $(notdir $(wildcard updates/pg_rollout--*--*.sql))
DATA_built  = pg_rollout--$(EXTVERSION).sql $(UPDATES)
DATA        = $(wildcard released/pg_rollout--*.sql)
EXTRA_CLEAN = $(DATA_built) results/ regression.diffs regression.out output_iso/ tmp_check/ tmp_check_iso/

PG_CPPFLAGS = -std=gnu11 -Wall -Wextra -Werror -Wno-unused-parameter \
              -Wno-missing-field-initializers -Wno-sign-compare -Iinclude
SHLIB_LINK  = -ljansson -lcrypto

# pg_regress: sql/*.sql against expected/*.out, on a throwaway instance that
# preloads the library (test/pg_rollout.conf).
REGRESS      = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-config=test/pg_rollout.conf --temp-instance=./tmp_check \
               --load-extension=pg_rollout

# Isolation specs: test/specs/*.spec against test/expected/*.out.
ISOLATION      = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --temp-config=test/pg_rollout.conf \
                 --temp-instance=./tmp_check_iso --load-extension=pg_rollout

# TAP tests (PostgreSQL::Test::Cluster): test/t/*.pl
TAP_TESTS   = 1
PROVE_TESTS = test/t/*.pl

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Limits and names come from include/pgr_limits.h: each "@PGR_<NAME>@" in a
# piece becomes the value defined there.
PGR_LIMITS  = include/pgr_limits.h
LIMITS_SED  = $(shell sed -n 's/^\#define \(PGR_[A-Z_]*\)[[:space:]][[:space:]]*\([0-9][0-9]*\)[[:space:]]*$$/-e s,@\1@,\2,g/p' $(PGR_LIMITS))

pg_rollout--$(EXTVERSION).sql: $(SQL_PIECES) $(PGR_LIMITS) pg_rollout.control Makefile
	cat $(SQL_PIECES) | sed $(LIMITS_SED) > $@.tmp
	@if grep -n '@PGR_[A-Z_]*@' $@.tmp; then echo "unknown @PGR_...@ placeholder (see $(PGR_LIMITS))" >&2; rm -f $@.tmp; exit 1; fi
	mv $@.tmp $@

# Upgrade scripts: "--@function rollout.x" lines expanded from the pieces
# (tools/build_update.pl), then the same substitution.
$(UPDATES): pg_rollout--%.sql: updates/pg_rollout--%.sql $(SQL_PIECES) $(PGR_LIMITS) tools/build_update.pl Makefile
	perl tools/build_update.pl $< $(SQL_PIECES) > $@.expanded
	sed $(LIMITS_SED) $@.expanded > $@.tmp && rm -f $@.expanded
	@if grep -n '@PGR_[A-Z_]*@' $@.tmp; then echo "unknown @PGR_...@ placeholder (see $(PGR_LIMITS))" >&2; rm -f $@.tmp; exit 1; fi
	mv $@.tmp $@

# pgTAP suite (pg_prove) against the server in PGHOST/PGPORT; tools/test.sh
# starts a throwaway cluster for it.
.PHONY: pgtap
pgtap:
	pg_prove --ext .sql -v test/pgtap/
