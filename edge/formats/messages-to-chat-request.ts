// An Anthropic Messages request as an OpenAI chat request, for an OpenAI-format model called
// through /v1/messages. The top-level `system` becomes a system message; tool_result blocks become
// `tool` messages placed right after the assistant's tool calls, as OpenAI requires.

import type { ContentBlock, MessagesRequest } from '../../shared/anthropic-messages.ts';
import { ApiError } from '../../shared/errors.ts';
import type { ChatCompletionRequest } from '../../shared/openai-chat.ts';
import { urlFromAnthropicSource } from './image-source.ts';

type ChatMessage = Record<string, unknown>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** OpenAI's longest `user` ("string too long … maximum length 64"); Claude Code's user_id is ~120 characters. */
export const MAX_OPENAI_USER_LENGTH = 64;

/**
 * `maxOutputTokens`: the catalog model's output limit, or null when it has none. Anthropic clients
 * send large max_tokens (Claude Code: 32000) that OpenAI-format models refuse (gpt-4o allows
 * 16384; vLLM refuses prompt + max_tokens beyond the context), so it is clamped to the limit.
 */
export function chatRequestFromMessages(body: MessagesRequest, options: { maxOutputTokens: number | null }): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  const system = textOf(body.system ?? '', 'system');
  if (system) messages.push({ role: 'system', content: system });
  body.messages.forEach((m, i) => {
    if (m.role === 'assistant') messages.push(assistantMessage(m.content, i));
    else messages.push(...userMessages(m.content, i));
  });

  const maxTokens = options.maxOutputTokens === null ? body.max_tokens : Math.min(body.max_tokens, options.maxOutputTokens);
  const out: ChatCompletionRequest = { model: body.model, messages: messages as ChatCompletionRequest['messages'], max_tokens: maxTokens };
  if (body.stream) out.stream = true;
  if (body.stop_sequences && body.stop_sequences.length > 0) out.stop = body.stop_sequences;
  if (typeof body.temperature === 'number') out.temperature = body.temperature;
  if (typeof body.top_p === 'number') out.top_p = body.top_p;
  // A longer id is dropped rather than cut: a cut id could merge users in the supplier's abuse tracking.
  const user = body.metadata?.user_id;
  if (typeof user === 'string' && user.length <= MAX_OPENAI_USER_LENGTH) out.user = user;
  if (body.tools && body.tools.length > 0) {
    out.tools = body.tools.map((tool, i) => {
      if (tool.input_schema === undefined) throw new ApiError('invalid_request', `The tool '${tool.name}' is an Anthropic server tool, which this model cannot run.`, { param: `tools.${i}` });
      const fn: Record<string, unknown> = { name: tool.name, parameters: tool.input_schema };
      if (tool.description !== undefined) fn.description = tool.description;
      return { type: 'function', function: fn };
    });
  }
  const choice = body.tool_choice;
  if (choice) {
    if (choice.type === 'none') out.tool_choice = 'none';
    else if (choice.type === 'any') out.tool_choice = 'required';
    else if (choice.type === 'tool' && choice.name) out.tool_choice = { type: 'function', function: { name: choice.name } };
    else out.tool_choice = 'auto';
    if (choice.disable_parallel_tool_use === true && out.tools) out.parallel_tool_calls = false;
  }
  return out;
}

function textOf(content: string | ContentBlock[], param: string): string {
  if (typeof content === 'string') return content;
  return content
    .map((block, j) => {
      if (block.type === 'text' && typeof block.text === 'string') return block.text;
      throw new ApiError('invalid_request', `Only text blocks are allowed at '${param}.${j}'.`, { param: `${param}.${j}` });
    })
    .join('\n\n');
}

function userMessages(content: string | ContentBlock[], i: number): ChatMessage[] {
  if (typeof content === 'string') return [{ role: 'user', content }];
  const results: ChatMessage[] = [];
  const parts: Record<string, unknown>[] = [];
  content.forEach((block, j) => {
    const param = `messages.${i}.content.${j}`;
    if (block.type === 'tool_result') {
      const inner = block.content;
      const text = inner === undefined ? '' : typeof inner === 'string' ? inner : textOf(inner as ContentBlock[], `${param}.content`);
      results.push({ role: 'tool', tool_call_id: String(block.tool_use_id ?? ''), content: block.is_error === true && text === '' ? 'error' : text });
    } else if (block.type === 'text' && typeof block.text === 'string') {
      parts.push({ type: 'text', text: block.text });
    } else if (block.type === 'image') {
      const url = urlFromAnthropicSource(block.source);
      if (!url) throw new ApiError('invalid_request', `This image source cannot be sent to this model.`, { param: `${param}.source` });
      parts.push({ type: 'image_url', image_url: { url } });
    } else {
      throw new ApiError('invalid_request', `Content of type '${block.type}' cannot be sent to this model.`, { param });
    }
  });
  // Tool results answer the previous assistant turn, so they come before any new user content.
  if (parts.length > 0) results.push({ role: 'user', content: parts.every((p) => p.type === 'text') ? parts.map((p) => p.text).join('\n\n') : parts });
  return results;
}

function assistantMessage(content: string | ContentBlock[], i: number): ChatMessage {
  if (typeof content === 'string') return { role: 'assistant', content };
  const texts: string[] = [];
  const toolCalls: unknown[] = [];
  content.forEach((block, j) => {
    if (block.type === 'text' && typeof block.text === 'string') texts.push(block.text);
    else if (block.type === 'tool_use') {
      toolCalls.push({ id: String(block.id ?? ''), type: 'function', function: { name: String(block.name ?? ''), arguments: JSON.stringify(isObject(block.input) ? block.input : {}) } });
    } else if (block.type !== 'thinking' && block.type !== 'redacted_thinking') {
      // Thinking blocks are Anthropic's own record of reasoning; another model cannot use them.
      throw new ApiError('invalid_request', `Content of type '${block.type}' cannot be sent to this model.`, { param: `messages.${i}.content.${j}` });
    }
  });
  // OpenAI refuses content null without tool_calls, which a turn of thinking alone would give. It
  // becomes "" rather than being dropped: open-model chat templates (Mistral's, Llama's) refuse
  // two user turns in a row, and "" keeps the turns alternating as the client sent them.
  const message: ChatMessage = { role: 'assistant', content: texts.length > 0 ? texts.join('') : toolCalls.length > 0 ? null : '' };
  if (toolCalls.length > 0) message.tool_calls = toolCalls;
  return message;
}
