/**
 * Client SDK for the edge matcher: `import { MatchClient, UserChannel } from "edge-matcher/client"`.
 * Works in browsers and in Node >= 22 (global WebSocket).
 */

export {
  type ChallengeMatch,
  type ChallengeView,
  type UserFrame,
  type UserFrameOf,
  userFrameSchema,
} from "../protocol/challenges.ts";
export {
  CloseCode,
  type MatchCancelReason,
  type ServerFrame,
  type ServerFrameOf,
  serverFrameSchema,
} from "../protocol/frames.ts";
export { type Bucket, canonicalTopic, type Difficulty, roomName } from "../protocol/values.ts";
export {
  MatchClient,
  type MatchClientEvent,
  type MatchClientEvents,
  type MatchClientOptions,
  TERMINAL_CLOSE_CODES,
  type WebSocketConstructor,
} from "./matchClient.ts";
export {
  UserChannel,
  type UserChannelEvent,
  type UserChannelEvents,
  type UserChannelOptions,
} from "./userChannel.ts";
