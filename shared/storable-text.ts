// Text PostgreSQL can store. Two kinds of JavaScript string cannot be: one holding U+0000
// (`text` has no NUL), and one holding a lone UTF-16 surrogate (not Unicode at all: the driver
// sends it as U+FFFD, and `jsonb` refuses its JSON escape, "\ud800", with 22P02). Either fails its
// statement, so it is refused at the boundary as bad input: a usage event holding one would be
// retried by its edge forever, ahead of every later event.

const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isStorableText(text: string): boolean {
  return !UNSTORABLE.test(text);
}
