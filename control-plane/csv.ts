// CSV as RFC 4180 describes it: CRLF line ends, a header row, and a field quoted (inner quotes
// doubled) when it holds a comma, a quote, CR or LF. Cells are written exactly as given unless
// `formulaSafe`: the audit export stays exact (escaping would alter an audit record; see README),
// the usage export is formula-safe, because a tenant chooses the model names in it (any name is
// recorded, asked-for ones included) and platform staff export every org at once.

export type CsvCell = string | number | null;

export interface CsvOptions {
  /**
   * Text starting with = + - @ or a tab or CR (what a spreadsheet takes for a formula) gets a
   * leading apostrophe, as OWASP advises; numbers are numbers and stay as they are.
   */
  formulaSafe?: boolean;
}

const FORMULA_START = /^[=+\-@\t\r]/;

function field(value: CsvCell, options: CsvOptions): string {
  if (value === null) return '';
  let text = String(value);
  if (options.formulaSafe && typeof value === 'string' && FORMULA_START.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(cells: readonly CsvCell[], options: CsvOptions = {}): string {
  return `${cells.map((cell) => field(cell, options)).join(',')}\r\n`;
}

export function toCsv(header: readonly string[], rows: readonly (readonly CsvCell[])[], options: CsvOptions = {}): string {
  return csvLine(header, options) + rows.map((row) => csvLine(row, options)).join('');
}
