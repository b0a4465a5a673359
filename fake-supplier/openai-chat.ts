// The OpenAI wire shapes the fake supplier answers with: the parsed chat request, the
// chat.completion body, the chat.completion.chunk SSE events, the error object and the model list.
// Pure: ids and clock come in as arguments. Shapes follow https://platform.openai.com/docs/api-reference/chat

export type ToolSpec = { name: string; parameters: unknown };

export type ChatRequest = {
  model: string;
  messages: readonly unknown[];
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | null;
  // The first tool, when the request offers tools and does not forbid them with tool_choice 'none'.
  firstTool: ToolSpec | null;
};

export type ParseResult = { ok: true; request: ChatRequest } | { ok: false; message: string };

export type Usage = {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number; audio_tokens: number };
  completion_tokens_details: {
    reasoning_tokens: number;
    audio_tokens: number;
    accepted_prediction_tokens: number;
    rejected_prediction_tokens: number;
  };
};

export type CompletionPlan = {
  id: string;
  created: number;
  model: string;
  tool: { id: string; name: string; arguments: string } | null;
  pieces: readonly string[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  usage: Usage | null;
};

export type PlanOptions = {
  id: string;
  created: number;
  completionTokens: number;
  reportUsage: boolean;
  toolCall: boolean;
};

// Each SSE event is a complete `data: …\n\n` string, so the server can write and flush them one by one.
export type ChatEvents = { opening: string; content: readonly string[]; closing: readonly string[] };

const FINGERPRINT = 'fp_fake00001';

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function parseChatRequest(body: unknown): ParseResult {
  if (!isObject(body)) return { ok: false, message: 'The request body must be a JSON object.' };
  const { model, messages, stream, stream_options, max_tokens, max_completion_tokens, tools, tool_choice } = body;
  if (typeof model !== 'string' || model === '') return { ok: false, message: 'you must provide a model parameter' };
  // As OpenAI: metadata tags stored completions, so it needs store.
  if (body.metadata !== undefined && body.metadata !== null && body.store !== true) {
    return { ok: false, message: "The 'metadata' parameter is only allowed when 'store' is enabled." };
  }
  if (!Array.isArray(messages) || messages.length === 0) {
    return { ok: false, message: "'messages' must be a non-empty array" };
  }
  const refused = refusal(body, messages);
  if (refused !== null) return { ok: false, message: refused };
  const limit = typeof max_completion_tokens === 'number' ? max_completion_tokens : max_tokens;
  const first: unknown = Array.isArray(tools) ? tools[0] : undefined;
  const fn = isObject(first) && isObject(first.function) && tool_choice !== 'none' ? first.function : null;
  return {
    ok: true,
    request: {
      model,
      messages,
      stream: stream === true,
      includeUsage: isObject(stream_options) && stream_options.include_usage === true,
      maxTokens: typeof limit === 'number' ? limit : null,
      firstTool: fn && typeof fn.name === 'string' ? { name: fn.name, parameters: fn.parameters } : null,
    },
  };
}

// What OpenAI refuses with a 400 though the shape is right (its messages, as it words them), so a
// translation that sends these fails the e2e tests as it would fail in production.
function refusal(body: Record<string, unknown>, messages: readonly unknown[]): string | null {
  if (typeof body.user === 'string' && body.user.length > 64) {
    return `Invalid 'user': string too long. Expected a string with maximum length 64, but got a string with length ${body.user.length} instead.`;
  }
  const i = messages.findIndex(
    (m) => isObject(m) && m.role === 'assistant' && (m.content === null || m.content === undefined) && !(Array.isArray(m.tool_calls) && m.tool_calls.length > 0),
  );
  return i === -1 ? null : `Invalid value for 'messages[${i}].content': expected a string, got null.`;
}

// Characters of all text content / 4, at least 1: crude, but a test can predict it.
export function promptTokens(messages: readonly unknown[]): number {
  let chars = 0;
  for (const message of messages) {
    const content = isObject(message) ? message.content : undefined;
    if (typeof content === 'string') chars += content.length;
    else if (Array.isArray(content)) {
      for (const part of content) if (isObject(part) && typeof part.text === 'string') chars += part.text.length;
    }
  }
  return Math.max(1, Math.ceil(chars / 4));
}

export function planCompletion(request: ChatRequest, options: PlanOptions): CompletionPlan {
  const prompt = promptTokens(request.messages);
  const usageFor = (completion: number): Usage | null =>
    options.reportUsage
      ? {
          prompt_tokens: prompt,
          completion_tokens: completion,
          total_tokens: prompt + completion,
          prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
          completion_tokens_details: {
            reasoning_tokens: 0,
            audio_tokens: 0,
            accepted_prediction_tokens: 0,
            rejected_prediction_tokens: 0,
          },
        }
      : null;
  const base = { id: options.id, created: options.created, model: request.model };
  // A tool call ignores max_tokens: truncated arguments would only test the client's JSON parser.
  if (options.toolCall && request.firstTool) {
    const args = toolArguments(request.firstTool.parameters);
    const pieces = splitInto(args, options.completionTokens);
    const tool = { id: `call_${options.id.slice(-24)}`, name: request.firstTool.name, arguments: args };
    return { ...base, tool, pieces, finishReason: 'tool_calls', usage: usageFor(options.completionTokens) };
  }
  const count = Math.max(0, Math.min(options.completionTokens, request.maxTokens ?? Infinity));
  const pieces = Array.from({ length: count }, (_, i) => (i === 0 ? `tok${i}` : ` tok${i}`));
  const finishReason = count < options.completionTokens ? 'length' : 'stop';
  return { ...base, tool: null, pieces, finishReason, usage: usageFor(count) };
}

export function completionBody(plan: CompletionPlan): string {
  const tool = plan.tool;
  const call = tool && { id: tool.id, type: 'function', function: { name: tool.name, arguments: tool.arguments } };
  const message = call
    ? { role: 'assistant', content: null, tool_calls: [call], refusal: null, annotations: [] }
    : { role: 'assistant', content: plan.pieces.join(''), refusal: null, annotations: [] };
  return JSON.stringify({
    id: plan.id,
    object: 'chat.completion',
    created: plan.created,
    model: plan.model,
    choices: [{ index: 0, message, logprobs: null, finish_reason: plan.finishReason }],
    ...(plan.usage ? { usage: plan.usage } : {}),
    service_tier: 'default',
    system_fingerprint: FINGERPRINT,
  });
}

export function chatEvents(plan: CompletionPlan, options: { includeUsage: boolean }): ChatEvents {
  // OpenAI adds "usage": null to every chunk once include_usage is set, then one chunk with
  // empty choices carrying the usage (stream_options in the API reference).
  const withUsage = options.includeUsage && plan.usage !== null;
  const event = (choices: unknown[], usage?: Usage): string =>
    `data: ${JSON.stringify({
      id: plan.id,
      object: 'chat.completion.chunk',
      created: plan.created,
      model: plan.model,
      service_tier: 'default',
      system_fingerprint: FINGERPRINT,
      choices,
      ...(withUsage ? { usage: usage ?? null } : {}),
    })}\n\n`;
  const choice = (delta: object, finishReason: string | null = null): unknown[] => [
    { index: 0, delta, logprobs: null, finish_reason: finishReason },
  ];
  const tool = plan.tool;
  const firstCall = tool && { index: 0, id: tool.id, type: 'function', function: { name: tool.name, arguments: '' } };
  const opening = firstCall
    ? event(choice({ role: 'assistant', content: null, tool_calls: [firstCall], refusal: null }))
    : event(choice({ role: 'assistant', content: '', refusal: null }));
  const content = plan.pieces.map((piece) =>
    event(choice(tool ? { tool_calls: [{ index: 0, function: { arguments: piece } }] } : { content: piece })),
  );
  const closing = [event(choice({}, plan.finishReason))];
  if (withUsage && plan.usage) closing.push(event([], plan.usage));
  closing.push('data: [DONE]\n\n');
  return { opening, content, closing };
}

export function errorBody(message: string, type: string, code: string | null = null): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

// The error OpenAI sends for a status, used when a test injects a failure without its own body.
export function errorBodyForStatus(status: number): string {
  if (status === 429) return errorBody('Rate limit reached for requests', 'requests', 'rate_limit_exceeded');
  if (status === 401) return errorBody('Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
  if (status >= 500) return errorBody('The server had an error while processing your request.', 'server_error');
  return errorBody(`Request failed with status ${status}.`, 'invalid_request_error');
}

export const MODEL_LIST = JSON.stringify({
  object: 'list',
  data: ['gpt-4o-mini', 'gpt-4o', 'fake-small'].map((id) => ({
    id,
    object: 'model',
    created: 1_715_367_049,
    owned_by: 'system',
  })),
});

// Deterministic arguments built from the tool's JSON schema, so they validate against simple schemas.
function toolArguments(parameters: unknown): string {
  const properties = isObject(parameters) && isObject(parameters.properties) ? parameters.properties : {};
  const args: Record<string, unknown> = {};
  Object.entries(properties).forEach(([name, schema], i) => {
    const type = isObject(schema) ? schema.type : undefined;
    const numeric = type === 'number' || type === 'integer';
    args[name] = numeric ? i : type === 'boolean' ? false : type === 'array' ? [] : `tok${i}`;
  });
  return JSON.stringify(args);
}

function splitInto(text: string, parts: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, parts)));
  const pieces: string[] = [];
  for (let at = 0; at < text.length; at += size) pieces.push(text.slice(at, at + size));
  return pieces;
}
