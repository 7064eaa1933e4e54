/**
 * Circuitscope as a library (`import { ... } from 'circuitscope'`): choose a backend, load a
 * model, build a task, discover a circuit, evaluate it, and read or write circuit files. The
 * command line (`circuitscope`, src/cli) is built on these same functions. README "Use as a
 * library" has an example; docs/ explains the graph, the patching semantics and the methods.
 */

// Backend and models
export { initBackend, backendName, BACKENDS, type BackendName } from './model/backend.js';
export { loadModel, type LoadModelOptions, type LoadedModel } from './model/load-model.js';
export { presetConfig, type ModelConfig } from './model/config.js';
export type { HookedTransformer } from './model/transformer.js';
export { tokenizerFor, type Tokenizer } from './model/tokenizer.js';

// Tasks
export { getTask, listTasks, taskNames } from './tasks/registry.js';
export type { Task, TaskBatch } from './tasks/types.js';

// The component graph, circuits and their files
export { buildGraph, ComponentGraph, type BuildGraphOptions } from './graph/graph.js';
export { Circuit, circuitFromNodes } from './graph/circuit.js';
export { parseEdgeKey, normalizeEdgeKey, receiverNode, senderHook, receiverHook } from './graph/names.js';
export { pruneDangling, selectConnected, selectConnectedRanked, selectGreedy, selectThreshold, selectTopN, type ConnectedSelection } from './graph/selection.js';
export {
  circuitFromJson, circuitFromMib, circuitToDot, circuitToJson, circuitToMib, readCircuit, readCircuitJson, toDot, toMib,
  type CircuitEdge, type CircuitFile, type CircuitResults, type MibGraphJson, type ReadCircuit,
} from './graph/serialize.js';

// Discovery
export { discover, type DiscoverOptions, type DiscoverOutput } from './discovery/run.js';

// Evaluation
export { evaluateCircuit, evaluationText, evaluatorFor, metricEvaluator, type Evaluation, type EvaluateOptions } from './eval/evaluate.js';
export { completeness, faithfulness, minimality } from './eval/criteria.js';
export { sweep, defaultThresholds, type SweepOptions, type SweepResult } from './eval/sweep.js';
export { compareCircuits, comparisonText } from './eval/compare.js';
export { compareToReference, pessimisticAuc } from './eval/roc.js';
export { mibArea, MIB_SIZES } from './eval/mib.js';
export { referenceFromTask, taskReference } from './eval/reference.js';
