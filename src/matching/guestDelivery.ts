import type { ServerFrame } from "../protocol/frames.ts";
import type { GuestChange, GuestEntry, PeerMessage } from "./peerMessages.ts";
import type { Step } from "./step.ts";
import type { MatchRequest } from "./types.ts";

/**
 * Where a request's frames go. An owned request's user listens on this bucket's sockets; a guest
 * entry's user listens on its home's, so what happens to it here travels home as one `report`
 * per step, and the home relays it (and follows the change) in order.
 */

type Report = Extract<PeerMessage, { kind: "report" }>;

/** Whether an owned request may be paired by one of its guest buckets right now. */
export function available(r: MatchRequest): boolean {
  return (
    r.home === null &&
    r.endedAt === null &&
    r.status === "PENDING" &&
    r.holdFor === null &&
    r.graceUntil === null
  );
}

/** Whether an owned request is placed in its guests now: odd epochs are the placed ones. */
export function placed(r: MatchRequest): boolean {
  return r.epoch % 2 === 1;
}

export function entryOf(r: MatchRequest, home: string): GuestEntry {
  return {
    id: r.id,
    userId: r.userId,
    role: r.role,
    rating: r.rating,
    blocked: [...r.blocked],
    recent: { ...r.recent },
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    epoch: r.epoch,
    home,
  };
}

export function tell(step: Step, r: MatchRequest, frame: ServerFrame): void {
  if (r.home === null) step.send(r.userId, frame);
  else reportOf(step, r).frames.push(frame);
}

export function closeFor(step: Step, r: MatchRequest, code: number, reason: string): void {
  if (r.home === null) step.close(r.userId, code, reason);
  else reportOf(step, r).close = { code, reason };
}

/** A guest entry changed in a way its home must follow (no-op for owned requests). */
export function reportChange(step: Step, r: MatchRequest, change: GuestChange): void {
  if (r.home === null) return;
  const report = reportOf(step, r);
  report.change = change;
  report.recent = { ...r.recent };
}

function reportOf(step: Step, r: MatchRequest): Report {
  for (const e of step.effects) {
    if (e.kind === "peer" && e.message.kind === "report" && e.message.requestId === r.id) return e.message;
  }
  const report: Report = {
    kind: "report",
    requestId: r.id,
    // The pair the home handed it over for, which is also the id of the match made here.
    pairId: r.matchId ?? r.holdFor ?? "",
    frames: [],
    close: null,
    change: null,
    recent: { ...r.recent },
  };
  step.effects.push({ kind: "peer", room: r.home!, message: report });
  return report;
}
