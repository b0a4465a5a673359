// The Anthropic Messages wire shapes the fake supplier answers with: the parsed request, the
// message body, the streamed events in their documented order, errors and token counts.
// Pure: ids come in as arguments. Shapes follow https://docs.anthropic.com/en/api/messages and
// https://docs.anthropic.com/en/docs/build-with-claude/streaming

import type { ChatEvents } from './openai-chat.ts';

export type MessagesRequest = {
  model: string;
  messages: readonly unknown[];
  system: unknown;
  tools: readonly unknown[];
  stream: boolean;
  maxTokens: number;
  // The first custom tool, unless tool_choice is {type:'none'}.
  firstTool: { name: string; inputSchema: unknown } | null;
};

export type ParseResult = { ok: true; request: MessagesRequest } | { ok: false; message: string };

export type StopReason = 'end_turn' | 'max_tokens' | 'tool_use' | 'stop_sequence';

export type AnthropicUsage = {
  input_tokens: number;
  output_tokens: number;
  cache_creation_input_tokens: number;
  cache_read_input_tokens: number;
};

export type MessagePlan = {
  id: string;
  model: string;
  tool: { id: string; name: string; json: string } | null;
  pieces: readonly string[];
  stopReason: StopReason;
  usage: AnthropicUsage | null;
};

export type PlanOptions = { id: string; completionTokens: number; reportUsage: boolean; toolCall: boolean };

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

export function parseMessagesRequest(body: unknown, options: { countOnly: boolean }): ParseResult {
  if (!isObject(body)) return { ok: false, message: 'The request body must be a JSON object.' };
  const { model, messages, max_tokens, stream, system, tools, tool_choice } = body;
  if (typeof model !== 'string' || model === '') return { ok: false, message: 'model: Field required' };
  if (!Array.isArray(messages) || messages.length === 0) return { ok: false, message: 'messages: at least one message is required' };
  // As Anthropic: metadata holds user_id and nothing else.
  const extra = isObject(body.metadata) ? Object.keys(body.metadata).find((k) => k !== 'user_id') : undefined;
  if (extra !== undefined) return { ok: false, message: `metadata.${extra}: Extra inputs are not permitted` };
  // Anthropic has no default output limit: max_tokens is required on /v1/messages.
  if (!options.countOnly && (typeof max_tokens !== 'number' || max_tokens < 1)) return { ok: false, message: 'max_tokens: Field required' };
  const toolList = Array.isArray(tools) ? tools : [];
  const refused = refusal(body, messages, toolList);
  if (refused !== null) return { ok: false, message: refused };
  const first: unknown = toolList[0];
  const forbidden = isObject(tool_choice) && tool_choice.type === 'none';
  const firstTool = isObject(first) && typeof first.name === 'string' && !forbidden ? { name: first.name, inputSchema: first.input_schema } : null;
  return {
    ok: true,
    request: { model, messages, system, tools: toolList, stream: stream === true, maxTokens: typeof max_tokens === 'number' ? max_tokens : 0, firstTool },
  };
}

// What Anthropic refuses with a 400 though the shape is right (its messages, as it words them), so
// a translation that sends these fails the e2e tests as it would fail in production.
function refusal(body: Record<string, unknown>, messages: readonly unknown[], tools: readonly unknown[]): string | null {
  if (body.tool_choice !== undefined && tools.length === 0) return 'tool_choice: tool_choice may only be specified while providing tools';
  const stops = Array.isArray(body.stop_sequences) ? body.stop_sequences : [];
  if (stops.some((s) => typeof s !== 'string' || s.trim() === '')) return 'stop_sequences: each stop sequence must contain non-whitespace';
  const systemBlank = blankTextAt(body.system, 'system');
  if (systemBlank !== null) return systemBlank;
  for (const [i, message] of messages.entries()) {
    const content = isObject(message) ? message.content : undefined;
    const final = i === messages.length - 1 && isObject(message) && message.role === 'assistant';
    const empty = content === '' || (Array.isArray(content) && content.length === 0);
    if (empty && !final) return `messages.${i}: all messages must have non-empty content except for the optional final assistant message`;
    const blank = blankTextAt(content, `messages.${i}.content`);
    if (blank !== null) return blank;
    const badId = Array.isArray(content)
      ? content.findIndex((b) => isObject(b) && ((b.type === 'tool_use' && !TOOL_ID.test(String(b.id))) || (b.type === 'tool_result' && !TOOL_ID.test(String(b.tool_use_id)))))
      : -1;
    if (badId !== -1) return `messages.${i}.content.${badId}: String should match pattern '^[a-zA-Z0-9_-]+$'`;
  }
  return null;
}

const TOOL_ID = /^[a-zA-Z0-9_-]+$/;

/** The refusal for an empty or whitespace-only text block among `content`'s blocks, if any. */
function blankTextAt(content: unknown, param: string): string | null {
  if (!Array.isArray(content)) return null;
  const j = content.findIndex((block) => isObject(block) && block.type === 'text' && typeof block.text === 'string' && block.text.trim() === '');
  return j === -1 ? null : `${param}.${j}.text: text content blocks must contain non-whitespace text`;
}

// Characters of the system prompt, text blocks and tool definitions / 4, at least 1: crude, but
// a test can predict it.
export function inputTokens(request: Pick<MessagesRequest, 'messages' | 'system' | 'tools'>): number {
  let chars = textLength(request.system);
  for (const message of request.messages) chars += textLength(isObject(message) ? message.content : undefined);
  for (const tool of request.tools) chars += JSON.stringify(tool).length;
  return Math.max(1, Math.ceil(chars / 4));
}

function textLength(content: unknown): number {
  if (typeof content === 'string') return content.length;
  if (!Array.isArray(content)) return 0;
  let chars = 0;
  for (const block of content) if (isObject(block) && typeof block.text === 'string') chars += block.text.length;
  return chars;
}

export function planMessage(request: MessagesRequest, options: PlanOptions): MessagePlan {
  const prompt = inputTokens(request);
  const usageFor = (output: number): AnthropicUsage | null =>
    options.reportUsage ? { input_tokens: prompt, output_tokens: output, cache_creation_input_tokens: 0, cache_read_input_tokens: 0 } : null;
  const base = { id: options.id, model: request.model };
  if (options.toolCall && request.firstTool) {
    const json = toolInput(request.firstTool.inputSchema);
    const tool = { id: `toolu_${options.id.slice(-24)}`, name: request.firstTool.name, json };
    return { ...base, tool, pieces: splitInto(json, options.completionTokens), stopReason: 'tool_use', usage: usageFor(options.completionTokens) };
  }
  const count = Math.max(0, Math.min(options.completionTokens, request.maxTokens));
  const pieces = Array.from({ length: count }, (_, i) => (i === 0 ? `tok${i}` : ` tok${i}`));
  return { ...base, tool: null, pieces, stopReason: count < options.completionTokens ? 'max_tokens' : 'end_turn', usage: usageFor(count) };
}

function contentBlocks(plan: MessagePlan): unknown[] {
  if (plan.tool) return [{ type: 'tool_use', id: plan.tool.id, name: plan.tool.name, input: JSON.parse(plan.tool.json) as unknown }];
  return [{ type: 'text', text: plan.pieces.join('') }];
}

export function messageBody(plan: MessagePlan): string {
  return JSON.stringify({
    id: plan.id,
    type: 'message',
    role: 'assistant',
    model: plan.model,
    content: contentBlocks(plan),
    stop_reason: plan.stopReason,
    stop_sequence: null,
    ...(plan.usage ? { usage: plan.usage } : {}),
  });
}

const sse = (name: string, data: unknown): string => `event: ${name}\ndata: ${JSON.stringify(data)}\n\n`;

/** The events in the documented order; `content` holds one content_block_delta per piece. */
export function messageEvents(plan: MessagePlan): ChatEvents {
  const startUsage = plan.usage && { ...plan.usage, output_tokens: 1 };
  const block = plan.tool ? { type: 'tool_use', id: plan.tool.id, name: plan.tool.name, input: {} } : { type: 'text', text: '' };
  const opening =
    sse('message_start', {
      type: 'message_start',
      message: {
        id: plan.id, type: 'message', role: 'assistant', model: plan.model, content: [], stop_reason: null, stop_sequence: null,
        ...(startUsage ? { usage: startUsage } : {}),
      },
    }) +
    sse('content_block_start', { type: 'content_block_start', index: 0, content_block: block }) +
    sse('ping', { type: 'ping' });
  const content = plan.pieces.map((piece) =>
    sse('content_block_delta', {
      type: 'content_block_delta',
      index: 0,
      delta: plan.tool ? { type: 'input_json_delta', partial_json: piece } : { type: 'text_delta', text: piece },
    }),
  );
  const closing = [
    sse('content_block_stop', { type: 'content_block_stop', index: 0 }),
    sse('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: plan.stopReason, stop_sequence: null },
      ...(plan.usage ? { usage: { output_tokens: plan.usage.output_tokens } } : {}),
    }),
    sse('message_stop', { type: 'message_stop' }),
  ];
  return { opening, content, closing };
}

export function anthropicError(type: string, message: string): string {
  return JSON.stringify({ type: 'error', error: { type, message } });
}

// The error Anthropic sends for a status (https://docs.anthropic.com/en/api/errors).
export function anthropicErrorForStatus(status: number): string {
  if (status === 429) return anthropicError('rate_limit_error', 'Number of request tokens has exceeded your per-minute rate limit');
  if (status === 401) return anthropicError('authentication_error', 'invalid x-api-key');
  if (status === 529) return anthropicError('overloaded_error', 'Overloaded');
  if (status >= 500) return anthropicError('api_error', 'Internal server error');
  return anthropicError('invalid_request_error', `Request failed with status ${status}.`);
}

// Deterministic input built from the tool's JSON schema, so it validates against simple schemas.
function toolInput(schema: unknown): string {
  const properties = isObject(schema) && isObject(schema.properties) ? schema.properties : {};
  const input: Record<string, unknown> = {};
  Object.entries(properties).forEach(([name, property], i) => {
    const type = isObject(property) ? property.type : undefined;
    input[name] = type === 'number' || type === 'integer' ? i : type === 'boolean' ? false : type === 'array' ? [] : `tok${i}`;
  });
  return JSON.stringify(input);
}

function splitInto(text: string, parts: number): string[] {
  const size = Math.max(1, Math.ceil(text.length / Math.max(1, parts)));
  const pieces: string[] = [];
  for (let at = 0; at < text.length; at += size) pieces.push(text.slice(at, at + size));
  return pieces;
}
