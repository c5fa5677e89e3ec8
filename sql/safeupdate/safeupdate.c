/*
 * safeupdate: vibepass's own stand-in for pg-safeupdate, which Supabase preloads for the
 * authenticator role (supabase/postgres 7db7e1a9, migrations/db/migrations/
 * 20220118070449_enable-safeupdate-postgrest.sql and 20220224211803_fix-postgrest-supautils.sql).
 * Debian ships no pg-safeupdate, and a local database kinder than Supabase's hides defects, so
 * the local database loads this one the same way.
 *
 * The documented behaviour it restates (eradman/pg-safeupdate README and NEWS, 1.1 to 1.6):
 * once loaded, an UPDATE or DELETE with no WHERE clause is refused with SQLSTATE 21000
 * (cardinality_violation) and "UPDATE requires a WHERE clause" / "DELETE requires a WHERE
 * clause"; data-modifying WITH clauses are checked too; any WHERE clause passes, WHERE true
 * included; `SET safeupdate.enabled = 0` (superusers only) turns it off; pg_upgrade is never
 * refused. The check runs after parse analysis, so statements inside PL/pgSQL and SQL
 * functions are refused when they are planned, whatever role owns the function.
 */
#include "postgres.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "parser/analyze.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void _PG_init(void);

static bool guard_enabled = true;
static post_parse_analyze_hook_type next_hook = NULL;

/* refuse_unqualified raises the error for a modifying query (or one in its WITH) without quals. */
static void
refuse_unqualified(Query *query)
{
	ListCell *cell;

	foreach (cell, query->cteList)
	{
		CommonTableExpr *cte = lfirst_node(CommonTableExpr, cell);

		if (IsA(cte->ctequery, Query))
			refuse_unqualified((Query *) cte->ctequery);
	}
	if (query->commandType != CMD_UPDATE && query->commandType != CMD_DELETE)
		return;
	if (query->jointree != NULL && query->jointree->quals != NULL)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_CARDINALITY_VIOLATION),
			 errmsg("%s requires a WHERE clause",
					query->commandType == CMD_UPDATE ? "UPDATE" : "DELETE")));
}

static void
after_parse_analyze(ParseState *pstate, Query *query, JumbleState *jstate)
{
	if (next_hook != NULL)
		next_hook(pstate, query, jstate);
	if (guard_enabled && !IsBinaryUpgrade)
		refuse_unqualified(query);
}

void
_PG_init(void)
{
	DefineCustomBoolVariable("safeupdate.enabled",
							 "Refuses UPDATE and DELETE without a WHERE clause.",
							 NULL,
							 &guard_enabled,
							 true,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
	next_hook = post_parse_analyze_hook;
	post_parse_analyze_hook = after_parse_analyze;
}
