import { createServer as createHttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { connect, createServer, type Socket } from "node:net";

/**
 * A TCP relay in front of the test database that tests can cut and restore over HTTP
 * (`POST {control}/down`, `/hang`, `/up`): the only way to take "the database" away from a
 * Worker running in workerd without stopping the database itself. Down means live connections
 * are cut and new ones are refused at once, as when a server goes away; hang means connections
 * stay open and nothing more is relayed either way, as when a server stops answering.
 */
export async function startSwitchableLink(target: { host: string; port: number }) {
  let state: "up" | "down" | "hang" = "up";
  const live = new Set<Socket>();
  const held = new Set<Socket>();
  const relay = createServer((client) => {
    if (state === "down") {
      client.destroy();
      return;
    }
    if (state === "hang") {
      held.add(client);
      client.on("error", () => client.destroy());
      return;
    }
    const server = connect(target.port, target.host);
    live.add(client).add(server);
    const end = () => {
      client.destroy();
      server.destroy();
      live.delete(client);
      live.delete(server);
    };
    client.pipe(server).pipe(client);
    client.on("error", end).on("close", end);
    server.on("error", end).on("close", end);
  });
  await new Promise<void>((resolve) => relay.listen(0, "127.0.0.1", resolve));
  const control = createHttpServer((req, res) => {
    if (req.url === "/down") {
      state = "down";
      for (const s of live) s.destroy();
      live.clear();
    } else if (req.url === "/hang") {
      state = "hang";
      for (const s of live) {
        s.unpipe();
        s.pause();
        held.add(s);
      }
      live.clear();
    } else if (req.url === "/up") {
      state = "up";
      for (const s of held) s.destroy();
      held.clear();
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ up: state === "up" }));
  });
  await new Promise<void>((resolve) => control.listen(0, "127.0.0.1", resolve));
  return {
    port: (relay.address() as AddressInfo).port,
    controlUrl: `http://127.0.0.1:${(control.address() as AddressInfo).port}`,
    async close() {
      for (const s of [...live, ...held]) s.destroy();
      await Promise.all([
        new Promise<void>((resolve) => relay.close(() => resolve())),
        new Promise<void>((resolve) => control.close(() => resolve())),
      ]);
    },
  };
}
