import { z } from "zod";

/** `easy` | `medium` | `hard`, accepted in any case, always answered lowercase. */
export const difficultySchema = z
  .string()
  .trim()
  .toLowerCase()
  .pipe(z.enum(["easy", "medium", "hard"], { error: "must be easy, medium or hard" }));
export type Difficulty = z.output<typeof difficultySchema>;

/** Topics are compared by their canonical slug: lowercase, spaces to `-`. */
export function canonicalTopic(topic: string): string {
  return topic.trim().toLowerCase().replace(/\s+/g, "-");
}

export const topicSchema = z
  .string()
  .trim()
  .min(1, "must not be empty")
  .max(48, "must be at most 48 characters")
  .regex(/^[A-Za-z0-9 _+#-]+$/, "may contain only letters, digits, space, -, _, + and #")
  .transform(canonicalTopic);

/** A bucket is one difficulty x one topic; its room name addresses exactly one actor. */
export type Bucket = { difficulty: Difficulty; topic: string };

export function roomName(bucket: Bucket): string {
  return `${bucket.difficulty}.${bucket.topic}`;
}

/**
 * Parse `{difficulty}.{topic}` in any case into its canonical bucket, so `Easy.Arrays` and
 * `easy.arrays` reach the same actor. The first dot separates: topics never contain one.
 */
export function parseRoomName(room: string): Bucket | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(room);
  } catch {
    return undefined;
  }
  const dot = decoded.indexOf(".");
  if (dot < 0) return undefined;
  const difficulty = difficultySchema.safeParse(decoded.slice(0, dot));
  const topic = topicSchema.safeParse(decoded.slice(dot + 1));
  if (!difficulty.success || !topic.success) return undefined;
  return { difficulty: difficulty.data, topic: topic.data };
}

/** Ids minted by the service: a prefix says what the id is for, the rest is random. */
export const requestIdSchema = z.string().regex(/^req_[A-Za-z0-9-]{8,64}$/, "is not a request id");
export const matchIdSchema = z.string().regex(/^mat_[A-Za-z0-9-]{8,64}$/, "is not a match id");

/** What a request asks to play first (docs/protocol.md, "Pairing"). */
export const roleSchema = z.enum(["interviewer", "interviewee", "either"], {
  error: "must be interviewer, interviewee or either",
});
export type Role = z.output<typeof roleSchema>;
/** What a user plays first in a match: one of each per match. */
export const partSchema = z.enum(["interviewer", "interviewee"]);
