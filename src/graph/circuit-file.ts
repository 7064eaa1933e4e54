/**
 * The circuit file `discover` writes and its conversions, as the pipeline imports them. The
 * formats are written once, in serialize.ts (one reader and one writer per format); this
 * module only names that part of it.
 */
export {
  circuitEdgeKeys, circuitNodes, readCircuitJson, toDot, toMib,
  type CircuitEdge, type CircuitFile, type CircuitResults, type DecodedCircuit, type MibGraphJson,
} from './serialize.js';
export { nodeOrder } from './names.js';
