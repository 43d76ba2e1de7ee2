import type { Role } from "../matching/types.ts";
import { roleSchema } from "../protocol/values.ts";

/**
 * How the router tells a bucket actor who is calling. The router verifies the token, then sets
 * this header on the request it forwards (overwriting anything a client sent), so an actor never
 * parses tokens and a client can never choose its identity.
 */
export const USER_HEADER = "x-matcher-user";

/** When the caller's token expires (epoch ms): the actor closes the socket with 4001 then. */
export const TOKEN_EXP_HEADER = "x-matcher-token-exp";

/** The role the join asks for (`&role=`, validated by the router). */
export const ROLE_HEADER = "x-matcher-role";

/** The user's rating from their token; absent when the token carries none. */
export const RATING_HEADER = "x-matcher-rating";

/** The other rooms the request waits in (canonical, comma-separated; `&also=`, checked by the router). */
export const ALSO_HEADER = "x-matcher-also";

/** "1" when the request asks to widen (`&widen=1`). */
export const WIDEN_HEADER = "x-matcher-widen";

/** `resume=<requestId>`: the request the client saw last (checked by the router). */
export const RESUME_HEADER = "x-matcher-resume";

/** What a join asks for, beyond who the user is: the router checked all of it. */
export type JoinWish = { role: Role; rating: number | null; also: string[]; widen: boolean };

export function wishFromHeaders(headers: Headers): JoinWish {
  const role = roleSchema.safeParse(headers.get(ROLE_HEADER) ?? "either");
  const rating = headers.get(RATING_HEADER);
  const also = headers.get(ALSO_HEADER);
  return {
    role: role.success ? role.data : "either",
    rating: rating === null ? null : Number(rating),
    also: also ? also.split(",") : [],
    widen: headers.get(WIDEN_HEADER) === "1",
  };
}
