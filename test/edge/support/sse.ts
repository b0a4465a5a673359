// Reads what the edge streams back, one SSE event at a time, without waiting for the end.

export interface SseReader {
  /** The data of the next event, or null when the stream ended. */
  next: () => Promise<string | null>;
  /** Every remaining event's data, until the end. */
  rest: () => Promise<string[]>;
  cancel: (reason?: unknown) => Promise<void>;
}

export function sseReader(response: Response): SseReader {
  if (!response.body) throw new Error('response has no body');
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let ended = false;

  async function next(): Promise<string | null> {
    for (;;) {
      const cut = buffer.indexOf('\n\n');
      if (cut >= 0) {
        const event = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        const data = event
          .split('\n')
          .filter((line) => line.startsWith('data:'))
          .map((line) => line.slice(5).trimStart())
          .join('\n');
        if (data !== '') return data;
        continue;
      }
      if (ended) {
        if (buffer.trim() !== '') throw new Error(`stream ended inside an event: ${JSON.stringify(buffer)}`);
        return null;
      }
      const { done, value } = await reader.read();
      if (done) ended = true;
      else buffer += decoder.decode(value, { stream: true });
    }
  }

  return {
    next,
    async rest() {
      const out: string[] = [];
      for (let data = await next(); data !== null; data = await next()) out.push(data);
      return out;
    },
    cancel: (reason) => reader.cancel(reason),
  };
}

/** The text of a chat completion assembled from stream events, as a client would show it. */
export function streamedText(events: readonly string[]): string {
  return events
    .filter((e) => e !== '[DONE]')
    .map((e) => JSON.parse(e) as { choices?: { delta?: { content?: string } }[] })
    .map((chunk) => chunk.choices?.[0]?.delta?.content ?? '')
    .join('');
}
