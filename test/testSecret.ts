/** A secret only tests use; the Worker under test and the tests minting tokens share it. */
export const TEST_JWT_SECRET = "test-secret-0123456789-0123456789-abcdef";
