// An injected clock for the edge: time moves only when a test says so.

export interface TestClock {
  nowMs: () => number;
  nowSeconds: () => number;
  advance: (ms: number) => void;
}

/** Starts at a fixed, realistic instant so manifests and key expiries are plain arithmetic. */
export function createClock(startMs: number = Date.UTC(2031, 0, 15, 12, 0, 0)): TestClock {
  let now = startMs;
  return {
    nowMs: () => now,
    nowSeconds: () => Math.floor(now / 1000),
    advance: (ms) => {
      now += ms;
    },
  };
}
