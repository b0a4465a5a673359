// A stream translated event by event: each supplier SSE event becomes zero or more client events
// at once, so nothing of the answer is collected. What the metering wrapper drives.

import type { MeteredUsage } from '../metering.ts';
import type { SseEvent } from '../sse.ts';

export interface StreamTranslator {
  /** Client events (without their closing blank line) for one supplier event. */
  push(event: SseEvent): string[];
  /** The supplier's stream ended; a stream cut short ends with the client's error event. */
  end(): string[];
  /** The supplier's stream broke: the client's error event, and no end-of-stream marker. */
  failure(): string[];
  usage(): MeteredUsage | null;
  /** Output tokens guessed from what passed through, for a stream with no usage report. */
  outputEstimate(): number;
}

export const sseData = (data: unknown): string => `data: ${JSON.stringify(data)}`;
export const sseNamed = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}`;

export function parseJsonObject(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}
