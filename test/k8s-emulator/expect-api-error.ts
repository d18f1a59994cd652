// Shared by the emulator tests: awaits a client-node call that must fail with an HTTP status,
// and returns the apiserver's Status body for further checks.
import { expect } from 'vitest';

export async function expectApiError(promise: Promise<unknown>, code: number): Promise<any> {
  try {
    await promise;
  } catch (e: any) {
    expect(e.code).toBe(code);
    return typeof e.body === 'string' ? JSON.parse(e.body) : e.body;
  }
  throw new Error(`expected an API error ${code}`);
}
