// RFC 4180 output: a field is quoted exactly when it must be, inner quotes doubled, CRLF lines.

import { describe, expect, it } from 'vitest';
import { csvLine, toCsv } from '../../control-plane/csv.ts';

describe('CSV', () => {
  it('leaves plain fields bare and writes null as an empty field', () => {
    expect(csvLine(['a', 1, null, ''])).toBe('a,1,,\r\n');
  });

  it('quotes fields holding a comma, a quote, CR or LF, and doubles inner quotes', () => {
    expect(csvLine(['a,b', 'say "hi"', 'two\nlines', 'cr\rhere', 'crlf\r\nend'])).toBe(
      '"a,b","say ""hi""","two\nlines","cr\rhere","crlf\r\nend"\r\n',
    );
  });

  it('writes formula-looking text with a leading apostrophe when formula-safe, and numbers as they are', () => {
    expect(csvLine(['=HYPERLINK("x")', '+1', '-cmd', '@sum', '\tx', 'gpt-4o', -5, 3], { formulaSafe: true })).toBe(
      `"'=HYPERLINK(""x"")",'+1,'-cmd,'@sum,'\tx,gpt-4o,-5,3\r\n`,
    );
    // The audit export stays exact.
    expect(csvLine(['=1+1'])).toBe('=1+1\r\n');
  });

  it('starts with the header row and ends every record with CRLF, also when there are no rows', () => {
    expect(toCsv(['x', 'y'], [])).toBe('x,y\r\n');
    expect(toCsv(['x', 'y'], [['1', '2'], ['3', null]])).toBe('x,y\r\n1,2\r\n3,\r\n');
  });
});
