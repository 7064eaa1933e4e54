/**
 * TransformerLens' classic activation names, defined once. Graph node keys (input, a3.h2, m5,
 * logits) are linked to these names in src/graph.
 */
const b = (l: number) => `blocks.${l}`;

export const hook = {
  embed: 'hook_embed',
  posEmbed: 'hook_pos_embed',
  residPre: (l: number) => `${b(l)}.hook_resid_pre`,
  residMid: (l: number) => `${b(l)}.hook_resid_mid`,
  residPost: (l: number) => `${b(l)}.hook_resid_post`,
  attnOut: (l: number) => `${b(l)}.hook_attn_out`,
  mlpIn: (l: number) => `${b(l)}.hook_mlp_in`,
  mlpOut: (l: number) => `${b(l)}.hook_mlp_out`,
  qInput: (l: number) => `${b(l)}.hook_q_input`,
  kInput: (l: number) => `${b(l)}.hook_k_input`,
  vInput: (l: number) => `${b(l)}.hook_v_input`,
  q: (l: number) => `${b(l)}.attn.hook_q`,
  k: (l: number) => `${b(l)}.attn.hook_k`,
  v: (l: number) => `${b(l)}.attn.hook_v`,
  attnScores: (l: number) => `${b(l)}.attn.hook_attn_scores`,
  pattern: (l: number) => `${b(l)}.attn.hook_pattern`,
  z: (l: number) => `${b(l)}.attn.hook_z`,
  result: (l: number) => `${b(l)}.attn.hook_result`,
  mlpPre: (l: number) => `${b(l)}.mlp.hook_pre`,
  mlpPost: (l: number) => `${b(l)}.mlp.hook_post`,
  ln1Scale: (l: number) => `${b(l)}.ln1.hook_scale`,
  ln1Normalized: (l: number) => `${b(l)}.ln1.hook_normalized`,
  ln2Scale: (l: number) => `${b(l)}.ln2.hook_scale`,
  ln2Normalized: (l: number) => `${b(l)}.ln2.hook_normalized`,
  lnFinalScale: 'ln_final.hook_scale',
  lnFinalNormalized: 'ln_final.hook_normalized',
} as const;

