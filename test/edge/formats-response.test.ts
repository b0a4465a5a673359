// Answer translation both ways: message ⇄ chat.completion, stop reasons, and usage with cached
// tokens kept for billing.
import { describe, expect, it } from 'vitest';
import { messageFromChatCompletion } from '../../edge/formats/chat-completion-to-message.ts';
import { chatCompletionFromMessage } from '../../edge/formats/message-to-chat-completion.ts';
import { finishReasonFromStop, stopReasonFromFinish } from '../../edge/formats/stop-reason.ts';

describe('stop reasons', () => {
  it.each([
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
    ['max_tokens', 'length'],
    ['tool_use', 'tool_calls'],
    ['refusal', 'content_filter'],
  ])('Anthropic %s is OpenAI %s', (stop, finish) => {
    expect(finishReasonFromStop(stop)).toBe(finish);
  });
  it.each([
    ['stop', 'end_turn'],
    ['length', 'max_tokens'],
    ['tool_calls', 'tool_use'],
    ['content_filter', 'refusal'],
  ])('OpenAI %s is Anthropic %s', (finish, stop) => {
    expect(stopReasonFromFinish(finish)).toBe(stop);
  });
});

describe('Anthropic message → chat.completion', () => {
  it('carries text, tool calls, the finish reason and usage with cache reads as cached prompt tokens', () => {
    const answer = chatCompletionFromMessage(
      {
        id: 'msg_1',
        type: 'message',
        content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }],
        stop_reason: 'tool_use',
        usage: { input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 },
      },
      { model: 'claude-public', created: 1_900_000_000 },
    );
    expect(answer.body).toEqual({
      id: 'chatcmpl-msg_1',
      object: 'chat.completion',
      created: 1_900_000_000,
      model: 'claude-public',
      choices: [{
        index: 0,
        logprobs: null,
        finish_reason: 'tool_calls',
        message: { role: 'assistant', content: 'Checking.', refusal: null, tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
      }],
      usage: { prompt_tokens: 130, completion_tokens: 5, total_tokens: 135, prompt_tokens_details: { cached_tokens: 100 } },
    });
    expect(answer.usage).toEqual({ input: 130, output: 5, cachedInput: 100, cacheWrite: 20, reasoning: 0 });
  });
});

describe('chat.completion → Anthropic message', () => {
  it('carries content blocks, the stop reason and usage with cached tokens as cache reads', () => {
    const answer = messageFromChatCompletion(
      {
        id: 'chatcmpl-1',
        object: 'chat.completion',
        choices: [{ index: 0, finish_reason: 'tool_calls', message: { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] } }],
        usage: { prompt_tokens: 130, completion_tokens: 5, total_tokens: 135, prompt_tokens_details: { cached_tokens: 100 }, completion_tokens_details: { reasoning_tokens: 2 } },
      },
      { model: 'open-public' },
    );
    expect(answer.body).toEqual({
      id: 'msg_chatcmpl-1',
      type: 'message',
      role: 'assistant',
      model: 'open-public',
      content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Oslo' } }],
      stop_reason: 'tool_use',
      stop_sequence: null,
      usage: { input_tokens: 30, output_tokens: 5, cache_creation_input_tokens: 0, cache_read_input_tokens: 100 },
    });
    expect(answer.usage).toEqual({ input: 130, output: 5, cachedInput: 100, reasoning: 2 });
  });
});
