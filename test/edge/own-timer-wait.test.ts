// Waiting on work another request may settle, resumed by the waiter's own timers: the value or
// the error of the shared promise comes through, and a timeout lets the caller go on without it.
import { describe, expect, it } from 'vitest';
import { settledOnOwnTimers } from '../../edge/own-timer-wait.ts';

const later = <T>(ms: number, value: T) => new Promise<T>((resolve) => setTimeout(() => resolve(value), ms));

describe('settledOnOwnTimers', () => {
  it("gives the shared promise's value, or its error", async () => {
    await expect(settledOnOwnTimers(later(5, 'loaded'))).resolves.toBe('loaded');
    await expect(settledOnOwnTimers(Promise.resolve(42))).resolves.toBe(42);
    await expect(settledOnOwnTimers(Promise.reject(new Error('no manifest')))).rejects.toThrow('no manifest');
  });

  it('gives up after the timeout without the value, and the shared work goes on', async () => {
    const slow = later(500, 'too late');
    let settled = false;
    void slow.then(() => (settled = true));
    await expect(settledOnOwnTimers(slow, { timeoutMs: 20 })).resolves.toBeUndefined();
    expect(settled).toBe(false);
    await expect(slow).resolves.toBe('too late');
  });
});
