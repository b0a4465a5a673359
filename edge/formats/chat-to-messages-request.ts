// An OpenAI chat request as an Anthropic Messages request, for a Claude model called through
// /v1/chat/completions. system/developer messages become the top-level `system`; tool calls and
// tool results become tool_use / tool_result blocks; consecutive turns of one role are merged,
// because Anthropic wants user and assistant to alternate.

import { ApiError } from '../../shared/errors.ts';
import type { ChatCompletionRequest } from '../../shared/openai-chat.ts';
import { anthropicSourceFromUrl } from './image-source.ts';

type Block = Record<string, unknown>;

/**
 * Anthropic requires max_tokens and OpenAI does not: an OpenAI client that omits it asks for as
 * much as the model gives, which is the catalog's max_output_tokens. Without one, 4096: the
 * smallest output limit of any Claude model, so the supplier never refuses it.
 */
export const FALLBACK_MAX_TOKENS = 4096;
type Turn = { role: 'user' | 'assistant'; content: Block[] };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export function messagesRequestFromChat(body: ChatCompletionRequest, options: { defaultMaxTokens: number }): Record<string, unknown> {
  // Messages answers one choice; dropping `n` would bill and answer fewer than the client asked for.
  if (typeof body.n === 'number' && body.n !== 1) throw new ApiError('invalid_request', "This model answers one choice per request: 'n' must be 1.", { param: 'n' });
  // Nor log probabilities: a client that asked for them reads them from the answer.
  if (body.logprobs === true) throw new ApiError('invalid_request', 'This model does not return log probabilities.', { param: 'logprobs' });
  const system: Block[] = [];
  const turns: Turn[] = [];
  const add = (role: Turn['role'], content: Block[]) => {
    // Anthropic refuses a message with no content (`content: ""` with no tool calls, or only empty
    // parts): it is left out, and the turns on either side of it merge.
    if (content.length === 0) return;
    const last = turns.at(-1);
    if (last?.role === role) last.content.push(...content);
    else turns.push({ role, content: [...content] });
  };
  body.messages.forEach((message, i) => {
    const m = message as Record<string, unknown>;
    if (m.role === 'system' || m.role === 'developer') system.push(...textBlocks(m.content, `messages.${i}.content`));
    else if (m.role === 'user') add('user', userBlocks(m.content, `messages.${i}.content`));
    else if (m.role === 'assistant') add('assistant', assistantBlocks(m, i));
    else if (m.role === 'tool') add('user', [{ type: 'tool_result', tool_use_id: anthropicToolId(m.tool_call_id), content: textBlocks(m.content, `messages.${i}.content`) }]);
    else throw new ApiError('invalid_request', `The role '${String(m.role)}' cannot be sent to this model.`, { param: `messages.${i}.role` });
  });

  const out: Record<string, unknown> = {
    model: body.model,
    messages: turns,
    // Anthropic requires max_tokens; an OpenAI client that omits it means "the model's limit".
    max_tokens: body.max_completion_tokens ?? body.max_tokens ?? options.defaultMaxTokens,
  };
  if (system.length > 0) out.system = system;
  if (body.stream) out.stream = true;
  const stop = stopSequences(body.stop);
  if (stop.length > 0) out.stop_sequences = stop;
  // OpenAI's temperature runs 0..2, Anthropic's 0..1: above 1 is clamped rather than refused.
  if (typeof body.temperature === 'number') out.temperature = Math.min(1, body.temperature);
  // top_p 1 keeps every token, Anthropic's default; many OpenAI clients send it beside a
  // temperature, and newer Claude models refuse the two together: only a real cutoff is sent.
  if (typeof body.top_p === 'number' && body.top_p < 1) out.top_p = body.top_p;
  if (typeof body.user === 'string') out.metadata = { user_id: body.user };
  const schema = jsonSchemaOf(body);
  if (schema) {
    // Messages has no schema-constrained text: the schema becomes the one tool the model must
    // call, and the answer's translation gives its input back as the message content.
    if (Array.isArray(body.tools) && body.tools.length > 0) {
      throw new ApiError('invalid_request', "A response_format of type 'json_schema' cannot be sent to this model together with tools.", { param: 'response_format' });
    }
    out.tools = [{ name: JSON_ANSWER_TOOL, description: 'Give the answer as JSON matching this schema.', input_schema: schema }];
    out.tool_choice = { type: 'tool', name: JSON_ANSWER_TOOL };
    return out;
  }
  const tools = toolsFrom(body.tools);
  if (tools.length > 0) out.tools = tools;
  // Anthropic refuses tool_choice without tools ("tool_choice may only be specified while
  // providing tools"); with none offered, 'none' is what the model does anyway.
  const choice = toolChoiceFrom(body.tool_choice, body.parallel_tool_calls);
  if (choice && tools.length > 0) out.tool_choice = choice;
  return out;
}

/**
 * Anthropic refuses a stop sequence that is empty or only whitespace ("each stop sequence must
 * contain non-whitespace"); OpenAI takes `stop: ["\n"]`. Such entries are dropped: the answer may
 * run on past them, which a client can cut, where a refusal would fail the whole request.
 */
function stopSequences(stop: unknown): string[] {
  const list: unknown[] = typeof stop === 'string' ? [stop] : Array.isArray(stop) ? stop : [];
  return list.filter((s): s is string => typeof s === 'string' && s.trim() !== '');
}

/** Anthropic refuses empty and whitespace-only text blocks ("text content blocks must contain non-whitespace text"). */
const isBlank = (text: string): boolean => text.trim() === '';

/** The tool a `json_schema` answer is given through (edge/formats: the answer's translators read it back). */
export const JSON_ANSWER_TOOL = 'json_answer';

/** The request asks for a json_schema answer: a Claude model gives it through JSON_ANSWER_TOOL. */
export const wantsJsonAnswer = (body: ChatCompletionRequest): boolean => body.response_format?.type === 'json_schema';

/**
 * The schema of a `response_format: json_schema` request, or null for any other. Anthropic's tool
 * input must be an object: any other root is refused (it cannot be carried).
 */
export function jsonSchemaOf(body: ChatCompletionRequest): Record<string, unknown> | null {
  if (!wantsJsonAnswer(body)) return null;
  const spec = (body.response_format as { json_schema?: { schema?: unknown } }).json_schema;
  const schema = isObject(spec) ? spec.schema : undefined;
  if (!isObject(schema) || schema.type !== 'object') {
    throw new ApiError('invalid_request', "This model takes a response_format json_schema whose root is an object.", { param: 'response_format.json_schema.schema' });
  }
  return schema;
}

function textBlocks(content: unknown, param: string): Block[] {
  if (typeof content === 'string') return isBlank(content) ? [] : [{ type: 'text', text: content }];
  if (content === null || content === undefined) return [];
  if (!Array.isArray(content)) throw new ApiError('invalid_request', `Invalid content at '${param}'.`, { param });
  return content.flatMap((part, j) => {
    if (isObject(part) && part.type === 'text' && typeof part.text === 'string') return isBlank(part.text) ? [] : [{ type: 'text', text: part.text }];
    throw new ApiError('invalid_request', `Only text parts are allowed at '${param}.${j}'.`, { param: `${param}.${j}` });
  });
}

function userBlocks(content: unknown, param: string): Block[] {
  if (!Array.isArray(content)) return textBlocks(content, param);
  return content.flatMap((part, j): Block[] => {
    if (isObject(part) && part.type === 'image_url') {
      const url = isObject(part.image_url) ? part.image_url.url : part.image_url;
      if (typeof url === 'string') return [{ type: 'image', source: anthropicSourceFromUrl(url) }];
    }
    if (isObject(part) && part.type === 'text' && typeof part.text === 'string') return isBlank(part.text) ? [] : [{ type: 'text', text: part.text }];
    const type = isObject(part) ? String(part.type) : typeof part;
    throw new ApiError('invalid_request', `Content of type '${type}' cannot be sent to this model.`, { param: `${param}.${j}` });
  });
}

function assistantBlocks(m: Record<string, unknown>, i: number): Block[] {
  const blocks = textBlocks(m.content, `messages.${i}.content`);
  const calls = Array.isArray(m.tool_calls) ? m.tool_calls : [];
  calls.forEach((call, j) => {
    const fn = isObject(call) && isObject(call.function) ? call.function : null;
    if (!fn || typeof fn.name !== 'string') throw new ApiError('invalid_request', 'A tool call needs a function name.', { param: `messages.${i}.tool_calls.${j}` });
    blocks.push({ type: 'tool_use', id: anthropicToolId(call.id), name: fn.name, input: toolInput(fn.arguments, `messages.${i}.tool_calls.${j}.function.arguments`) });
  });
  return blocks;
}

/** Anthropic wants the input as an object; OpenAI carries it as a JSON string. */
function toolInput(args: unknown, param: string): unknown {
  if (args === undefined || args === null || args === '') return {};
  if (typeof args !== 'string') return args;
  try {
    const value: unknown = JSON.parse(args);
    if (isObject(value)) return value;
  } catch {
    // fall through to the error below
  }
  throw new ApiError('invalid_request', `The tool call arguments at '${param}' are not a JSON object.`, { param });
}

function toolsFrom(tools: unknown): Block[] {
  if (!Array.isArray(tools)) return [];
  return tools.map((tool, i) => {
    const fn = isObject(tool) && tool.type === 'function' && isObject(tool.function) ? tool.function : null;
    if (!fn || typeof fn.name !== 'string') throw new ApiError('invalid_request', 'Only function tools can be sent to this model.', { param: `tools.${i}` });
    const out: Block = { name: fn.name, input_schema: fn.parameters ?? { type: 'object', properties: {} } };
    if (typeof fn.description === 'string') out.description = fn.description;
    return out;
  });
}

function toolChoiceFrom(choice: unknown, parallel: unknown): Block | null {
  let out: Block | null = null;
  if (choice === 'none') out = { type: 'none' };
  else if (choice === 'auto') out = { type: 'auto' };
  else if (choice === 'required') out = { type: 'any' };
  else if (isObject(choice) && isObject(choice.function) && typeof choice.function.name === 'string') out = { type: 'tool', name: choice.function.name };
  if (parallel === false && out?.type !== 'none') out = { ...(out ?? { type: 'auto' }), disable_parallel_tool_use: true };
  return out;
}

/**
 * A tool call id as Anthropic takes it (^[a-zA-Z0-9_-]+$). Other suppliers' ids can hold more
 * (`functions.get_weather:0`), and a conversation that failed over from one of them to a Claude
 * route carries those ids in its history, which Anthropic refuses. The same mapping is applied to
 * a call and to its result, so they still pair; ids already valid pass unchanged.
 */
export function anthropicToolId(id: unknown): string {
  const text = String(id ?? '');
  return text.replace(/[^a-zA-Z0-9_-]/g, '_') || 'call';
}
