import { env, runInDurableObject, SELF } from "cloudflare:test";
import { registryShard } from "../../src/actors.ts";
import { configFromEnv } from "../../src/config.ts";
import { DEFAULT_TENANT } from "../../src/tenancy.ts";
import { TestSocket, tokenFor } from "./socketClient.ts";

const config = configFromEnv(env);
if (!config.ok) throw new Error("test configuration does not parse");
export const shards = config.config.REGISTRY_SHARDS;

/** The shard object keeping `userId`'s claim (in `tenant`, the default one unless given). */
export function shardFor(userId: string, tenant = DEFAULT_TENANT) {
  return registryShard(env, tenant, userId, shards);
}

/** Put a claim back into the user's shard, as if the release after its request ended never came. */
export async function putClaimBack(userId: string, room: string, requestId: string) {
  await runInDurableObject(shardFor(userId), (_s, state) => {
    state.storage.sql.exec(
      "INSERT OR REPLACE INTO claims (user_id, room, request_id, at) VALUES (?, ?, ?, ?)",
      userId,
      room,
      requestId,
      Date.now(),
    );
  });
}

/** Open a bucket socket as exactly `userId` (not scoped to the room), accepted and listening. */
export async function socketAs(room: string, userId: string, query = ""): Promise<TestSocket> {
  const res = await SELF.fetch(
    `https://matcher.test/parties/bucket/${room}?token=${await tokenFor(userId)}${query}`,
    {
      headers: { Upgrade: "websocket" },
    },
  );
  const ws = res.webSocket;
  if (!ws) throw new Error(`upgrade refused: ${res.status} ${await res.text()}`);
  ws.accept();
  return new TestSocket(ws);
}
