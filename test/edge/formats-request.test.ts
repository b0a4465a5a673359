// Request translation both ways, table-driven: system prompts, text, images, tools, tool choice,
// tool calls and results, output limits, stop sequences and sampling settings.
import { describe, expect, it } from 'vitest';
import { MessagesRequest } from '../../shared/anthropic-messages.ts';
import { ApiError } from '../../shared/errors.ts';
import { ChatCompletionRequest } from '../../shared/openai-chat.ts';
import { messagesRequestFromChat } from '../../edge/formats/chat-to-messages-request.ts';
import { chatRequestFromMessages } from '../../edge/formats/messages-to-chat-request.ts';

const PNG = 'data:image/png;base64,iVBORw0KGgo=';
const weatherFn = { name: 'get_weather', description: 'Weather in a city', parameters: { type: 'object', properties: { city: { type: 'string' } } } };
const weatherTool = { name: 'get_weather', description: 'Weather in a city', input_schema: weatherFn.parameters };

const toAnthropic = (body: Record<string, unknown>) =>
  messagesRequestFromChat(ChatCompletionRequest.parse({ model: 'm', ...body }), { defaultMaxTokens: 1000 });
const toOpenAi = (body: Record<string, unknown>, options: { maxOutputTokens: number | null } = { maxOutputTokens: null }) =>
  chatRequestFromMessages(MessagesRequest.parse({ model: 'm', max_tokens: 500, ...body }), options);

describe('OpenAI chat request → Anthropic Messages request', () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    [
      'system and developer messages become the top-level system',
      { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'developer', content: [{ type: 'text', text: 'No emoji.' }] }, { role: 'user', content: 'Hi' }] },
      { system: [{ type: 'text', text: 'Be brief.' }, { type: 'text', text: 'No emoji.' }], messages: [{ role: 'user', content: [{ type: 'text', text: 'Hi' }] }] },
    ],
    [
      'a data-URL image becomes a base64 source, an http URL a url source',
      { messages: [{ role: 'user', content: [{ type: 'text', text: 'What?' }, { type: 'image_url', image_url: { url: PNG } }, { type: 'image_url', image_url: { url: 'https://img.test/a.jpg' } }] }] },
      {
        messages: [{ role: 'user', content: [
          { type: 'text', text: 'What?' },
          { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
          { type: 'image', source: { type: 'url', url: 'https://img.test/a.jpg' } },
        ] }],
      },
    ],
    [
      'function tools become tools with input_schema; required becomes any',
      { messages: [{ role: 'user', content: 'Weather?' }], tools: [{ type: 'function', function: weatherFn }], tool_choice: 'required' },
      { tools: [weatherTool], tool_choice: { type: 'any' } },
    ],
    [
      'a named function choice becomes a tool choice; parallel_tool_calls false disables parallel use',
      { messages: [{ role: 'user', content: 'Weather?' }], tools: [{ type: 'function', function: weatherFn }], tool_choice: { type: 'function', function: { name: 'get_weather' } }, parallel_tool_calls: false },
      { tool_choice: { type: 'tool', name: 'get_weather', disable_parallel_tool_use: true } },
    ],
    [
      'assistant tool calls become tool_use blocks and tool messages become one user turn of tool_result blocks',
      {
        messages: [
          { role: 'user', content: 'Weather in Oslo and Rome?' },
          { role: 'assistant', content: null, tool_calls: [
            { id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } },
            { id: 'call_2', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Rome"}' } },
          ] },
          { role: 'tool', tool_call_id: 'call_1', content: 'cold' },
          { role: 'tool', tool_call_id: 'call_2', content: 'warm' },
        ],
      },
      {
        messages: [
          { role: 'user', content: [{ type: 'text', text: 'Weather in Oslo and Rome?' }] },
          { role: 'assistant', content: [
            { type: 'tool_use', id: 'call_1', name: 'get_weather', input: { city: 'Oslo' } },
            { type: 'tool_use', id: 'call_2', name: 'get_weather', input: { city: 'Rome' } },
          ] },
          { role: 'user', content: [
            { type: 'tool_result', tool_use_id: 'call_1', content: [{ type: 'text', text: 'cold' }] },
            { type: 'tool_result', tool_use_id: 'call_2', content: [{ type: 'text', text: 'warm' }] },
          ] },
        ],
      },
    ],
    ['max_tokens is required by Anthropic: the default applies when the client sends none', { messages: [{ role: 'user', content: 'x' }] }, { max_tokens: 1000 }],
    ['max_completion_tokens wins over max_tokens', { messages: [{ role: 'user', content: 'x' }], max_tokens: 5, max_completion_tokens: 9 }, { max_tokens: 9 }],
    [
      'stop becomes stop_sequences; temperature above 1 is clamped; top_p, stream and user pass',
      { messages: [{ role: 'user', content: 'x' }], stop: 'END', temperature: 1.5, top_p: 0.9, stream: true, user: 'u-1' },
      { stop_sequences: ['END'], temperature: 1, top_p: 0.9, stream: true, metadata: { user_id: 'u-1' } },
    ],
  ];

  it('leaves out top_p 1 (no cutoff, Anthropic\'s default), which newer Claude models refuse beside a temperature', () => {
    const sent = toAnthropic({ messages: [{ role: 'user', content: 'x' }], temperature: 0.7, top_p: 1 });
    expect(sent).toMatchObject({ temperature: 0.7 });
    expect(sent).not.toHaveProperty('top_p');
  });
  it.each(cases)('%s', (_name, input, expected) => {
    expect(toAnthropic(input)).toMatchObject(expected);
  });

  it('drops empty and whitespace-only stop entries, which Anthropic refuses, and sends no stop_sequences when none is left', () => {
    expect(toAnthropic({ messages: [{ role: 'user', content: 'x' }], stop: ['\n', '', 'END', ' \t'] })).toMatchObject({ stop_sequences: ['END'] });
    expect(toAnthropic({ messages: [{ role: 'user', content: 'x' }], stop: ['\n\n'] })).not.toHaveProperty('stop_sequences');
    expect(toAnthropic({ messages: [{ role: 'user', content: 'x' }], stop: '\n' })).not.toHaveProperty('stop_sequences');
  });

  it('drops empty text parts and messages left empty, which Anthropic refuses, merging the turns around them', () => {
    const sent = toAnthropic({
      messages: [
        { role: 'system', content: [{ type: 'text', text: '' }] },
        { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'text', text: '' }, { type: 'image_url', image_url: { url: PNG } }] },
        { role: 'assistant', content: '' },
        { role: 'user', content: [{ type: 'text', text: ' ' }] },
        { role: 'user', content: 'Again' },
        { role: 'assistant', content: [{ type: 'text', text: '' }], tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'f', arguments: '' } }] },
      ],
    });
    expect(sent).not.toHaveProperty('system');
    expect(sent.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Hi' }, { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } }, { type: 'text', text: 'Again' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'call_1', name: 'f', input: {} }] },
    ]);
  });

  it('sends no tool_choice without tools (Anthropic refuses it), tool_choice none included', () => {
    for (const tool_choice of ['none', 'auto', 'required']) {
      expect(toAnthropic({ messages: [{ role: 'user', content: 'x' }], tool_choice })).not.toHaveProperty('tool_choice');
    }
    expect(toAnthropic({ messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'function', function: weatherFn }], tool_choice: 'none' })).toMatchObject({ tool_choice: { type: 'none' } });
  });

  it('sends a data-URL image/jpg as image/jpeg, the only spelling Anthropic takes', () => {
    const sent = toAnthropic({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/jpg;base64,/9j/4AAQ' } }] }] });
    expect(sent.messages).toEqual([{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: '/9j/4AAQ' } }] }]);
  });

  it('refuses content the other format cannot carry with a 400 naming the part', () => {
    const error = (() => {
      try {
        toAnthropic({ messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] });
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ code: 'invalid_request', param: 'messages.0.content.0' });
  });
});

describe('Anthropic Messages request → OpenAI chat request', () => {
  const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
    [
      'the system prompt becomes the first system message',
      { system: [{ type: 'text', text: 'Be brief.' }], messages: [{ role: 'user', content: 'Hi' }] },
      { messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }], max_tokens: 500 },
    ],
    [
      'base64 and url images become image_url parts',
      { messages: [{ role: 'user', content: [
        { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'iVBORw0KGgo=' } },
        { type: 'image', source: { type: 'url', url: 'https://img.test/a.jpg' } },
        { type: 'text', text: 'What?' },
      ] }] },
      { messages: [{ role: 'user', content: [
        { type: 'image_url', image_url: { url: PNG } },
        { type: 'image_url', image_url: { url: 'https://img.test/a.jpg' } },
        { type: 'text', text: 'What?' },
      ] }] },
    ],
    [
      'tools become function tools; any becomes required; disable_parallel_tool_use becomes parallel_tool_calls false',
      { messages: [{ role: 'user', content: 'Weather?' }], tools: [weatherTool], tool_choice: { type: 'any', disable_parallel_tool_use: true } },
      { tools: [{ type: 'function', function: weatherFn }], tool_choice: 'required', parallel_tool_calls: false },
    ],
    [
      'a tool choice becomes a named function choice',
      { messages: [{ role: 'user', content: 'Weather?' }], tools: [weatherTool], tool_choice: { type: 'tool', name: 'get_weather' } },
      { tool_choice: { type: 'function', function: { name: 'get_weather' } } },
    ],
    [
      'tool_use blocks become tool_calls and tool_result blocks become tool messages before the user text',
      { messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: [{ type: 'text', text: 'Checking.' }, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'cold' }, { type: 'text', text: 'And tomorrow?' }] },
      ] },
      { messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } }] },
        { role: 'tool', tool_call_id: 'toolu_1', content: 'cold' },
        { role: 'user', content: 'And tomorrow?' },
      ] },
    ],
    [
      'stop_sequences become stop; temperature, top_p, stream and metadata.user_id pass',
      { messages: [{ role: 'user', content: 'x' }], stop_sequences: ['END'], temperature: 0.2, top_p: 0.5, stream: true, metadata: { user_id: 'u-1' } },
      { stop: ['END'], temperature: 0.2, top_p: 0.5, stream: true, user: 'u-1' },
    ],
  ];
  it.each(cases)('%s', (_name, input, expected) => {
    expect(toOpenAi(input)).toMatchObject(expected);
  });

  it('sends an assistant turn of thinking alone as content "" (OpenAI refuses null without tool calls), keeping the turns alternating', () => {
    const sent = toOpenAi({ messages: [
      { role: 'user', content: 'Think.' },
      { role: 'assistant', content: [{ type: 'thinking', thinking: 'hm', signature: 'sig' }] },
      { role: 'user', content: 'And?' },
    ] });
    expect(sent.messages).toEqual([{ role: 'user', content: 'Think.' }, { role: 'assistant', content: '' }, { role: 'user', content: 'And?' }]);
    const withCall = toOpenAi({ messages: [{ role: 'user', content: 'x' }, { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'f', input: {} }] }] });
    expect(withCall.messages[1]).toMatchObject({ role: 'assistant', content: null, tool_calls: [{ id: 't' }] });
  });

  it("clamps max_tokens to the model's output limit (Claude Code asks 32000; gpt-4o allows 16384)", () => {
    expect(toOpenAi({ max_tokens: 32_000, messages: [{ role: 'user', content: 'x' }] }, { maxOutputTokens: 16_384 })).toMatchObject({ max_tokens: 16_384 });
    expect(toOpenAi({ max_tokens: 100, messages: [{ role: 'user', content: 'x' }] }, { maxOutputTokens: 16_384 })).toMatchObject({ max_tokens: 100 });
    expect(toOpenAi({ max_tokens: 32_000, messages: [{ role: 'user', content: 'x' }] }, { maxOutputTokens: null })).toMatchObject({ max_tokens: 32_000 });
  });

  it("drops a metadata.user_id longer than OpenAI's 64-character user", () => {
    expect(toOpenAi({ messages: [{ role: 'user', content: 'x' }], metadata: { user_id: 'u'.repeat(64) } })).toMatchObject({ user: 'u'.repeat(64) });
    expect(toOpenAi({ messages: [{ role: 'user', content: 'x' }], metadata: { user_id: `user_${'a'.repeat(64)}_account__session_${'b'.repeat(36)}` } })).not.toHaveProperty('user');
  });

  it('refuses an Anthropic server tool, which an OpenAI-format model cannot run', () => {
    expect(() => toOpenAi({ messages: [{ role: 'user', content: 'x' }], tools: [{ type: 'web_search_20250305', name: 'web_search' }] })).toThrow(ApiError);
  });
});

describe('tool call ids to Claude', () => {
  it("maps ids Anthropic refuses (another supplier's `functions.f:0`) the same way on the call and on its result", () => {
    const translated = messagesRequestFromChat(
      {
        model: 'm',
        messages: [
          { role: 'user', content: 'Weather?' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'functions.get_weather:0', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] },
          { role: 'tool', tool_call_id: 'functions.get_weather:0', content: 'cold' },
        ],
      },
      { defaultMaxTokens: 100 },
    ) as { messages: { content: { type: string; id?: string; tool_use_id?: string }[] }[] };
    const use = translated.messages[1]!.content.find((b) => b.type === 'tool_use')!;
    const result = translated.messages[2]!.content.find((b) => b.type === 'tool_result')!;
    expect(use.id).toMatch(/^[a-zA-Z0-9_-]+$/);
    expect(result.tool_use_id).toBe(use.id);
  });
});
