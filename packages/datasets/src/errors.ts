/** A dataset file that is not what it claims to be: names the file, where, and what was expected. */
export class DatasetError extends Error {
  override name = 'DatasetError';
  constructor(
    readonly file: string,
    readonly problem: string,
    readonly offset?: number,
  ) {
    super(`${file}${offset === undefined ? '' : ` (byte ${offset})`}: ${problem}`);
  }
}
