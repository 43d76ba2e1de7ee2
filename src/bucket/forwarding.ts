/**
 * How the router tells a bucket actor who is calling. The router verifies the token, then sets
 * this header on the request it forwards (overwriting anything a client sent), so an actor never
 * parses tokens and a client can never choose its identity.
 */
export const USER_HEADER = "x-matcher-user";

/** When the caller's token expires (epoch ms): the actor closes the socket with 4001 then. */
export const TOKEN_EXP_HEADER = "x-matcher-token-exp";
