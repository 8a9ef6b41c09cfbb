import shared from '@convnets/tooling/vitest';
import { mergeConfig } from 'vitest/config';

// Two files at a time: the parity test (minutes of software-GPU work) would otherwise end CI's test step alone.
export default mergeConfig(shared, { test: { maxWorkers: 2 } });
