import { type Bucket, parseRoomName, roomName } from "./values.ts";

/** A request names up to this many buckets besides its home (docs/protocol.md, "waiting in several buckets"). */
export const MAX_ALSO = 3;
/** Entries `also` may list before duplicates and the home are dropped: a bound on the input. */
export const MAX_ALSO_LISTED = 8;

export type AlsoRooms =
  | { ok: true; rooms: string[] }
  | { ok: false; code: "invalid_parameter" | "unknown_topic"; message: string };

/**
 * The other rooms a request waits in, canonical, with duplicates and the home dropped; every
 * topic must be one of `topics` when that list is set.
 */
export function alsoRooms(home: Bucket, also: Bucket[], topics: string[]): AlsoRooms {
  const tooMany: AlsoRooms = {
    ok: false,
    code: "invalid_parameter",
    message: `\`also\` names at most ${MAX_ALSO} more rooms (besides the home, without duplicates).`,
  };
  if (also.length > MAX_ALSO_LISTED) return tooMany;
  const rooms: string[] = [];
  for (const b of also) {
    if (topics.length > 0 && !topics.includes(b.topic)) {
      return {
        ok: false,
        code: "unknown_topic",
        message: `\`also\` topic ${b.topic} is not one of: ${topics.join(", ")}.`,
      };
    }
    const room = roomName(b);
    if (room !== roomName(home) && !rooms.includes(room)) rooms.push(room);
  }
  return rooms.length > MAX_ALSO ? tooMany : { ok: true, rooms };
}

/** `also=easy.arrays,Medium.Graphs` on a socket URL, each a room name. */
export function parseAlsoParam(
  value: string | undefined,
): { ok: true; buckets: Bucket[] } | { ok: false; message: string } {
  if (value === undefined || value === "") return { ok: true, buckets: [] };
  const buckets: Bucket[] = [];
  for (const part of value.split(",")) {
    const b = parseRoomName(part.trim());
    if (!b)
      return {
        ok: false,
        message: `\`also\` room \`${part}\` is not \`{difficulty}.{topic}\`, e.g. \`easy.arrays\`.`,
      };
    buckets.push(b);
  }
  return { ok: true, buckets };
}

/** `widen=1` / `widen=true` (or 0 / false). */
export function parseWidenParam(value: string | undefined): boolean | undefined {
  if (value === undefined || value === "" || value === "0" || value === "false") return false;
  if (value === "1" || value === "true") return true;
  return undefined;
}
