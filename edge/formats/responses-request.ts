// A Responses API request as an OpenAI chat-completions request: instructions become the system
// message, input items become messages (function calls and their outputs become tool_calls and
// tool messages), function tools become chat tools. Pure; what cannot be translated is a value
// naming the field, never a silent drop.

import type { ChatCompletionRequest } from '../../shared/openai-chat.ts';
import { ResponsesMessageItem, type ResponsesRequest } from '../../shared/openai-responses.ts';

export type ResponsesTranslation =
  | { ok: true; chat: ChatCompletionRequest }
  | { ok: false; message: string; param: string };

type ChatMessage = Record<string, unknown> & { role: string };
type Refusal = { ok: false; message: string; param: string };

const refuse = (param: string, message: string): Refusal => ({ ok: false, message, param });

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

/** A message's content parts as chat content, or the refusal naming the part that cannot be translated. */
function chatContent(content: string | readonly Record<string, unknown>[], param: string): string | unknown[] | Refusal {
  if (typeof content === 'string') return content;
  const parts: unknown[] = [];
  for (const [i, part] of content.entries()) {
    if ((part.type === 'input_text' || part.type === 'output_text') && typeof part.text === 'string') parts.push({ type: 'text', text: part.text });
    else if (part.type === 'refusal' && typeof part.refusal === 'string') parts.push({ type: 'text', text: part.refusal });
    else if (part.type === 'input_image' && typeof part.image_url === 'string') {
      parts.push({ type: 'image_url', image_url: { url: part.image_url, ...(typeof part.detail === 'string' ? { detail: part.detail } : {}) } });
    } else {
      // file_id images and input_file parts need the Files API, which the gateway does not keep.
      return refuse(`${param}.${i}`, `Content part type '${String(part.type)}' is not supported here; send input_text, or input_image with an image_url.`);
    }
  }
  // Assistant turns and plain text: a string is what every OpenAI-compatible server accepts.
  return parts.every((p) => isRecord(p) && p.type === 'text') ? parts.map((p) => (p as { text: string }).text).join('') : parts;
}

function toolOutput(output: unknown): string {
  if (typeof output === 'string') return output;
  if (Array.isArray(output)) return output.map((p) => (isRecord(p) && typeof p.text === 'string' ? p.text : '')).join('');
  return JSON.stringify(output ?? '');
}

function messagesOf(body: ResponsesRequest): ChatMessage[] | Refusal {
  const messages: ChatMessage[] = [];
  if (body.instructions) messages.push({ role: 'system', content: body.instructions });
  if (typeof body.input === 'string') return [...messages, { role: 'user', content: body.input }];
  for (const [i, item] of body.input.entries()) {
    const param = `input.${i}`;
    const type = item.type ?? 'message';
    if (type === 'message') {
      const parsed = ResponsesMessageItem.safeParse(item);
      if (!parsed.success) return refuse(param, 'A message item needs a role (user, assistant, system, developer) and content.');
      const content = chatContent(parsed.data.content, `${param}.content`);
      if (isRecord(content) && content.ok === false) return content as Refusal;
      // 'developer' is OpenAI's newer name for 'system'; open-model servers know only the latter.
      messages.push({ role: parsed.data.role === 'developer' ? 'system' : parsed.data.role, content });
    } else if (type === 'function_call') {
      if (typeof item.call_id !== 'string' || typeof item.name !== 'string') return refuse(param, 'A function_call item needs call_id and name.');
      const call = { id: item.call_id, type: 'function', function: { name: item.name, arguments: typeof item.arguments === 'string' ? item.arguments : '{}' } };
      // Consecutive calls (and text just before them) are one assistant turn in chat format.
      const last = messages.at(-1);
      if (last?.role === 'assistant') last.tool_calls = [...((last.tool_calls as unknown[] | undefined) ?? []), call];
      else messages.push({ role: 'assistant', content: null, tool_calls: [call] });
    } else if (type === 'function_call_output') {
      if (typeof item.call_id !== 'string') return refuse(param, 'A function_call_output item needs call_id.');
      messages.push({ role: 'tool', tool_call_id: item.call_id, content: toolOutput(item.output) });
    } else if (type === 'reasoning') {
      // Reasoning from an earlier turn is the supplier's own (often encrypted) state; chat has no slot for it.
      continue;
    } else {
      return refuse(param, `Input item type '${type}' is not supported: the gateway keeps no stored items or server-side tools.`);
    }
  }
  return messages;
}

function toolsOf(body: ResponsesRequest): NonNullable<ChatCompletionRequest['tools']> | Refusal | undefined {
  if (!body.tools || body.tools.length === 0) return undefined;
  const tools: NonNullable<ChatCompletionRequest['tools']> = [];
  for (const [i, tool] of body.tools.entries()) {
    if (tool.type !== 'function' || !tool.name) {
      return refuse(`tools.${i}`, `Tool type '${tool.type}' is not supported: only function tools can be forwarded to a supplier.`);
    }
    const fn: Record<string, unknown> = { name: tool.name, parameters: tool.parameters ?? { type: 'object', properties: {} } };
    if (tool.description) fn.description = tool.description;
    if (typeof tool.strict === 'boolean') fn.strict = tool.strict;
    tools.push({ type: 'function', function: fn });
  }
  return tools;
}

function responseFormatOf(body: ResponsesRequest): ChatCompletionRequest['response_format'] {
  const format = body.text?.format;
  if (!format || format.type === 'text') return undefined;
  if (format.type === 'json_object') return { type: 'json_object' };
  const { type: _type, ...schema } = format;
  return { type: 'json_schema', json_schema: schema };
}

export function responsesToChat(body: ResponsesRequest): ResponsesTranslation {
  // The gateway keeps no conversation state (PRODUCT.md §6), so there is nothing to continue from.
  if (body.previous_response_id) {
    return refuse('previous_response_id', 'previous_response_id is not supported: this gateway stores no responses. Send the whole conversation in input.');
  }
  const messages = messagesOf(body);
  if (!Array.isArray(messages)) return messages;
  if (messages.length === 0) return refuse('input', 'input holds no message to answer.');
  const tools = toolsOf(body);
  if (tools && !Array.isArray(tools)) return tools;

  const chat: ChatCompletionRequest = { model: body.model, messages };
  if (tools) chat.tools = tools;
  const choice = body.tool_choice;
  if (choice) {
    // Chat names one function or none; allowed_tools, hosted tools and a nameless choice have no
    // chat form, and sending `function: {}` would have the supplier refuse or ignore it.
    if (typeof choice !== 'string' && (choice.type !== 'function' || !choice.name)) {
      return refuse('tool_choice', `A tool_choice of type '${choice.type}' is not supported: send auto, none, required, or a function with its name.`);
    }
    chat.tool_choice = typeof choice === 'string' ? choice : { type: 'function', function: { name: choice.name } };
  }
  if (typeof body.parallel_tool_calls === 'boolean' && tools) chat.parallel_tool_calls = body.parallel_tool_calls;
  // max_tokens rather than max_completion_tokens: every open-model server reads the former
  // (OpenAI's reasoning models get the latter: providers/openai.ts).
  if (body.max_output_tokens) chat.max_tokens = body.max_output_tokens;
  if (typeof body.temperature === 'number') chat.temperature = body.temperature;
  if (typeof body.top_p === 'number') chat.top_p = body.top_p;
  if (body.user) chat.user = body.user;
  if (body.reasoning?.effort) chat.reasoning_effort = body.reasoning.effort;
  const responseFormat = responseFormatOf(body);
  if (responseFormat) chat.response_format = responseFormat;
  if (body.stream) chat.stream = true;
  return { ok: true, chat };
}
