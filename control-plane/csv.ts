// CSV as RFC 4180 describes it: CRLF line ends, a header row, and a field quoted (inner quotes
// doubled) when it holds a comma, a quote, CR or LF. Cells are written exactly as given: no
// spreadsheet-formula escaping, which would alter an audit record (see README, audit export).

export type CsvCell = string | number | null;

function field(value: CsvCell): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export function csvLine(cells: readonly CsvCell[]): string {
  return `${cells.map(field).join(',')}\r\n`;
}

export function toCsv(header: readonly string[], rows: readonly (readonly CsvCell[])[]): string {
  return csvLine(header) + rows.map(csvLine).join('');
}
