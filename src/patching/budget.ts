/**
 * How much one forward of the edge-masked engine may hold: rows per chunk (`rowsThatFit`, used
 * when no --batch-size is given) and circuits per batched run (`circuitsThatFit`, ACDC's
 * speculation). Estimates from the model's shape; the same numbers come out either way.
 */
/** Bytes one forward of the edge-masked engine may hold for its rows before the batch is chunked. */
export const CHUNK_BUDGET_BYTES = 1.5 * 2 ** 30;

/**
 * Rows of `seqLen` tokens that one forward holds within CHUNK_BUDGET_BYTES: per row, the
 * float32 receiver inputs of a layer pass (every head's q/k/v input and the MLP's, at d_model)
 * for all layers, and the clean, corrupted and patched logits. `undefined` when all `rows` fit,
 * so a batch of a toy model is never chunked and GPT-2's 100 IOI prompts are (same numbers).
 */
export function rowsThatFit(cfg: ShapeForBudget, seqLen: number, rows: number): number | undefined {
  const fit = Math.max(1, Math.floor(CHUNK_BUDGET_BYTES / rowBytes(cfg, seqLen)));
  return fit >= rows ? undefined : fit;
}

type ShapeForBudget = { nLayers: number; nHeads: number; dModel: number; dVocab: number };

/** One row's bytes in a forward (see rowsThatFit). */
function rowBytes(cfg: ShapeForBudget, seqLen: number): number {
  return 4 * seqLen * (cfg.nLayers * (3 * cfg.nHeads + 1) * cfg.dModel + 3 * cfg.dVocab);
}

/**
 * Circuits one batched forward over `rows` rows evaluates within CHUNK_BUDGET_BYTES (each
 * circuit is another copy of the rows; at least 1): the most a caller should pass to one `run`
 * (ACDC's speculation grows to 64 on a toy model, and is held to 8 on GPT-2 small at 5 rows).
 */
export function circuitsThatFit(cfg: ShapeForBudget, seqLen: number, rows: number): number {
  return Math.max(1, Math.floor(CHUNK_BUDGET_BYTES / (rowBytes(cfg, seqLen) * Math.max(1, rows))));
}

