/**
 * TransformerLens' classic activation names, defined once. Graph node keys (input, a3.h2, m5,
 * logits) are linked to these names in src/graph.
 */

/**
 * The hook points of one block, named by module path inside `blocks.{l}` (TransformerLens'
 * transformer_block.py): the block (src/model/block.ts) fires these, the model prefixes them.
 */
export const blockHook = {
  residPre: 'hook_resid_pre',
  residMid: 'hook_resid_mid',
  residPost: 'hook_resid_post',
  attnOut: 'hook_attn_out',
  mlpIn: 'hook_mlp_in',
  mlpOut: 'hook_mlp_out',
  qInput: 'hook_q_input',
  kInput: 'hook_k_input',
  vInput: 'hook_v_input',
  q: 'attn.hook_q',
  k: 'attn.hook_k',
  v: 'attn.hook_v',
  attnScores: 'attn.hook_attn_scores',
  pattern: 'attn.hook_pattern',
  z: 'attn.hook_z',
  result: 'attn.hook_result',
  mlpPre: 'mlp.hook_pre',
  mlpPost: 'mlp.hook_post',
  ln1Scale: 'ln1.hook_scale',
  ln1Normalized: 'ln1.hook_normalized',
  ln2Scale: 'ln2.hook_scale',
  ln2Normalized: 'ln2.hook_normalized',
} as const;

export type BlockHookName = (typeof blockHook)[keyof typeof blockHook];

/** `blocks.{l}.` — the prefix of layer l's hook points. */
export const blockPrefix = (l: number) => `blocks.${l}.`;
const at = (name: BlockHookName) => (l: number) => `${blockPrefix(l)}${name}`;

export const hook = {
  embed: 'hook_embed',
  posEmbed: 'hook_pos_embed',
  residPre: at(blockHook.residPre),
  residMid: at(blockHook.residMid),
  residPost: at(blockHook.residPost),
  attnOut: at(blockHook.attnOut),
  mlpIn: at(blockHook.mlpIn),
  mlpOut: at(blockHook.mlpOut),
  qInput: at(blockHook.qInput),
  kInput: at(blockHook.kInput),
  vInput: at(blockHook.vInput),
  q: at(blockHook.q),
  k: at(blockHook.k),
  v: at(blockHook.v),
  attnScores: at(blockHook.attnScores),
  pattern: at(blockHook.pattern),
  z: at(blockHook.z),
  result: at(blockHook.result),
  mlpPre: at(blockHook.mlpPre),
  mlpPost: at(blockHook.mlpPost),
  ln1Scale: at(blockHook.ln1Scale),
  ln1Normalized: at(blockHook.ln1Normalized),
  ln2Scale: at(blockHook.ln2Scale),
  ln2Normalized: at(blockHook.ln2Normalized),
  lnFinalScale: 'ln_final.hook_scale',
  lnFinalNormalized: 'ln_final.hook_normalized',
} as const;
