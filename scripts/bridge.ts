import { createServer, type IncomingMessage } from "node:http";
import { connect, type Socket } from "node:net";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";

/**
 * A WebSocket-to-TCP bridge for local development: the Neon serverless driver only speaks
 * Postgres over WebSockets, so a local PostgreSQL or PGlite (plain TCP) is reached through this.
 * It is what NEON_WS_PROXY names; the driver connects to `ws://<address>/v1?address=host:port`.
 *
 * It always dials its one fixed target. The driver's `address` parameter is only checked, never
 * followed, so the bridge cannot be used to reach anything else on the machine.
 */

export type BridgeTarget = { host: string; port: number };

export type BridgeOptions = {
  target: BridgeTarget;
  /** Loopback only: anything else would expose the database without TLS. */
  host?: "127.0.0.1";
  /** 0 picks a free port. */
  port?: number;
  /**
   * The target is a single Postgres backend shared by all its connections (PGlite): let one
   * session at a time talk to it, from its first message until the backend is idle again.
   */
  singleBackend?: boolean;
};

export type Bridge = {
  port: number;
  /** "127.0.0.1:PORT", the value for NEON_WS_PROXY. */
  address: string;
  /** Drops every live connection and frees the port. */
  close(): Promise<void>;
};

const BRIDGE_PATH = "/v1";

/** Split "host:port", "[::1]:port" or "::1:port" (what the Neon driver sends for IPv6). */
export function parseAddress(value: string): BridgeTarget | undefined {
  const colon = value.lastIndexOf(":");
  if (colon <= 0) return undefined;
  const host = value.slice(0, colon).replace(/^\[|\]$/g, "");
  const portText = value.slice(colon + 1);
  if (!/^\d+$/.test(portText)) return undefined;
  const port = Number(portText);
  if (port < 1 || port > 65535 || host === "") return undefined;
  return { host, port };
}

/** An upgrade is allowed only on /v1, and only if any `address` it names is the bridge's target. */
export function isAllowedUpgrade(requestUrl: string | undefined, target: BridgeTarget): boolean {
  const url = new URL(requestUrl ?? "/", "ws://bridge");
  if (url.pathname !== BRIDGE_PATH) return false;
  const requested = url.searchParams.get("address");
  if (requested === null) return true;
  const parsed = parseAddress(requested);
  return (
    parsed !== undefined &&
    parsed.port === target.port &&
    parsed.host.toLowerCase() === target.host.replace(/^\[|\]$/g, "").toLowerCase()
  );
}

function refuse(socket: Duplex, status: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}

// ---- one session at a time, for a single-backend target ----------------------------------------
//
// pglite-socket accepts several connections but feeds every protocol message into one PGlite
// backend in arrival order, only keeping transactions (BEGIN…COMMIT) together. Two connections
// running extended-protocol queries at once (Parse, Bind, Execute, Sync: what the Neon driver
// sends for every parameterised query) get their messages interleaved, and one binds the other's
// unnamed statement ("unnamed prepared statement does not exist", or wrong rows). So the bridge
// hands the backend to one connection at a time: from the first message it forwards until every
// Query/Sync it forwarded has been answered by ReadyForQuery with status idle ('I'), which also
// covers whole transactions (status 'T'/'E' until they end).

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const QUERY = 0x51; // 'Q'
const SYNC = 0x53; // 'S'
const TERMINATE = 0x58; // 'X'
const READY_FOR_QUERY = 0x5a; // 'Z'

/**
 * Reads client → server bytes, split anywhere, and counts messages that each get exactly one
 * ReadyForQuery back: the startup packet, simple Query and Sync. Also reports SSL/GSS requests,
 * which the server answers with a single unframed byte, and where a Terminate message starts.
 */
function createFrontendReader() {
  let startup = true;
  let header = Buffer.alloc(0);
  let skip = 0;
  return (chunk: Buffer): { readyExpected: number; unframedAnswers: number; terminateAt?: number } => {
    let readyExpected = 0;
    let unframedAnswers = 0;
    let terminateAt: number | undefined;
    let at = 0;
    while (at < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - at);
        skip -= n;
        at += n;
        continue;
      }
      const headerLength = startup ? 8 : 5;
      const take = Math.min(headerLength - header.length, chunk.length - at);
      header = Buffer.concat([header, chunk.subarray(at, at + take)]);
      at += take;
      if (header.length < headerLength) break;
      if (startup) {
        const code = header.readInt32BE(4);
        skip = header.readInt32BE(0) - 8;
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) unframedAnswers += 1;
        else if (code !== CANCEL_REQUEST) {
          readyExpected += 1;
          startup = false;
        }
      } else {
        const type = header[0];
        skip = header.readInt32BE(1) - 4;
        if (type === QUERY || type === SYNC) readyExpected += 1;
        if (type === TERMINATE && terminateAt === undefined) terminateAt = Math.max(0, at - 5);
      }
      header = Buffer.alloc(0);
    }
    return terminateAt === undefined
      ? { readyExpected, unframedAnswers }
      : { readyExpected, unframedAnswers, terminateAt };
  };
}

/** Reads server → client bytes, split anywhere, and returns the status of each ReadyForQuery. */
function createBackendReader() {
  let header = Buffer.alloc(0);
  let skip = 0;
  let unframed = 0;
  let statusNext = false;
  return {
    expectUnframed(count: number) {
      unframed += count;
    },
    read(chunk: Buffer): string[] {
      const statuses: string[] = [];
      let at = 0;
      while (at < chunk.length) {
        if (unframed > 0 && header.length === 0 && skip === 0) {
          unframed -= 1;
          at += 1;
          continue;
        }
        if (skip > 0) {
          if (statusNext) {
            statuses.push(String.fromCharCode(chunk[at] ?? 0));
            statusNext = false;
          }
          const n = Math.min(skip, chunk.length - at);
          skip -= n;
          at += n;
          continue;
        }
        const take = Math.min(5 - header.length, chunk.length - at);
        header = Buffer.concat([header, chunk.subarray(at, at + take)]);
        at += take;
        if (header.length < 5) break;
        skip = header.readInt32BE(1) - 4;
        statusNext = header[0] === READY_FOR_QUERY && skip > 0;
        header = Buffer.alloc(0);
      }
      return statuses;
    },
  };
}

type Gate = { acquire(owner: symbol): Promise<void>; release(owner: symbol): void };

/** First come, first served; releasing as a non-holder only withdraws from the queue. */
function createGate(): Gate {
  let holder: symbol | undefined;
  const queue: Array<{ owner: symbol; grant: () => void }> = [];
  const next = () => {
    const waiter = queue.shift();
    holder = waiter?.owner;
    waiter?.grant();
  };
  return {
    acquire(owner) {
      if (holder === undefined) {
        holder = owner;
        return Promise.resolve();
      }
      return new Promise((grant) => queue.push({ owner, grant }));
    },
    release(owner) {
      const queued = queue.findIndex((w) => w.owner === owner);
      if (queued !== -1) queue.splice(queued, 1);
      if (holder === owner) next();
    },
  };
}

/**
 * Forwards client bytes to `write` only while this session holds the gate. A Terminate is not
 * forwarded: the shared backend must not see it (it is every session's backend), and the client
 * may keep its WebSocket open after sending it, so the session ends here and `end` closes the
 * TCP connection, which is how pglite-socket learns the session is over (and rolls back).
 */
function createGatedSession(gate: Gate, write: (chunk: Buffer) => void, end: () => void) {
  const owner = Symbol("session");
  const frontend = createFrontendReader();
  const backend = createBackendReader();
  const pending: Buffer[] = [];
  let holding = false;
  let waiting = false;
  let closed = false;
  let outstanding = 0;
  let idle = true;
  const close = () => {
    closed = true;
    holding = false;
    pending.length = 0;
    gate.release(owner);
  };
  const fromClient = (chunk: Buffer) => {
    if (closed) return;
    const { readyExpected, unframedAnswers, terminateAt } = frontend(chunk);
    if (terminateAt !== undefined) {
      if (holding && terminateAt > 0) write(chunk.subarray(0, terminateAt));
      close();
      end();
      return;
    }
    outstanding += readyExpected;
    backend.expectUnframed(unframedAnswers);
    if (holding) {
      write(chunk);
      return;
    }
    pending.push(chunk);
    if (waiting) return;
    waiting = true;
    void gate.acquire(owner).then(() => {
      waiting = false;
      if (closed) {
        gate.release(owner);
        return;
      }
      holding = true;
      for (const queued of pending.splice(0)) write(queued);
    });
  };
  const fromServer = (chunk: Buffer) => {
    for (const status of backend.read(chunk)) {
      outstanding = Math.max(0, outstanding - 1);
      idle = status === "I";
    }
    // Holding on is the safe side: a session that sent no Sync yet keeps the backend.
    if (holding && outstanding === 0 && idle) {
      holding = false;
      gate.release(owner);
    }
  };
  return { fromClient, fromServer, close };
}

// ---- plumbing ----------------------------------------------------------------------------------

function pipe(ws: WebSocket, tcp: Socket, gate: Gate | undefined): void {
  // net.Socket queues writes made while it is still connecting, so early frames are not lost.
  const write = (chunk: Buffer) => {
    if (tcp.writable) tcp.write(chunk);
  };
  const session = gate ? createGatedSession(gate, write, () => tcp.end()) : undefined;
  ws.on("message", (data: RawData) => {
    const chunks = Array.isArray(data) ? data : [Buffer.isBuffer(data) ? data : Buffer.from(data)];
    for (const chunk of chunks) {
      if (session) session.fromClient(chunk);
      else write(chunk);
    }
  });
  tcp.on("data", (chunk: Buffer) => {
    session?.fromServer(chunk);
    if (ws.readyState === ws.OPEN) ws.send(chunk, { binary: true });
  });
  // Either side going away ends the other: a half-open Postgres session is useless to the driver.
  ws.on("close", () => {
    session?.close();
    tcp.destroy();
  });
  ws.on("error", () => tcp.destroy());
  tcp.on("close", () => {
    session?.close();
    if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.close();
  });
  tcp.on("error", () => ws.terminate());
}

export async function startBridge({
  target,
  host = "127.0.0.1",
  port = 0,
  singleBackend = false,
}: BridgeOptions): Promise<Bridge> {
  if (host !== "127.0.0.1") throw new Error("the bridge binds to 127.0.0.1 only");
  const gate = singleBackend ? createGate() : undefined;
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });
  const sockets = new Set<Socket>();
  const server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket bridge: upgrade on /v1\n");
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (!isAllowedUpgrade(req.url, target)) {
      refuse(socket, "403 Forbidden");
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      const tcp = connect({ host: target.host, port: target.port });
      tcp.setNoDelay(true);
      sockets.add(tcp);
      tcp.on("close", () => sockets.delete(tcp));
      pipe(ws, tcp, gate);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const bound = server.address();
  if (bound === null || typeof bound === "string") throw new Error("bridge did not bind a TCP port");

  let closing: Promise<void> | undefined;
  return {
    port: bound.port,
    address: `${host}:${bound.port}`,
    close() {
      closing ??= (async () => {
        for (const ws of wss.clients) ws.terminate();
        for (const tcp of sockets) tcp.destroy();
        // Plain HTTP keep-alive connections would otherwise hold server.close() open.
        server.closeAllConnections();
        await new Promise<void>((resolve) => wss.close(() => resolve()));
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}
