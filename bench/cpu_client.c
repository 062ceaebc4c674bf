/*
 * bench/cpu_client.c — backend CPU time per transaction, several sides
 * interleaved.  Used by bench/isolation.sh.
 *
 * Each side is a connection (a libpq conninfo string) and a script: one SQL
 * statement per line, in which :name is replaced by a random integer drawn
 * for each transaction (pgbench's \set x random(lo, hi)).  With -M simple the
 * values are written into the text (PQexec, what pgbench -M simple sends);
 * with -M prepared every statement is prepared once and executed with the
 * values as parameters, one per occurrence (PQexecPrepared, what pgbench
 * -M prepared sends).
 *
 * Every round runs -n transactions on each side, the sides in a rotating
 * order (a b c, b c a, c a b, ...), every side drawing the same values
 * (the same seed per round).  Before and after each batch the client reads
 * the backend's CPU time from /proc/<pid>/schedstat (nanoseconds on CPU,
 * exact while the backend waits for the next statement), so a batch's cost
 * is what the server process spent on it, not the time it waited for a
 * core on a shared machine.  A warm-up of -w transactions per side (default
 * -n) is not counted.
 *
 * Output, one line per side and round:
 *   round <r> side <name> tx <n> cpu_ns <backend ns> wall_ns <client wall ns>
 *
 *   cpu_client -M simple|prepared -n TX -r ROUNDS [-w WARMUP] [-s SEED]
 *              -v name=lo:hi ... NAME CONNINFO SCRIPTFILE [NAME CONNINFO SCRIPTFILE ...]
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#define MAX_SIDES	8
#define MAX_STMTS	16
#define MAX_VARS	8
#define MAX_PARAMS	8

typedef struct Var
{
	char		name[32];
	long		lo;
	long		hi;
	long		value;
} Var;

typedef struct Stmt
{
	char	   *text;			/* as written, with :name */
	char	   *prepared;		/* with $1.. */
	int			nparams;
	int			param_var[MAX_PARAMS];	/* index into vars, per $n */
} Stmt;

typedef struct Side
{
	const char *name;
	PGconn	   *conn;
	int			pid;
	Stmt		stmts[MAX_STMTS];
	int			nstmts;
} Side;

static Var	vars[MAX_VARS];
static int	nvars = 0;
static int	prepared = 0;

static void
die(const char *msg, const char *detail)
{
	fprintf(stderr, "cpu_client: %s%s%s\n", msg, detail ? ": " : "", detail ? detail : "");
	exit(1);
}

static uint64_t rng;

static uint64_t
next_rand(void)
{
	/* xorshift64* */
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ULL;
}

static long
backend_cpu_ns(int pid)
{
	char		path[64];
	FILE	   *f;
	long long	ns = -1;

	snprintf(path, sizeof(path), "/proc/%d/schedstat", pid);
	f = fopen(path, "r");
	if (f == NULL || fscanf(f, "%lld", &ns) != 1)
		die("cannot read the backend's CPU time from", path);
	fclose(f);
	return (long) ns;
}

static long
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int
find_var(const char *name, size_t len)
{
	for (int i = 0; i < nvars; i++)
		if (strlen(vars[i].name) == len && strncmp(vars[i].name, name, len) == 0)
			return i;
	return -1;
}

/* Parse :name references; build the $n text of the prepared form. */
static void
parse_stmt(Stmt *s, const char *line)
{
	size_t		n = strlen(line);
	char	   *out = malloc(n * 2 + 16);
	char	   *o = out;

	s->text = strdup(line);
	s->nparams = 0;
	for (const char *p = line; *p;)
	{
		if (*p == ':' && p[1] != ':' && (p == line || p[-1] != ':') && (isalpha((unsigned char) p[1]) || p[1] == '_'))
		{
			const char *q = p + 1;
			int			v;
			int			k;

			while (isalnum((unsigned char) *q) || *q == '_')
				q++;
			v = find_var(p + 1, q - p - 1);
			if (v < 0)
				die("unknown variable in", line);
			/* one parameter per occurrence, as pgbench: each gets its own type */
			if (s->nparams == MAX_PARAMS)
				die("too many parameters in", line);
			k = s->nparams;
			s->param_var[s->nparams++] = v;
			o += sprintf(o, "$%d", k + 1);
			p = q;
		}
		else
			*o++ = *p++;
	}
	*o = '\0';
	s->prepared = out;
}

static void
load_script(Side *side, const char *file)
{
	FILE	   *f = fopen(file, "r");
	char		line[8192];

	if (f == NULL)
		die("cannot open", file);
	while (fgets(line, sizeof(line), f))
	{
		size_t		n = strlen(line);

		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
			line[--n] = '\0';
		if (n == 0 || strncmp(line, "--", 2) == 0)
			continue;
		if (side->nstmts == MAX_STMTS)
			die("too many statements in", file);
		parse_stmt(&side->stmts[side->nstmts++], line);
	}
	fclose(f);
}

static void
check(PGresult *res, PGconn *conn, const char *what)
{
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
	{
		fprintf(stderr, "cpu_client: %s: %s", what, PQerrorMessage(conn));
		exit(1);
	}
	PQclear(res);
}

static void
run_tx(Side *side)
{
	for (int v = 0; v < nvars; v++)
		vars[v].value = vars[v].lo + (long) (next_rand() % (uint64_t) (vars[v].hi - vars[v].lo + 1));
	for (int i = 0; i < side->nstmts; i++)
	{
		Stmt	   *s = &side->stmts[i];
		char		vals[MAX_PARAMS][24];
		const char *params[MAX_PARAMS];

		for (int k = 0; k < s->nparams; k++)
		{
			snprintf(vals[k], sizeof(vals[k]), "%ld", vars[s->param_var[k]].value);
			params[k] = vals[k];
		}
		if (prepared)
		{
			char		name[16];

			snprintf(name, sizeof(name), "s%d", i);
			check(PQexecPrepared(side->conn, name, s->nparams, params, NULL, NULL, 0), side->conn, s->text);
		}
		else
		{
			char		sql[16384];
			char	   *o = sql;
			const char *p = s->prepared;

			while (*p)
			{
				if (*p == '$' && isdigit((unsigned char) p[1]))
				{
					int			k = (int) strtol(p + 1, (char **) &p, 10);

					o += sprintf(o, "%s", params[k - 1]);
				}
				else
					*o++ = *p++;
			}
			*o = '\0';
			check(PQexec(side->conn, sql), side->conn, sql);
		}
	}
}

int
main(int argc, char **argv)
{
	Side		sides[MAX_SIDES];
	int			nsides = 0;
	long		ntx = 1000;
	long		warmup = -1;
	int			rounds = 10;
	uint64_t	seed = 20261201;
	int			i = 1;

	memset(sides, 0, sizeof(sides));
	for (; i < argc && argv[i][0] == '-'; i++)
	{
		if (strcmp(argv[i], "-M") == 0 && i + 1 < argc)
			prepared = strcmp(argv[++i], "prepared") == 0;
		else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc)
			ntx = atol(argv[++i]);
		else if (strcmp(argv[i], "-w") == 0 && i + 1 < argc)
			warmup = atol(argv[++i]);
		else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else if (strcmp(argv[i], "-s") == 0 && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "-v") == 0 && i + 1 < argc)
		{
			char	   *def = argv[++i];
			char	   *eq = strchr(def, '=');
			char	   *colon = eq ? strchr(eq, ':') : NULL;

			if (eq == NULL || colon == NULL || nvars == MAX_VARS || eq - def >= 32)
				die("bad -v (name=lo:hi)", def);
			memcpy(vars[nvars].name, def, eq - def);
			vars[nvars].name[eq - def] = '\0';
			vars[nvars].lo = atol(eq + 1);
			vars[nvars].hi = atol(colon + 1);
			if (vars[nvars].hi < vars[nvars].lo)
				die("bad range", def);
			nvars++;
		}
		else
			die("unknown option", argv[i]);
	}
	if (ntx < 1 || rounds < 1 || (argc - i) % 3 != 0 || argc - i < 3)
		die("usage: cpu_client -M simple|prepared -n TX -r ROUNDS [-w WARMUP] [-s SEED] [-v name=lo:hi ...] NAME CONNINFO SCRIPT ...", NULL);
	for (; i + 2 < argc; i += 3)
	{
		Side	   *s = &sides[nsides];
		PGresult   *res;

		if (nsides == MAX_SIDES)
			die("too many sides", NULL);
		s->name = argv[i];
		s->conn = PQconnectdb(argv[i + 1]);
		if (PQstatus(s->conn) != CONNECTION_OK)
			die("cannot connect", PQerrorMessage(s->conn));
		res = PQexec(s->conn, "SELECT pg_catalog.pg_backend_pid()");
		if (PQresultStatus(res) != PGRES_TUPLES_OK)
			die("cannot read the backend pid", PQerrorMessage(s->conn));
		s->pid = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		load_script(s, argv[i + 2]);
		if (prepared)
			for (int k = 0; k < s->nstmts; k++)
			{
				char		name[16];

				snprintf(name, sizeof(name), "s%d", k);
				check(PQprepare(s->conn, name, s->stmts[k].prepared, s->stmts[k].nparams, NULL),
					  s->conn, s->stmts[k].prepared);
			}
		nsides++;
	}

	/* warm-up: caches, the plan cache's choice of a generic plan */
	for (int k = 0; k < nsides; k++)
	{
		rng = seed ^ 0x9e3779b97f4a7c15ULL;
		for (long t = 0; t < (warmup < 0 ? ntx : warmup); t++)
			run_tx(&sides[k]);
	}
	for (int r = 1; r <= rounds; r++)
	{
		for (int j = 0; j < nsides; j++)
		{
			Side	   *s = &sides[(j + r) % nsides];
			long		cpu0,
						wall0;

			rng = seed + (uint64_t) r * 7919;
			if (rng == 0)
				rng = 1;
			cpu0 = backend_cpu_ns(s->pid);
			wall0 = now_ns();
			for (long t = 0; t < ntx; t++)
				run_tx(s);
			printf("round %d side %s tx %ld cpu_ns %ld wall_ns %ld\n", r, s->name, ntx,
				   backend_cpu_ns(s->pid) - cpu0, now_ns() - wall0);
			fflush(stdout);
		}
	}
	for (int k = 0; k < nsides; k++)
		PQfinish(sides[k].conn);
	return 0;
}
