ALTER TABLE "match_requests" ADD COLUMN "role" text;--> statement-breakpoint
ALTER TABLE "match_requests" ADD COLUMN "rating" double precision;--> statement-breakpoint
ALTER TABLE "matches" ADD COLUMN "role_a" text;--> statement-breakpoint
ALTER TABLE "matches" ADD COLUMN "role_b" text;