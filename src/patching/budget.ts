/**
 * How much one chunk of the edge-masked engine may hold: rows per chunk (`rowsThatFit`, used
 * when no --batch-size is given: a forward and the backward the engine will run) and circuits per batched
 * run (`circuitsThatFit`, ACDC's speculation). Estimates from the model's shape; the same numbers
 * come out either way.
 */
/** Bytes one chunk of the edge-masked engine may hold for its rows (a forward and its backward) before the batch is chunked. */
export const CHUNK_BUDGET_BYTES = 1.5 * 2 ** 30;

/**
 * The backward an engine runs besides its forwards: none (ACDC, evaluation), attribution
 * (EAP, EAP-IG: the gradient of the metric at each sender and receiver of a plain forward) or
 * the mask gradient (edge-pruning, mattr: through the edge-masked forward).
 */
export type Backward = 'none' | 'attribution' | 'mask';

/**
 * What a row's backward holds beyond its forward, in receiver inputs (see receiverBytes): its
 * tape and the gradients alive at once. Measured on wasm, the GPT-2-small shape with 17- and
 * 18-token IOI prompts (heap growth of one backward, 1 to 8 rows, and the live buffers' peak):
 * attribution 130 to 185 MB a row, the mask gradient 376 to 440 MB a row (../model/backprop.ts
 * freeing as it goes; tfjs's stock backward held 1.2 GB), against 23 to 24.5 MB of receiver
 * inputs. Rounded up; small models add their logits' share (rowBytes).
 */
const BACKWARD_FACTOR: Record<Backward, number> = { none: 0, attribution: 8, mask: 19 };

/**
 * Rows of `seqLen` tokens that one chunk holds within CHUNK_BUDGET_BYTES, for a forward (per
 * row, the float32 receiver inputs of a layer pass, every head's q/k/v input and the MLP's at
 * d_model, for all layers, and the clean, corrupted and patched logits) and the backward the
 * engine runs. `undefined` when all `rows` fit, so a batch of a toy model is never chunked and
 * GPT-2's 100 IOI prompts are (same numbers): 45 rows a chunk for ACDC, 6 for EAP, 3 for
 * edge-pruning on 18 tokens.
 */
export function rowsThatFit(cfg: ShapeForBudget, seqLen: number, rows: number, backward: Backward = 'none'): number | undefined {
  const fit = Math.max(1, Math.floor(CHUNK_BUDGET_BYTES / backwardRowBytes(cfg, seqLen, backward)));
  return fit >= rows ? undefined : fit;
}

type ShapeForBudget = { nLayers: number; nHeads: number; dModel: number; dVocab: number };

/** What one row of `seqLen` tokens is budgeted: its forward (rowBytes) and `backward`'s share. */
export function backwardRowBytes(cfg: ShapeForBudget, seqLen: number, backward: Backward): number {
  return rowBytes(cfg, seqLen) + BACKWARD_FACTOR[backward] * receiverBytes(cfg, seqLen);
}

/** One row's receiver inputs over all layers: every head's q/k/v input and the MLP's, float32. */
function receiverBytes(cfg: ShapeForBudget, seqLen: number): number {
  return 4 * seqLen * cfg.nLayers * (3 * cfg.nHeads + 1) * cfg.dModel;
}

/** One row's bytes in a forward (see rowsThatFit): its receiver inputs and three sets of logits. */
function rowBytes(cfg: ShapeForBudget, seqLen: number): number {
  return receiverBytes(cfg, seqLen) + 4 * seqLen * 3 * cfg.dVocab;
}

/**
 * Circuits one batched forward over `rows` rows evaluates within CHUNK_BUDGET_BYTES (each
 * circuit is another copy of the rows; at least 1): the most a caller should pass to one `run`
 * (ACDC's speculation grows to 64 on a toy model, and is held to 8 on GPT-2 small at 5 rows).
 */
export function circuitsThatFit(cfg: ShapeForBudget, seqLen: number, rows: number): number {
  return Math.max(1, Math.floor(CHUNK_BUDGET_BYTES / (rowBytes(cfg, seqLen) * Math.max(1, rows))));
}

