import { execFile } from "node:child_process";
import { sql } from "drizzle-orm";
import { useNodeWebSocket } from "../scripts/migrate.ts";
import { withDatabase } from "../src/db/connect.ts";

/**
 * Database counters, to tell how many writes a match costs: rows in the record tables and the
 * server's own statistics (pg_stat_database: committed transactions, tuples inserted/updated).
 * Read through the Neon driver over the same WebSocket bridge the Worker uses; if that does not
 * answer, through `psql` when it is installed. Never on the path being measured.
 */

export type DbCounters = {
  via: "neon-driver" | "psql";
  matches: number;
  requests: number;
  xactCommit: number;
  tupInserted: number;
  tupUpdated: number;
};

const QUERY = `select (select count(*) from matches)::int as matches,
  (select count(*) from match_requests)::int as requests,
  xact_commit::bigint::text as xact, tup_inserted::bigint::text as ins, tup_updated::bigint::text as upd
  from pg_stat_database where datname = current_database()`;

type Row = { matches: number; requests: number; xact: string; ins: string; upd: string };

async function viaNeon(databaseUrl: string, wsProxy: string | undefined): Promise<Row> {
  useNodeWebSocket();
  const result = await withDatabase(databaseUrl, wsProxy, (db) => db.execute(sql.raw(QUERY)), {
    timeoutMs: 5_000,
  });
  return result.rows[0] as Row;
}

function viaPsql(databaseUrl: string): Promise<Row> {
  return new Promise((done, fail) => {
    execFile(
      "psql",
      [databaseUrl, "-XAtF", "|", "-c", QUERY.replace(/\s+/g, " ")],
      { timeout: 8_000 },
      (error, stdout) => {
        if (error) return fail(error);
        const [matches, requests, xact, ins, upd] = stdout.trim().split("|");
        done({ matches: Number(matches), requests: Number(requests), xact: xact!, ins: ins!, upd: upd! });
      },
    );
  });
}

export class DbProbe {
  readonly #url: string;
  readonly #wsProxy: string | undefined;
  #via: DbCounters["via"] | undefined;
  problem: string | undefined;

  constructor(databaseUrl: string, wsProxy: string | undefined) {
    this.#url = databaseUrl;
    this.#wsProxy = wsProxy;
  }

  /** Current counters, or undefined (with `problem` set) if the database cannot be read. */
  async read(): Promise<DbCounters | undefined> {
    const attempts: Array<[DbCounters["via"], () => Promise<Row>]> = [];
    if (this.#via !== "psql") attempts.push(["neon-driver", () => viaNeon(this.#url, this.#wsProxy)]);
    attempts.push(["psql", () => viaPsql(this.#url)]);
    const problems: string[] = [];
    for (const [via, run] of attempts) {
      try {
        const row = await run();
        this.#via = via;
        return {
          via,
          matches: Number(row.matches),
          requests: Number(row.requests),
          xactCommit: Number(row.xact),
          tupInserted: Number(row.ins),
          tupUpdated: Number(row.upd),
        };
      } catch (error) {
        problems.push(`${via}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
    this.problem = problems.join("; ");
    return undefined;
  }
}
