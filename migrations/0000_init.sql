CREATE TABLE "match_requests" (
	"id" text PRIMARY KEY NOT NULL,
	"user_id" text NOT NULL,
	"bucket" text NOT NULL,
	"difficulty" text NOT NULL,
	"topic" text NOT NULL,
	"status" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"ended_at" timestamp with time zone,
	"outcome" text,
	"match_id" text
);
--> statement-breakpoint
CREATE TABLE "matches" (
	"id" text PRIMARY KEY NOT NULL,
	"bucket" text NOT NULL,
	"difficulty" text NOT NULL,
	"topic" text NOT NULL,
	"user_a" text NOT NULL,
	"user_b" text NOT NULL,
	"request_a" text NOT NULL,
	"request_b" text NOT NULL,
	"status" text NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"confirmed_at" timestamp with time zone,
	"cancelled_at" timestamp with time zone,
	"reason" text,
	"question_id" text,
	"collaboration_session_id" text
);
--> statement-breakpoint
CREATE INDEX "match_requests_user_created_idx" ON "match_requests" USING btree ("user_id","created_at");--> statement-breakpoint
CREATE INDEX "matches_user_a_created_idx" ON "matches" USING btree ("user_a","created_at");--> statement-breakpoint
CREATE INDEX "matches_user_b_created_idx" ON "matches" USING btree ("user_b","created_at");--> statement-breakpoint
CREATE INDEX "matches_created_topic_idx" ON "matches" USING btree ("created_at","topic");