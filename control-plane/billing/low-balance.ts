// The low-balance alert as a pure policy: one alert per downward crossing of the threshold,
// re-armed once the balance is back at or above it (PRODUCT.md §5).

export type LowBalanceStep = 'alert' | 'rearm' | 'none';

export function lowBalanceStep(w: { balanceMicros: number; thresholdMicros: number; alerted: boolean }): LowBalanceStep {
  const below = w.balanceMicros < w.thresholdMicros;
  if (below && !w.alerted) return 'alert';
  if (!below && w.alerted) return 'rearm';
  return 'none';
}
