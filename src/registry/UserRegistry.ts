import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env.ts";
import type { HeldClaim } from "./claimRule.ts";

/**
 * The per-user registry of earlier versions (one object per user), kept read-only so an
 * upgraded deployment loses no live claim: while LEGACY_REGISTRY_UNTIL lies ahead, a registry
 * shard with no claim for a user reads it here and takes it over (docs/operations.md, "Upgrading"). The
 * class keeps its name because deployed objects of it exist; once the window is over it is
 * never called, and a later deploy may delete it with a `deleted_classes` migration.
 */
export class UserRegistry extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  /** Whether this user's object ever stored anything; reading must not create its tables. */
  readonly #hasTables: boolean;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#hasTables =
      this.#sql.exec("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'claim'").toArray().length >
      0;
  }

  /** The claim this object held, if any (its bucket is asked before it counts as live). */
  currentClaim(): HeldClaim | null {
    if (!this.#hasTables) return null;
    const row = this.#sql
      .exec<{ room: string; request_id: string }>("SELECT room, request_id FROM claim")
      .toArray()[0];
    return row ? { room: row.room, requestId: row.request_id } : null;
  }

  roomOfRequest(requestId: string): string | null {
    if (!this.#hasTables) return null;
    return (
      this.#sql.exec<{ room: string }>("SELECT room FROM recent WHERE request_id = ?", requestId).toArray()[0]
        ?.room ?? null
    );
  }

  recentRooms(): string[] {
    if (!this.#hasTables) return [];
    return this.#sql
      .exec<{ room: string }>("SELECT room FROM recent GROUP BY room ORDER BY max(at) DESC LIMIT 5")
      .toArray()
      .map((r) => r.room);
  }
}
