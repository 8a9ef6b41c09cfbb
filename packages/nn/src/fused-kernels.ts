/**
 * The names of the fused training kernels a backend may register (`@convnets/backend` does, on wasm and native), and
 * what each takes: the one contract between the layers and optimizers that look them up and the backends that
 * provide them. Where the running backend lacks one, its caller runs the same arithmetic as plain tfjs ops.
 */

/** Train-mode batch norm: inputs x, gamma, beta; attribute eps; outputs [y, batch mean, biased batch variance]. */
export const FUSED_BATCH_NORM = 'ConvnetsBatchNormTrain';

/**
 * One SGD-with-momentum step of one parameter: inputs param, grad, buffer; attributes lr, momentum, weightDecay,
 * nesterov; outputs [param', buffer'].
 */
export const FUSED_SGD = 'ConvnetsSgdUpdate';

/**
 * One Adam (or AdamW) step of one parameter: inputs param, grad, m, v; attributes lr, beta1, oneMinusBeta1, beta2,
 * oneMinusBeta2, c1, c2, eps, weightDecay, keep, l2, decoupled; outputs [param', m', v'].
 */
export const FUSED_ADAM = 'ConvnetsAdamUpdate';

/** Every fused kernel name above. */
export const FUSED_KERNELS: readonly string[] = [FUSED_BATCH_NORM, FUSED_SGD, FUSED_ADAM];
