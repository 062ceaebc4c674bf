/*-------------------------------------------------------------------------
 *
 * events.c
 *	  rollout._event(): record a rollout event (audit row, outbox row,
 *	  NOTIFY) in C.
 *
 * An event is an audit row (rollout._audit), a row of rollout.event_outbox
 * whose payload repeats the event for notifiers, and a NOTIFY on
 * pg_rollout_events carrying only the event's id and name (any role may
 * LISTEN; consumers read the rest from the outbox, which needs
 * rollout_viewer).  A tick advancing a stage records two events per
 * rollout; as PL/pgSQL the function's own statements and its call cost
 * about as much as the two rows it writes.  Here: the audit append of
 * src/audit.c, nextval on rollout.event_seq, one INSERT with a plan kept
 * for the session (the payload is built in it, by jsonb_build_object as
 * before), and Async_Notify.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type_d.h"
#include "commands/async.h"
#include "commands/sequence.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "tcop/utility.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"

#include "audit.h"
#include "pg_rollout.h"
#include "pgr_limits.h"

static SPIPlanPtr event_insert_plan = NULL;

PG_FUNCTION_INFO_V1(pgr_event);

/*
 * rollout._event(event text, rollout_id text, reason text, details jsonb,
 *                tenant_id text, subject_kind text, subject_id text)
 *	 RETURNS bigint (the event id)
 */
Datum
pgr_event(PG_FUNCTION_ARGS)
{
	char	   *event = pgr_text_arg(fcinfo, 0);
	char	   *rollout_id = pgr_text_arg(fcinfo, 1);
	char	   *reason = pgr_text_arg(fcinfo, 2);
	Jsonb	   *details;
	char	   *tenant_id = pgr_text_arg(fcinfo, 4);
	char	   *subject_kind = pgr_text_arg(fcinfo, 5);
	char	   *subject_id = pgr_text_arg(fcinfo, 6);
	const char *actor;
	int64		seq;
	int64		id;
	Oid			seqid;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			types[7] = {INT8OID, TEXTOID, TEXTOID, INT8OID, TEXTOID, TEXTOID, JSONBOID};
	int			pathlevel;
	int			rc;
	StringInfoData msg;

	/* coalesce(details, '{}') */
	if (PG_ARGISNULL(3))
		details = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")));
	else
		details = PG_GETARG_JSONB_P(3);

	/* the audit row first (it raises for an empty event name) */
	seq = pgr_audit_append(event, tenant_id, subject_kind,
						   subject_id != NULL ? subject_id : rollout_id, reason, details);

	seqid = get_relname_relid("event_seq", get_namespace_oid(PGR_SCHEMA, false));
	if (!OidIsValid(seqid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"rollout.event_seq\" does not exist")));
	id = nextval_internal(seqid, true);

	/* coalesce(nullif(pg_rollout.actor, ''), session_user): the GUC's variable */
	actor = pgr_actor;
	if (actor == NULL || actor[0] == '\0')
		actor = GetUserNameFromId(GetSessionUserId(), false);

	values[0] = Int64GetDatum(id);
	values[1] = CStringGetTextDatum(event);
	if (rollout_id != NULL)
		values[2] = CStringGetTextDatum(rollout_id);
	else
		nulls[2] = 'n';
	values[3] = Int64GetDatum(seq);
	values[4] = CStringGetTextDatum(actor);
	if (reason != NULL)
		values[5] = CStringGetTextDatum(reason);
	else
		nulls[5] = 'n';
	values[6] = JsonbPGetDatum(details);

	pathlevel = pgr_pin_search_path();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	(void) pgr_kept_plan(&event_insert_plan,
						 "INSERT INTO rollout.event_outbox (event_id, event, rollout_id, audit_seq, payload) "
						 "VALUES ($1, $2, $3, $4, "
						 "        pg_catalog.jsonb_build_object('event_id', $1, 'event', $2, 'rollout_id', $3, "
						 "                                      'at', pg_catalog.now(), 'actor', $5, "
						 "                                      'reason', $6, 'audit_seq', $4) "
						 "        OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('details', $7))",
						 7, types);
	rc = SPI_execute_plan(event_insert_plan, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(rc));
	SPI_finish();
	pgr_unpin_search_path(pathlevel);

	/*
	 * The notification: jsonb_build_object('event_id', id, 'event',
	 * event)::text, as jsonb prints it (shorter keys first).
	 */
	initStringInfo(&msg);
	appendStringInfoString(&msg, "{\"event\": ");
	escape_json(&msg, event);
	appendStringInfo(&msg, ", \"event_id\": " INT64_FORMAT "}", id);
	PreventCommandDuringRecovery("NOTIFY");
	Async_Notify("pg_rollout_events", msg.data);

	PG_RETURN_INT64(id);
}
