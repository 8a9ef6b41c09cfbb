import { InvalidArgumentError } from 'commander';

/** Where commands write, so tests can run the CLI in-process and read what it printed. */
export interface Io {
  out: (text: string) => void;
  err: (text: string) => void;
  /** `--verbose`: also say what was probed and skipped on the way (set by the program before a command runs). */
  verbose?: boolean;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

/** Parses a positive integer option value; commander names the option in its error. */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError('Expected a positive integer.');
  }
  return n;
}

/** Parses a positive number option value (learning rates). */
export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('Expected a positive number.');
  return n;
}

/** Parses a non-negative integer option value (seeds). */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n))
    throw new InvalidArgumentError('Expected a non-negative integer.');
  return n;
}

/** A fraction as a percentage; '-' where it is undefined (a class with no images in the evaluated set). */
export function percent(fraction: number, digits: number): string {
  return Number.isFinite(fraction) ? `${(fraction * 100).toFixed(digits)}%` : '-';
}
