/**
 * How the router tells a bucket actor who is calling. The router verifies the token, then sets
 * this header on the request it forwards (overwriting anything a client sent), so an actor never
 * parses tokens and a client can never choose its identity.
 */
export const USER_HEADER = "x-matcher-user";
