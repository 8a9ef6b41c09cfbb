export { default } from '@convnets/tooling/vitest';
