/**
 * Cloudflare's list prices for Durable Objects (SQLite storage backend), in one place with the
 * date they were read. Rows written include index entries; WebSocket messages sent to an object
 * are billed as requests at 20 messages to one request.
 */
export const PRICES = {
  asOf: "2026-12-07",
  usdPerMillionRowsWritten: 1.0,
  usdPerMillionRequests: 0.15,
  webSocketMessagesPerRequest: 20,
} as const;

export type Prices = typeof PRICES;
