// Input a supplier bills beyond the request's bytes is reserved too: a tool prompt, documents
// (billed per page, a page can be ~70 bytes), images given by URL. Without it a request's real
// cost could pass its reservation, and a budget its limit.
import { describe, expect, it } from 'vitest';
import { DOCUMENT_TOKENS, IMAGE_URL_TOKENS, TOOLS_TOKENS, hiddenInputTokens } from '../../edge/hidden-input.ts';
import { completion, usageOf } from './support/fake-supplier.ts';
import { buildPricing } from './support/manifest-builder.ts';
import { scenario } from './support/scenario.ts';

describe('hidden input tokens', () => {
  it('counts tools, documents of every API shape, images by URL (not inline), and those inside a tool result', () => {
    expect(hiddenInputTokens([{ role: 'user', content: 'hi' }], { tools: false })).toBe(0);
    expect(hiddenInputTokens([{ role: 'user', content: 'hi' }], { tools: true })).toBe(TOOLS_TOKENS);
    const chat = [
      { role: 'user', content: [{ type: 'file', file: { file_data: 'data:application/pdf;base64,JVBE' } }, { type: 'image_url', image_url: { url: 'https://example.test/a.png' } }] },
      { role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,iVBO' } }] },
    ];
    expect(hiddenInputTokens(chat, { tools: false })).toBe(DOCUMENT_TOKENS + IMAGE_URL_TOKENS);
    const messages = [
      { role: 'user', content: [{ type: 'document', source: { type: 'base64', media_type: 'application/pdf', data: 'JVBE' } }, { type: 'image', source: { type: 'url', url: 'https://example.test/b.jpg' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: [{ type: 'document', source: { type: 'url', url: 'https://example.test/c.pdf' } }] }] },
      { role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBO' } }] },
    ];
    expect(hiddenInputTokens(messages, { tools: false })).toBe(2 * DOCUMENT_TOKENS + IMAGE_URL_TOKENS);
    const responses = [{ role: 'user', content: [{ type: 'input_file', file_url: 'https://example.test/d.pdf' }, { type: 'input_image', image_url: 'https://example.test/e.png' }] }];
    expect(hiddenInputTokens(responses, { tools: false })).toBe(DOCUMENT_TOKENS + IMAGE_URL_TOKENS);
    expect(hiddenInputTokens('just text', { tools: false })).toBe(0);
  });

  it('reserves a PDF at up to the context window, not at its bytes', async () => {
    // 1 µUSD an input token, free output; a 100,000-token context window.
    const s = await scenario({ model: { pricing: buildPricing(1_000_000, 0), context_window: 100_000 } });
    s.edge.supplier.script(s.model.routes[0]!, completion({ content: 'a summary', usage: usageOf(40_000, 10) }));
    const pdf = { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,JVBERi0xLjQK' } };
    const res = await s.edge.send('/v1/chat/completions', {
      key: s.key.token,
      body: { model: s.model.id, max_tokens: 10, messages: [{ role: 'user', content: [{ type: 'text', text: 'Summarise' }, pdf] }] },
    });
    expect(res.status).toBe(200);
    await res.text();
    await s.edge.settle();
    const reserved = s.edge.grants.calls.flatMap((c) => c.acquire ?? [])[0]!.money.need;
    expect(reserved).toBeGreaterThanOrEqual(100_000);
    expect(s.edge.events()[0]).toMatchObject({ input_tokens: 40_000 });
  });
});
