import "vitest";

/** Values the Node-side global setups hand to tests (`inject(...)`), typed in one place. */
declare module "vitest" {
  export interface ProvidedContext {
    /** DATABASE_URL and NEON_WS_PROXY of the test database (test/setup/database.ts). */
    databaseUrl: string;
    wsProxy: string;
    /** POST `/down` or `/up` here to cut or restore the Worker's database link. */
    databaseSwitchUrl: string;
    /** A stand-in identity provider's key set and private key (test/setup/jwks.ts). */
    jwksUrl: string;
    jwksPrivateJwk: string;
    /** Base URLs of stand-in question/collab services by behaviour (test/setup/standInServices.ts). */
    standInServices: Record<
      "good" | "failing" | "slow" | "flaky" | "rejecting" | "malformed" | "by-topic",
      string
    >;
  }
}
