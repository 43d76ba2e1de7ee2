import { createServer, type Server } from "node:net";
import { networkInterfaces } from "node:os";
import { Pool } from "@neondatabase/serverless";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { startBridge } from "../../scripts/bridge.ts";
import { type RunningDatabase, startDatabase } from "../../scripts/database.ts";
import { useNodeWebSocket } from "../../scripts/migrate.ts";
import { configureNeonTransport } from "../../src/db/connect.ts";
import { canConnect, portIsFree } from "../support/localProcesses.ts";

const LOCAL_POSTGRES = { host: "127.0.0.1", port: 5432 };
const localPostgresUp = await canConnect(LOCAL_POSTGRES.host, LOCAL_POSTGRES.port);
const externalAddress = Object.values(networkInterfaces())
  .flat()
  .find((i) => i !== undefined && i.family === "IPv4" && !i.internal)?.address;

async function withPool<T>(
  databaseUrl: string,
  wsProxy: string,
  work: (pool: Pool) => Promise<T>,
  max = 4,
): Promise<T> {
  useNodeWebSocket();
  configureNeonTransport(databaseUrl, wsProxy);
  const pool = new Pool({ connectionString: databaseUrl, max, connectionTimeoutMillis: 10_000 });
  pool.on("error", () => {});
  try {
    return await work(pool);
  } finally {
    await pool.end();
  }
}

/** How a WebSocket handshake to the bridge ends: "open", or the HTTP status it was refused with. */
function handshake(url: string): Promise<"open" | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url);
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`no handshake answer from ${url}`));
    }, 5_000);
    ws.once("open", () => {
      clearTimeout(timer);
      ws.terminate();
      resolve("open");
    });
    ws.once("unexpected-response", (_req, res) => {
      clearTimeout(timer);
      resolve(res.statusCode ?? 0);
      ws.terminate();
    });
    ws.once("error", () => {});
  });
}

describe("bridge to embedded PGlite", () => {
  let database: RunningDatabase;
  // Booting PGlite runs initdb in WebAssembly: a few seconds on a small machine.
  beforeAll(async () => {
    database = await startDatabase({ memory: true });
  }, 30_000);
  afterAll(async () => {
    await database?.stop();
  });

  it("lets the Neon driver run a query", async () => {
    const wsProxy = database.wsProxy ?? "";
    const rows = await withPool(
      database.databaseUrl,
      wsProxy,
      async (pool) => (await pool.query("select 1 as one")).rows,
    );
    expect(rows).toEqual([{ one: 1 }]);
  }, 15_000);

  it("keeps concurrent sessions apart, including their transactions", async () => {
    // PGlite is one backend behind all socket connections. Each query here has its own text and
    // parameter, so a Parse from one connection bound with another's values (or a transaction
    // seeing another's statements) shows up as a wrong answer or an error.
    const wsProxy = database.wsProxy ?? "";
    const answers = await withPool(
      database.databaseUrl,
      wsProxy,
      async (pool) => {
        await pool.query("create table concurrency_probe (k int primary key, v text)");
        return Promise.all(
          Array.from({ length: 90 }, async (_, i) => {
            if (i % 3 !== 0) {
              const { rows } = await pool.query(`select $1::int as n, 'q${i}' as label`, [i]);
              return `${rows[0]?.n}/${rows[0]?.label}`;
            }
            const client = await pool.connect();
            try {
              await client.query("begin");
              await client.query(`insert into concurrency_probe values ($1, 'tx${i}')`, [i]);
              const { rows } = await client.query("select v from concurrency_probe where k = $1", [i]);
              await client.query("commit");
              return rows[0]?.v;
            } finally {
              client.release();
            }
          }),
        );
      },
      16,
    );
    expect(answers).toEqual(Array.from({ length: 90 }, (_, i) => (i % 3 === 0 ? `tx${i}` : `${i}/q${i}`)));
  }, 30_000);
  it("lets others in after a session ends mid-transaction, without its uncommitted writes", async () => {
    const wsProxy = database.wsProxy ?? "";
    const seen = await withPool(database.databaseUrl, wsProxy, async (pool) => {
      await pool.query("create table abandoned_probe (k int primary key)");
      const quitter = await pool.connect();
      await quitter.query("begin");
      await quitter.query("insert into abandoned_probe values (1)");
      quitter.release(true); // closes the connection with the transaction still open
      const { rows } = await pool.query("select count(*)::int as n from abandoned_probe");
      return rows[0]?.n;
    });
    expect(seen).toBe(0);
  }, 15_000);
});

describe.skipIf(!localPostgresUp)("bridge to the local PostgreSQL at 127.0.0.1:5432", () => {
  it("lets the Neon driver run a query against database `test`", async () => {
    const bridge = await startBridge({ target: LOCAL_POSTGRES });
    try {
      const url = "postgres://postgres@127.0.0.1:5432/test";
      const rows = await withPool(
        url,
        bridge.address,
        async (pool) => (await pool.query("select current_database() as db")).rows,
      );
      expect(rows).toEqual([{ db: "test" }]);
    } finally {
      await bridge.close();
    }
  }, 15_000);
});

describe("bridge boundaries", () => {
  let forbidden: Server;
  let forbiddenPort: number;
  let forbiddenConnections = 0;
  beforeAll(async () => {
    forbidden = createServer((socket) => {
      forbiddenConnections += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => forbidden.listen(0, "127.0.0.1", resolve));
    const address = forbidden.address();
    forbiddenPort = typeof address === "object" && address ? address.port : 0;
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => forbidden.close(() => resolve()));
  });

  it("refuses to connect anywhere but its target", async () => {
    const target = await startBridge({ target: { host: "127.0.0.1", port: 5432 } });
    try {
      const base = `ws://${target.address}`;
      expect(await handshake(`${base}/v1?address=127.0.0.1:${forbiddenPort}`)).toBe(403);
      expect(await handshake(`${base}/v1?address=10.0.0.1:5432`)).toBe(403);
      expect(await handshake(`${base}/v2?address=127.0.0.1:5432`)).toBe(403);
      expect(await handshake(`${base}/v1?address=127.0.0.1:5432`)).toBe("open");
      expect(forbiddenConnections).toBe(0);
    } finally {
      await target.close();
    }
  });

  it("close() drops live connections and frees its port", async () => {
    const bridge = await startBridge({ target: { host: "127.0.0.1", port: forbiddenPort } });
    const client = new WebSocket(`ws://${bridge.address}/v1`);
    await new Promise<void>((resolve, reject) => {
      client.once("open", () => resolve());
      client.once("error", reject);
    });
    const clientClosed = new Promise<void>((resolve) => client.once("close", () => resolve()));
    await bridge.close();
    await expect(
      Promise.race([
        clientClosed.then(() => "closed"),
        new Promise((r) => setTimeout(() => r("still open"), 3_000)),
      ]),
    ).resolves.toBe("closed");
    expect(await portIsFree(bridge.port)).toBe(true);
  });

  it.skipIf(externalAddress === undefined)("is not reachable from other interfaces", async () => {
    const bridge = await startBridge({ target: { host: "127.0.0.1", port: forbiddenPort } });
    try {
      expect(await canConnect("127.0.0.1", bridge.port)).toBe(true);
      expect(await canConnect(externalAddress ?? "", bridge.port)).toBe(false);
    } finally {
      await bridge.close();
    }
  });
});
