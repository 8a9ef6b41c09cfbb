/** Whether this runs in Node (not a browser, nor a bundle for one): what decides which backends can start. */
export const isNode = typeof process !== 'undefined' && process.versions?.node != null && typeof window === 'undefined';
