import shared from '@convnets/tooling/vitest';
import { mergeConfig } from 'vitest/config';

// The CLI's test files are long and independent (trainings, torchrun, a software GPU): two at once keep both of CI's
// cores busy after the other packages' tests have finished.
export default mergeConfig(shared, { test: { maxWorkers: 2 } });
