import { bucketActor } from "../actors.ts";
import type { Env } from "../env.ts";
import { type AskAnswer, pendingAsks } from "../matching/handover.ts";
import type { BucketState } from "../matching/state.ts";
import type { Effect } from "../matching/types.ts";
import { parseRoomName } from "../protocol/values.ts";
import { bucketActorName } from "../tenancy.ts";
import type { BucketStorage } from "./bucketStorage.ts";
import { type Ask, HandOverAsks } from "./HandOverAsks.ts";
import { PeerLinks } from "./PeerLinks.ts";

/**
 * A bucket's side of the hand-over protocol (`src/matching/handover.ts`): the other buckets of
 * its tenant that flexible requests wait in, reached by room name. Messages go out in order
 * through `PeerLinks`, asks through `HandOverAsks`; the decisions are the core's.
 */
export class BucketPeers {
  readonly #env: Env;
  readonly #tenant: string;
  readonly #links: PeerLinks;
  readonly #asks: HandOverAsks;

  constructor(
    env: Env,
    tenant: string,
    home: string,
    storage: BucketStorage,
    hooks: { answered: (pairId: string, answers: AskAnswer[]) => void; retryLater: () => void },
  ) {
    this.#env = env;
    this.#tenant = tenant;
    this.#links = new PeerLinks(
      storage,
      (to, messages) => this.stub(to).peer(home, messages),
      hooks.retryLater,
    );
    this.#asks = new HandOverAsks(
      (a: Ask) => this.stub(a.home).handOver(home, a.requestId, a.pairId),
      hooks.answered,
    );
  }

  /** The bucket actor of `room` in this tenant. */
  stub(room: string) {
    return bucketActor(this.#env, bucketActorName(this.#tenant, parseRoomName(room)!));
  }

  /** When failed messages should be sent again (the actor's alarm); null if none failed. */
  get retryAt(): number | null {
    return this.#links.retryAt;
  }

  /** After a restart: messages left undelivered, and asks whose answers died with the last instance. */
  resume(state: BucketState): void {
    this.#links.kick();
    this.#asks.start(pendingAsks(state));
  }

  /** The alarm: send again what failed, if it is time. */
  retryIfDue(now: number): void {
    const at = this.#links.retryAt;
    if (at !== null && at <= now) this.#links.kick();
  }

  /** A step's messages (already stored with it) and asks. */
  perform(effects: readonly Effect[]): void {
    const rooms = new Set<string>();
    const asks: Ask[] = [];
    for (const e of effects) {
      if (e.kind === "peer") rooms.add(e.room);
      else if (e.kind === "ask") asks.push(e);
    }
    if (rooms.size > 0) this.#links.kick(rooms);
    if (asks.length > 0) this.#asks.start(asks);
  }
}
