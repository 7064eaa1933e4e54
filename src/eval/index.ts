/** Circuit evaluation: faithfulness, completeness, minimality, ROC/AUC, MIB CPR/CMD, sweeps. */
export * from './evaluator.js';
export * from './criteria.js';
export * from './roc.js';
export * from './mib.js';
export * from './reference.js';
export * from './evaluate.js';
export * from './sweep.js';
export * from './compare.js';
export * from './plot.js';
export * from './html.js';
export * from './report.js';
