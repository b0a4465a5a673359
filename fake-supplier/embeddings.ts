// The embeddings and rerank answers of the fake supplier: OpenAI's embeddings list
// (https://platform.openai.com/docs/api-reference/embeddings, float or base64) and the
// Cohere/Jina-style rerank result list. Pure and deterministic, so a test can predict them.

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** ~4 characters a token, at least 1, as the chat fake counts. */
export const textTokens = (text: string): number => Math.max(1, Math.ceil(text.length / 4));

function vector(text: string, dimensions: number): number[] {
  let seed = 2166136261;
  for (const ch of text) seed = Math.imul(seed ^ ch.charCodeAt(0), 16777619);
  return Array.from({ length: dimensions }, (_, i) => {
    seed = Math.imul(seed ^ (i + 1), 2246822507) >>> 0;
    return Math.round(((seed % 20000) / 10000 - 1) * 1e6) / 1e6;
  });
}

const base64Of = (values: number[]): string => Buffer.from(new Float32Array(values).buffer).toString('base64');

export type Answer = { ok: true; body: string } | { ok: false; status: number; message: string };

export function embeddingsAnswer(body: unknown): Answer {
  if (!isObject(body) || typeof body.model !== 'string') return { ok: false, status: 400, message: 'you must provide a model parameter' };
  const inputs: unknown[] = typeof body.input === 'string' ? [body.input] : Array.isArray(body.input) ? body.input : [];
  if (inputs.length === 0) return { ok: false, status: 400, message: "'input' must be a string or a non-empty array" };
  const dimensions = typeof body.dimensions === 'number' ? body.dimensions : 8;
  const base64 = body.encoding_format === 'base64';
  const texts = inputs.map((input) => (typeof input === 'string' ? input : JSON.stringify(input)));
  const promptTokens = texts.reduce((sum, t) => sum + textTokens(t), 0);
  return {
    ok: true,
    body: JSON.stringify({
      object: 'list',
      data: texts.map((text, index) => {
        const values = vector(text, dimensions);
        return { object: 'embedding', index, embedding: base64 ? base64Of(values) : values };
      }),
      model: body.model,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    }),
  };
}

export function rerankAnswer(body: unknown, id: string): Answer {
  if (!isObject(body) || typeof body.model !== 'string') return { ok: false, status: 400, message: 'you must provide a model parameter' };
  if (typeof body.query !== 'string' || !Array.isArray(body.documents)) return { ok: false, status: 400, message: "'query' and 'documents' are required" };
  const query = body.query;
  const words = new Set(query.toLowerCase().split(/\W+/).filter(Boolean));
  const texts = body.documents.map((d) => (typeof d === 'string' ? d : isObject(d) && typeof d.text === 'string' ? d.text : ''));
  // Share of the document's words that appear in the query: crude, deterministic, in [0, 1].
  const scored = texts.map((text, index) => {
    const docWords = text.toLowerCase().split(/\W+/).filter(Boolean);
    const hits = docWords.filter((w) => words.has(w)).length;
    return { index, relevance_score: docWords.length === 0 ? 0 : Math.round((hits / docWords.length) * 1e6) / 1e6, text };
  });
  scored.sort((a, b) => b.relevance_score - a.relevance_score || a.index - b.index);
  const topN = typeof body.top_n === 'number' ? body.top_n : scored.length;
  const tokens = texts.reduce((sum, t) => sum + textTokens(query) + textTokens(t), 0);
  return {
    ok: true,
    body: JSON.stringify({
      id,
      model: body.model,
      results: scored.slice(0, topN).map(({ index, relevance_score, text }) => ({
        index,
        relevance_score,
        ...(body.return_documents === true ? { document: { text } } : {}),
      })),
      usage: { total_tokens: tokens },
    }),
  };
}
